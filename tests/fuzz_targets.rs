//! The cargo-fuzz targets (fuzz/, nightly, libFuzzer) run on the stable toolchain for a bounded
//! time: the same target functions (`shardis::fuzzing`), fed the seed corpus (fuzz/corpus/) and
//! random mutations of it, under the same counting allocator (memory bounds). A failing input
//! is written to `target/fuzz-failures/` and shown in hex, ready to replay with
//! `cargo +nightly fuzz run <target> <file>`.
//!
//! `SHARDIS_FUZZ_SECS` (default 4) is the time per target, `SHARDIS_FUZZ_SEED` the first seed.

use shardis::fuzzing::{self, CountingAlloc};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// A fuzz target: panics when a property fails.
type Target = fn(&[u8]);

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed corpus of a target (fuzz/corpus/<target>/), plus one empty input.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = vec![Vec::new()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                inputs.push(bytes);
            }
        }
    }
    inputs
}

/// A random change to `input`, as libFuzzer's simplest mutators do.
fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..rng.usize(1..5) {
        let len = input.len();
        match rng.u8(..6) {
            0 if len > 0 => input[rng.usize(..len)] ^= 1 << rng.u8(..8),
            1 if len > 0 => input[rng.usize(..len)] = rng.u8(..),
            2 => input.insert(rng.usize(..=len), rng.u8(..)),
            3 if len > 0 => {
                let at = rng.usize(..len);
                input.truncate(at.max(1));
            }
            4 => {
                // Splice in a piece of another input.
                let other = &corpus[rng.usize(..corpus.len())];
                if !other.is_empty() {
                    let from = rng.usize(..other.len());
                    let to = rng.usize(from..=other.len());
                    let at = rng.usize(..=len);
                    input.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => {
                let n = rng.usize(1..64);
                input.extend((0..n).map(|_| rng.u8(..)));
            }
        }
    }
}

/// Runs `target` on the corpus, then on mutations of it until `budget` is spent.
fn exercise(name: &str, target: Target, budget: Duration, seed: u64) -> usize {
    let mut corpus = corpus(name);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut runs = 0;
    let mut i = 0;
    while i < corpus.len() || started.elapsed() < budget {
        let input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            let mut input = corpus[rng.usize(..corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus);
            input.truncate(4096);
            input
        };
        i += 1;
        runs += 1;
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{runs}"));
            let _ = std::fs::write(&file, &input);
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!(
                "fuzz target {name} failed on input {} (saved as {}): {hex}",
                runs,
                file.display()
            );
        }
        // Keep some inputs that did not fail as new seeds, as a coverage-blind fuzzer can.
        if i > corpus.len() && rng.u8(..16) == 0 && corpus.len() < 512 {
            corpus.push(input);
        }
    }
    runs
}

#[test]
fn fuzz_targets_hold_on_random_inputs() {
    let budget = Duration::from_secs(env_u64("SHARDIS_FUZZ_SECS", 4));
    let seed = env_u64("SHARDIS_FUZZ_SEED", 1);
    // One test runs all targets in turn: the allocation counters are process-wide.
    let targets: [(&str, Target); 3] = [
        ("resp_parser", fuzzing::resp_parser),
        ("command_sequence", fuzzing::command_sequence),
        ("dump_payload", fuzzing::dump_payload),
    ];
    for (name, target) in targets {
        let runs = exercise(name, target, budget, seed);
        eprintln!("{name}: {runs} inputs in {budget:?}");
    }
}
