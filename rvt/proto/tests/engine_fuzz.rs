//! The `responder` fuzz harness in `cargo test`: pseudo-random inputs (a
//! smoke run of what `cargo fuzz run responder` does at length) and every
//! input saved under `tests/data/fuzz-responder/` (crashes the fuzzer found,
//! kept as regression tests).

#[path = "support/responder_harness.rs"]
mod harness;
mod support;

use support::Rng;

#[test]
fn random_inputs_never_panic() {
    let n = std::env::var("RVT_FUZZ_SMOKE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400u64);
    for seed in 0..n {
        let mut rng = Rng::new(seed);
        let len = rng.range(1, 3000) as usize;
        let bytes = rng.bytes(len);
        harness::run(&bytes);
    }
}

#[test]
fn saved_inputs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-responder");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("regression corpus") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            harness::run(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "no saved fuzz inputs");
}
