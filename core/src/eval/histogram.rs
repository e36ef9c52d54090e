//! Histograms with numpy semantics and the CaloChallenge separation power.

/// `n_edges` evenly spaced edges from `lo` to `hi` (numpy `linspace(lo, hi, n_edges)`); the
/// last edge is exactly `hi`.
///
/// Returns `[lo]` for `n_edges == 1` and nothing for `n_edges == 0`.
pub fn linear_edges(lo: f64, hi: f64, n_edges: usize) -> Vec<f64> {
    match n_edges {
        0 => Vec::new(),
        1 => vec![lo],
        n => {
            let step = (hi - lo) / (n - 1) as f64;
            let mut e: Vec<f64> = (0..n).map(|i| lo + step * i as f64).collect();
            e[n - 1] = hi;
            e
        }
    }
}

/// `n_edges` logarithmically spaced edges from `lo` to `hi` (numpy
/// `logspace(log10 lo, log10 hi, n_edges)`), with the end points pinned to exactly `lo` and
/// `hi` so that a value equal to `hi` (the reference maximum) falls in the last bin.
///
/// `lo` and `hi` must be positive; otherwise the edges are NaN.
pub fn log_edges(lo: f64, hi: f64, n_edges: usize) -> Vec<f64> {
    let mut e: Vec<f64> = linear_edges(lo.log10(), hi.log10(), n_edges).into_iter().map(|x| 10f64.powf(x)).collect();
    if let Some(first) = e.first_mut() {
        *first = lo;
    }
    if n_edges > 1 {
        e[n_edges - 1] = hi;
    }
    e
}

/// Index of the bin of `edges` holding `v`: bins are `[e_i, e_{i+1})` except the last, which
/// is closed. `None` outside the range or for NaN.
pub fn bin_index(v: f64, edges: &[f64]) -> Option<usize> {
    let n = edges.len();
    if n < 2 || v.is_nan() || v < edges[0] || v > edges[n - 1] {
        return None;
    }
    // First edge strictly above v, minus one; v == last edge goes to the last bin.
    let i = edges.partition_point(|e| *e <= v);
    Some((i.max(1) - 1).min(n - 2))
}

/// Counts of `values` in the bins of `edges` (numpy `histogram` counts: values outside the
/// range and NaN are ignored, the last bin is closed).
pub fn counts(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; edges.len().saturating_sub(1)];
    for &v in values {
        if let Some(i) = bin_index(v, edges) {
            c[i] += 1.0;
        }
    }
    c
}

/// Turns bin counts into a density (numpy `density=True`): `count / (total * width)`, so that
/// `sum(density * width) == 1`. All zeros when no value fell inside the range (numpy gives NaN).
pub fn density_from_counts(counts: &[f64], edges: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().zip(edges.windows(2)).map(|(c, w)| c / (total * (w[1] - w[0]))).collect()
}

/// Histogram density of `values` over `edges` with numpy `histogram(..., density=True)`
/// semantics: values outside `[edges[0], edges[last]]` are ignored, the last bin is closed.
pub fn density(values: &[f64], edges: &[f64]) -> Vec<f64> {
    density_from_counts(&counts(values, edges), edges)
}

/// The CaloChallenge separation power (eq. 15 of arXiv:2009.03796) of two densities over the
/// same `edges`: `S = 1/2 sum_i (p_i - q_i)^2 / (p_i + q_i + 1e-16)` with `p_i = p_density_i *
/// width_i` (and the same for `q`). 0 for identical histograms, 1 for disjoint ones.
pub fn separation_power(p_density: &[f64], q_density: &[f64], edges: &[f64]) -> f64 {
    let mut s = 0.0;
    for ((p, q), w) in p_density.iter().zip(q_density).zip(edges.windows(2)) {
        let width = w[1] - w[0];
        let (p, q) = (p * width, q * width);
        s += (p - q) * (p - q) / (p + q + 1e-16);
    }
    0.5 * s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_power_exact_cases() {
        let edges = [0.0, 2.0, 4.0];
        assert_eq!(separation_power(&[0.5, 0.0], &[0.0, 0.5], &edges), 1.0);
        assert_eq!(separation_power(&[0.1, 0.4], &[0.1, 0.4], &edges), 0.0);
    }

    #[test]
    fn density_numpy_semantics() {
        let edges = [0.0, 1.0, 2.0, 4.0];
        // 4.0 is in the closed last bin; -1, 5 and NaN are ignored; 1.0 goes to bin 1.
        let d = density(&[0.5, 1.0, 4.0, 3.0, -1.0, 5.0, f64::NAN], &edges);
        assert_eq!(d, vec![0.25, 0.25, 0.25]);
        let total: f64 = d.iter().zip(edges.windows(2)).map(|(d, w)| d * (w[1] - w[0])).sum();
        assert!((total - 1.0).abs() < 1e-15);
        assert_eq!(density(&[9.0], &edges), vec![0.0; 3]);
    }

    #[test]
    fn edges() {
        assert_eq!(linear_edges(0.5, 1.5, 3), vec![0.5, 1.0, 1.5]);
        let e = linear_edges(0.5, 1.5, 101);
        assert_eq!((e.len(), e[0], e[100]), (101, 0.5, 1.5));
        let l = log_edges(1.0, 1000.0, 4);
        assert_eq!(l[0], 1.0);
        assert_eq!(l[3], 1000.0);
        assert!((l[1] - 10.0).abs() < 1e-12 && (l[2] - 100.0).abs() < 1e-10);
        assert_eq!(bin_index(1000.0, &l), Some(2));
        assert_eq!(bin_index(0.5, &l), None);
    }
}
