//! Small dense linear algebra on the host (f64): the symmetric eigen-decomposition
//! (Householder tridiagonalisation and the implicit QL algorithm, after the public-domain JAMA
//! `tred2`/`tql2`), means and covariances, and `Tr sqrt(C1 C2)` for the Fréchet distance.

use crate::error::CoreError;

/// Eigen-decomposition of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct SymEigen {
    /// Matrix size.
    pub n: usize,
    /// Eigenvalues in increasing order.
    pub values: Vec<f64>,
    /// Eigenvectors as rows (`vectors[i * n..(i + 1) * n]` belongs to `values[i]`), orthonormal.
    pub vectors: Vec<f64>,
}

/// Eigen-decomposition of the symmetric `n x n` row-major matrix `a` (only symmetric input
/// gives meaningful results; the lower triangle is used).
///
/// Fails with [`CoreError::Invalid`] for a wrong size or non-finite entries and with
/// [`CoreError::Data`] if the QL iteration does not converge.
pub fn sym_eigen(a: &[f64], n: usize) -> Result<SymEigen, CoreError> {
    if a.len() != n * n {
        return Err(CoreError::Invalid(format!("eigen: {} values for a {n}x{n} matrix", a.len())));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(CoreError::Invalid("eigen: non-finite matrix entry".into()));
    }
    if n == 0 {
        return Ok(SymEigen { n, values: Vec::new(), vectors: Vec::new() });
    }
    // Symmetrise from the lower triangle.
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            v[i * n + j] = a[i * n + j];
            v[j * n + i] = a[i * n + j];
        }
    }
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    tred2(n, &mut v, &mut d, &mut e);
    // tql2 rotates columns of V; work on the transpose so that rotations touch rows.
    let mut vt = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            vt[j * n + i] = v[i * n + j];
        }
    }
    tql2(n, &mut vt, &mut d, &mut e)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
    let values = order.iter().map(|&i| d[i]).collect();
    let mut vectors = Vec::with_capacity(n * n);
    for &i in &order {
        vectors.extend_from_slice(&vt[i * n..(i + 1) * n]);
    }
    Ok(SymEigen { n, values, vectors })
}

/// Householder reduction to tridiagonal form (JAMA `tred2`); `v` is row-major `n x n`.
fn tred2(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let ix = |i: usize, j: usize| i * n + j;
    for j in 0..n {
        d[j] = v[ix(n - 1, j)];
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for dk in &d[..i] {
            scale += dk.abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[ix(i - 1, j)];
                v[ix(i, j)] = 0.0;
                v[ix(j, i)] = 0.0;
            }
        } else {
            for dk in d[..i].iter_mut() {
                *dk /= scale;
                h += *dk * *dk;
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for ej in e.iter_mut().take(i) {
                *ej = 0.0;
            }
            for j in 0..i {
                f = d[j];
                v[ix(j, i)] = f;
                g = e[j] + v[ix(j, j)] * f;
                for k in j + 1..i {
                    g += v[ix(k, j)] * d[k];
                    e[k] += v[ix(k, j)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                f = d[j];
                g = e[j];
                for k in j..i {
                    v[ix(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[ix(i - 1, j)];
                v[ix(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[ix(n - 1, i)] = v[ix(i, i)];
        v[ix(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[ix(k, i + 1)] / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += v[ix(k, i + 1)] * v[ix(k, j)];
                }
                for k in 0..=i {
                    v[ix(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[ix(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[ix(n - 1, j)];
        v[ix(n - 1, j)] = 0.0;
    }
    v[ix(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL on the tridiagonal matrix (JAMA `tql2`); `vt` holds the eigenvectors as rows.
fn tql2(n: usize, vt: &mut [f64], d: &mut [f64], e: &mut [f64]) -> Result<(), CoreError> {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1 = 0.0f64;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            let mut iter = 0;
            loop {
                iter += 1;
                if iter > 100 {
                    return Err(CoreError::Data("eigen-decomposition did not converge".into()));
                }
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().take(n).skip(l + 2) {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = vt.split_at_mut((i + 1) * n);
                    let row_i = &mut lo[i * n..];
                    let row_i1 = &mut hi[..n];
                    for k in 0..n {
                        let hk = row_i1[k];
                        row_i1[k] = s * row_i[k] + c * hk;
                        row_i[k] = c * row_i[k] - s * hk;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}

/// Column means of a row-major `rows x d` matrix.
pub fn column_means(x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len() / d.max(1);
    let mut m = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for (mi, v) in m.iter_mut().zip(row) {
            *mi += v;
        }
    }
    m.iter_mut().for_each(|v| *v /= n.max(1) as f64);
    m
}

/// `C^(1/2)` of a symmetric positive semi-definite matrix (negative eigenvalues clipped to 0).
pub fn sqrt_psd(c: &[f64], n: usize) -> Result<Vec<f64>, CoreError> {
    let eig = sym_eigen(c, n)?;
    let mut s = vec![0.0; n * n];
    for (k, &lam) in eig.values.iter().enumerate() {
        let w = lam.max(0.0).sqrt();
        if w == 0.0 {
            continue;
        }
        let v = &eig.vectors[k * n..(k + 1) * n];
        for i in 0..n {
            let vi = w * v[i];
            let row = &mut s[i * n..(i + 1) * n];
            for (sj, vj) in row.iter_mut().zip(v) {
                *sj += vi * vj;
            }
        }
    }
    Ok(s)
}

/// Row-major product of two `n x n` matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        let ci = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (cij, bkj) in ci.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
    c
}

/// `Tr (C1 C2)^(1/2)` for symmetric positive semi-definite `C1`, `C2`, computed as
/// `Tr (S C2 S)^(1/2)` with `S = C1^(1/2)` (the same eigenvalues, but a symmetric matrix).
pub fn trace_sqrt_product(c1: &[f64], c2: &[f64], n: usize) -> Result<f64, CoreError> {
    let s = sqrt_psd(c1, n)?;
    let m = matmul(&matmul(&s, c2, n), &s, n);
    let eig = sym_eigen(&m, n)?;
    Ok(eig.values.iter().map(|v| v.max(0.0).sqrt()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Stream};

    fn random_sym(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Stream::new(seed, 0, Purpose::Evaluate);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = rng.normal();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        a
    }

    #[test]
    fn eigen_reconstructs_and_is_orthonormal() {
        for (n, seed) in [(1, 1), (2, 2), (7, 3), (40, 4)] {
            let a = random_sym(n, seed);
            let eig = sym_eigen(&a, n).unwrap();
            assert!(eig.values.windows(2).all(|w| w[0] <= w[1]));
            for k in 0..n {
                let v = &eig.vectors[k * n..(k + 1) * n];
                for i in 0..n {
                    let av: f64 = (0..n).map(|j| a[i * n + j] * v[j]).sum();
                    assert!((av - eig.values[k] * v[i]).abs() < 1e-10, "n {n}: A v != lambda v");
                }
                for l in 0..n {
                    let dot: f64 = (0..n).map(|j| v[j] * eig.vectors[l * n + j]).sum();
                    assert!((dot - if k == l { 1.0 } else { 0.0 }).abs() < 1e-10);
                }
            }
        }
        // Known case: [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let eig = sym_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
        assert!((eig.values[0] - 1.0).abs() < 1e-14 && (eig.values[1] - 3.0).abs() < 1e-14);
        // A diagonal matrix and a zero matrix.
        let eig = sym_eigen(&[3.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0], 3).unwrap();
        assert_eq!(eig.values, vec![1.0, 2.0, 3.0]);
        assert_eq!(sym_eigen(&[0.0; 4], 2).unwrap().values, vec![0.0, 0.0]);
        assert!(sym_eigen(&[1.0; 3], 2).is_err());
    }

    #[test]
    fn sqrt_and_trace() {
        // C1 = diag(4, 9), C2 = diag(1, 4): Tr sqrt(C1 C2) = 2 + 6 = 8.
        let t = trace_sqrt_product(&[4.0, 0.0, 0.0, 9.0], &[1.0, 0.0, 0.0, 4.0], 2).unwrap();
        assert!((t - 8.0).abs() < 1e-12);
        // Tr sqrt(C C) = Tr C for PSD C.
        let n = 12;
        let b = random_sym(n, 9);
        let c = matmul(&b, &b, n);
        let t = trace_sqrt_product(&c, &c, n).unwrap();
        let tr: f64 = (0..n).map(|i| c[i * n + i]).sum();
        assert!((t - tr).abs() < 1e-8 * tr, "{t} vs {tr}");
        let s = sqrt_psd(&c, n).unwrap();
        let ss = matmul(&s, &s, n);
        assert!(ss.iter().zip(&c).all(|(a, b)| (a - b).abs() < 1e-9 * tr));
    }
}
