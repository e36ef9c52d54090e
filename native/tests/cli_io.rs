//! End-to-end tests of `tdsm simulate` and `tdsm inspect`: the files written, files written by
//! h5py (default and `libver="latest"`), streaming, and every bad-input case (one test each):
//! non-zero exit, exactly one stderr line `error: ...` naming the problem, no output left behind.
//!
//! Fixtures: `tests/fixtures/` (regenerate with `python3 native/tests/fixtures/make_fixtures.py`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hdf5::filters::Filter;
use serde_json::Value;

/// Result of one `tdsm` run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn tdsm(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tdsm"));
    c.args(args).env_remove("TDSM_CHUNK_ROWS").env_remove("TDSM_PROGRESS");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run tdsm");
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Asserts a failed run: non-zero exit, no panic, exactly one stderr line, starting with
/// `error:` and containing every `needle`.
fn assert_one_line_error(r: &Run, needles: &[&str]) {
    assert!(matches!(r.code, Some(c) if c != 0), "expected failure, got {:?}; stderr: {}", r.code, r.stderr);
    assert_ne!(r.code, Some(101), "tdsm panicked: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one stderr line, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("error: "), "stderr does not start with 'error: ': {}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "error line does not mention {n:?}: {}", lines[0]);
    }
}

/// Names of the entries in `dir` (including hidden temporary files).
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn inspect_json(path: &Path, env: &[(&str, &str)]) -> Value {
    let r = tdsm(&["inspect", "--json", s(path)], env);
    assert_eq!(r.code, Some(0), "inspect failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("inspect --json prints JSON")
}

/// Reads a CaloChallenge file with the hdf5 crate: (energies, showers row-major as f64, n_voxels).
fn read_h5(path: &Path) -> (Vec<f64>, Vec<f64>, usize) {
    let f = hdf5::File::open(path).expect("open");
    let e = f.dataset("incident_energies").expect("energies");
    let v = f.dataset("showers").expect("showers");
    let nv = v.shape()[1];
    (e.read_raw::<f64>().expect("read energies"), v.read_raw::<f64>().expect("read showers"), nv)
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

/// Simulates, then checks the file's layout with the hdf5 crate and its summary with inspect.
fn simulate_and_check(geometry: &str, events: usize, n_voxels: usize) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let r = tdsm(&["simulate", "--geometry", geometry, "--events", &events.to_string(), "--seed", "1", "--out", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "simulate failed: {}", r.stderr);
    assert!(r.stderr.contains("NOT Geant4"), "simulate must say it is not Geant4: {}", r.stderr);
    assert!(r.stderr.contains("showers/s"), "simulate reports its speed: {}", r.stderr);
    assert_eq!(entries(dir.path()), BTreeSet::from(["x.h5".to_string()]), "temporary file left behind");

    let f = hdf5::File::open(&out).unwrap();
    let mut names = f.member_names().unwrap();
    names.sort();
    assert_eq!(names, ["incident_energies", "showers"]);
    assert!(f.attr_names().unwrap().is_empty(), "no attributes expected");
    let e = f.dataset("incident_energies").unwrap();
    let v = f.dataset("showers").unwrap();
    assert_eq!(e.shape(), [events, 1]);
    assert_eq!(v.shape(), [events, n_voxels]);
    assert_eq!(e.dtype().unwrap().to_descriptor().unwrap().to_string(), "float64");
    assert_eq!(v.dtype().unwrap().to_descriptor().unwrap().to_string(), "float32");
    for ds in [&e, &v] {
        assert!(ds.is_chunked());
        assert!(ds.filters().iter().any(|x| matches!(x, Filter::Deflate(_))), "no gzip: {:?}", ds.filters());
    }
    let energies = e.read_raw::<f64>().unwrap();
    let showers = v.read_raw::<f32>().unwrap();
    drop((e, v, f));

    let j = inspect_json(&out, &[]);
    assert_eq!(j["geometry"], geometry);
    assert_eq!(j["n"], events);
    assert_eq!(j["n_voxels"], n_voxels);
    assert_eq!(j["bad_values"], 0);
    let hits = showers.iter().filter(|&&x| x > 0.0).count() as f64 / events as f64;
    assert!(rel_close(j["mean_hits"].as_f64().unwrap(), hits, 1e-12));
    let emin = energies.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(j["e_inc_min"].as_f64().unwrap(), emin);
    assert!(showers.iter().all(|x| x.is_finite() && *x >= 0.0));
    let r = tdsm(&["inspect", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains(&format!("geometry        {geometry}")) && r.stdout.contains("valid           yes"), "{}", r.stdout);
}

#[test]
fn simulate_then_inspect_ds2() {
    simulate_and_check("ds2", 1000, 6480);
}

#[test]
fn simulate_then_inspect_ds1_photons() {
    simulate_and_check("ds1-photons", 300, 368);
}

#[test]
fn simulate_is_deterministic_per_seed_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let sim = |out: &Path, events: &str, first: &str, threads: &str| {
        let r = tdsm(
            &["simulate", "--geometry", "ds1-photons", "--events", events, "--first", first, "--seed", "5", "--threads", threads, "--out", s(out)],
            &[],
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        read_h5(out)
    };
    let (e1, v1, nv) = sim(&p("a.h5"), "40", "0", "1");
    let (e2, v2, _) = sim(&p("b.h5"), "40", "0", "2");
    assert_eq!((&e1, &v1), (&e2, &v2), "thread count changed the showers");
    let (e3, v3, _) = sim(&p("c.h5"), "15", "25", "2");
    assert_eq!(&e1[25..], &e3[..]);
    assert_eq!(&v1[25 * nv..], &v3[..], "shower k must depend only on (seed, k)");
}

#[test]
fn h5py_fixtures_read_with_values_of_sidecar() {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let files = ["ds1_photons_h5py_default.h5", "ds1_photons_h5py_latest.h5", "ds2_f64_chunked.h5"];
    for name in files {
        let want = &expected[name];
        let got = inspect_json(&fixture(name), &[]);
        for key in ["geometry", "n", "n_voxels"] {
            assert_eq!(got[key], want[key], "{name}: {key}");
        }
        for key in ["e_inc_min", "e_inc_max", "mean_hits", "sparsity", "mean_edep_over_einc"] {
            let (g, w) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            assert!(rel_close(g, w, 1e-12), "{name}: {key} = {g}, sidecar (numpy) {w}");
        }
        let (e, v, _) = read_h5(&fixture(name));
        assert!(rel_close(e.iter().sum(), want["energies_sum"].as_f64().unwrap(), 1e-12), "{name}: energies");
        assert!(rel_close(v.iter().sum(), want["showers_sum"].as_f64().unwrap(), 1e-9), "{name}: showers");
    }
    // The two h5py layouts hold the same numbers.
    assert_eq!(read_h5(&fixture(files[0])), read_h5(&fixture(files[1])));
}

#[test]
fn h5py_reads_our_files_unchanged() {
    let ok = Command::new("python3").args(["-c", "import h5py, numpy"]).output().map(|o| o.status.success());
    if !matches!(ok, Ok(true)) {
        eprintln!("SKIPPED: python3 with h5py and numpy is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let r = tdsm(&["simulate", "--geometry", "ds2", "--events", "50", "--seed", "2", "--out", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let script = "import sys, h5py, numpy as np\n\
                  f = h5py.File(sys.argv[1], 'r')\n\
                  e, v = f['incident_energies'], f['showers']\n\
                  print(sorted(f.keys()), e.shape, v.shape, e.dtype, v.dtype, v.compression)\n\
                  print(repr(float(e[:].sum())), repr(float(v[:].astype(np.float64).sum())))\n";
    let o = Command::new("python3").args(["-c", script, s(&out)]).output().unwrap();
    assert!(o.status.success(), "h5py failed: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "['incident_energies', 'showers'] (50, 1) (50, 6480) float64 float32 gzip");
    let sums: Vec<f64> = lines.next().unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
    let (e, v, _) = read_h5(&out);
    assert!(rel_close(sums[0], e.iter().sum(), 1e-12) && rel_close(sums[1], v.iter().sum(), 1e-9), "{sums:?}");
}

#[test]
fn streaming_in_chunks_of_7_rows_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let r = tdsm(&["simulate", "--geometry", "ds1-photons", "--events", "100", "--seed", "4", "--out", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    for file in [out.clone(), fixture("ds2_f64_chunked.h5"), fixture("ds1_photons_h5py_latest.h5")] {
        let whole = tdsm(&["inspect", "--json", s(&file)], &[]);
        assert_eq!(whole.code, Some(0), "{}", whole.stderr);
        for rows in ["7", "1"] {
            let chunked = tdsm(&["inspect", "--json", s(&file)], &[("TDSM_CHUNK_ROWS", rows)]);
            assert_eq!(chunked.code, Some(0));
            assert_eq!(chunked.stdout, whole.stdout, "{}: chunks of {rows} rows differ from one read", file.display());
        }
    }
    // The position of the first bad value is global, not relative to the chunk (shower 9 is in
    // the second chunk of 7 rows).
    let bad = fixture("bad_voxel_values.h5");
    let a = tdsm(&["inspect", s(&bad)], &[]);
    let b = tdsm(&["inspect", s(&bad)], &[("TDSM_CHUNK_ROWS", "7")]);
    assert_one_line_error(&b, &["first at shower 9, voxel 17"]);
    assert_eq!(a.stderr, b.stderr);
}

// ---------------------------------------------------------------------------------------------
// Bad input to `inspect`: one test per case.

fn inspect_fails(name: &str, needles: &[&str]) {
    let r = tdsm(&["inspect", s(&fixture(name))], &[]);
    assert_one_line_error(&r, needles);
}

#[test]
fn inspect_missing_file() {
    let r = tdsm(&["inspect", "/nonexistent/dir/file.h5"], &[]);
    assert_one_line_error(&r, &["no such file"]);
}

#[test]
fn inspect_not_hdf5() {
    inspect_fails("bad_not_hdf5.h5", &["bad_not_hdf5.h5", "not a readable HDF5 file"]);
}

#[test]
fn inspect_truncated_file() {
    inspect_fails("bad_truncated.h5", &["bad_truncated.h5", "not a readable HDF5 file", "truncated"]);
}

#[test]
fn inspect_corrupt_data() {
    // Overwrite 64 bytes in the compressed data of a valid file: inflate fails on read.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("corrupt.h5");
    let mut bytes = std::fs::read(fixture("ds1_photons_h5py_default.h5")).unwrap();
    let at = bytes.len() * 6 / 10;
    bytes[at..at + 64].fill(0xa5);
    std::fs::write(&p, bytes).unwrap();
    let r = tdsm(&["inspect", s(&p)], &[]);
    assert_one_line_error(&r, &["corrupt.h5", "cannot read 'showers'", "corrupt"]);
}

#[test]
fn inspect_wrong_dataset_names() {
    inspect_fails("bad_names.h5", &["no dataset 'incident_energies'", "found: energy, shower"]);
}

#[test]
fn inspect_one_dimensional_energies() {
    inspect_fails("bad_energies_1d.h5", &["'incident_energies' has shape [12]", "expected (N, 1)"]);
}

#[test]
fn inspect_mismatched_n() {
    inspect_fails("bad_mismatched_n.h5", &["'incident_energies' has 5 rows but 'showers' has 4"]);
}

#[test]
fn inspect_voxel_count_of_no_geometry() {
    inspect_fails("bad_voxel_count.h5", &["100 voxels per shower matches no CaloChallenge geometry"]);
}

#[test]
fn inspect_integer_showers() {
    inspect_fails("bad_int_showers.h5", &["'showers' has type int32", "expected float32 or float64"]);
}

#[test]
fn inspect_showers_is_a_group() {
    inspect_fails("bad_group.h5", &["'showers' is not a dataset"]);
}

#[test]
fn inspect_bad_voxel_values() {
    let r = tdsm(&["inspect", s(&fixture("bad_voxel_values.h5"))], &[]);
    assert_one_line_error(&r, &["bad_voxel_values.h5: 3 bad voxel values (1 NaN, 1 inf, 1 negative), first at shower 9, voxel 17"]);
}

#[test]
fn inspect_nan_incident_energy() {
    inspect_fails(
        "bad_energy_nan.h5",
        &["1 bad incident energy (1 NaN, 0 inf, 0 zero or negative), first at shower 3 (NaN MeV)", "finite and positive"],
    );
}

#[test]
fn inspect_negative_incident_energy() {
    inspect_fails(
        "bad_energy_negative.h5",
        &["2 bad incident energies (0 NaN, 0 inf, 2 zero or negative), first at shower 1 (-100 MeV)"],
    );
}

#[test]
fn inspect_wrong_geometry() {
    let r = tdsm(&["inspect", "--geometry", "ds2", s(&fixture("ds1_photons_h5py_default.h5"))], &[]);
    assert_one_line_error(&r, &["--geometry ds2 expects 6480 voxels per shower but the file has 368"]);
}

#[test]
fn inspect_unknown_geometry_name() {
    let r = tdsm(&["inspect", "--geometry", "ds9", s(&fixture("ds1_photons_h5py_default.h5"))], &[]);
    assert_one_line_error(&r, &["unknown geometry 'ds9'"]);
}

// ---------------------------------------------------------------------------------------------
// Bad input to `simulate`: one test per case; the output directory must stay empty.

fn simulate_fails(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", s(&out)]);
    let r = tdsm(&all, &[]);
    assert_one_line_error(&r, needles);
    assert!(entries(dir.path()).is_empty(), "output left behind: {:?}", entries(dir.path()));
}

#[test]
fn simulate_into_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/out.h5");
    let r = tdsm(&["simulate", "--geometry", "ds2", "--events", "3", "--out", s(&out)], &[]);
    assert_one_line_error(&r, &["output directory", "does not exist"]);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn simulate_zero_events() {
    simulate_fails(&["--geometry", "ds2", "--events", "0"], &["--events must be at least 1"]);
}

#[test]
fn simulate_unknown_geometry() {
    simulate_fails(&["--geometry", "bogus", "--events", "3"], &["unknown geometry 'bogus'"]);
}

#[test]
fn simulate_pions_are_not_electromagnetic() {
    simulate_fails(&["--geometry", "ds1-pions", "--events", "3"], &["ds1-pions", "electromagnetic"]);
}

#[test]
fn simulate_bad_energy() {
    simulate_fails(&["--geometry", "ds2", "--events", "3", "--energy=-5"], &["--energy must be a positive number"]);
}

#[test]
fn simulate_missing_argument() {
    simulate_fails(&["--geometry", "ds2"], &["required arguments were not provided", "--events"]);
}

#[test]
fn simulate_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    std::fs::write(&out, "old").unwrap();
    let r = tdsm(&["simulate", "--geometry", "ds1-photons", "--events", "5", "--out", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(entries(dir.path()), BTreeSet::from(["x.h5".to_string()]));
    assert_eq!(read_h5(&out).0.len(), 5);
}
