//! Speed of the MD5 of PAR2 slices: 1 GiB as 1,024 buffers of 1 MiB, hashed:
//!
//! - one buffer at a time with `md5::Md5`, on one thread;
//! - with `md5x::md5_many`, on one thread;
//! - with `md5x::md5_many_parallel`, on a pool of two threads.
//!
//! Every way is run `ROUNDS` times (default 3) and its best time is given, after checking
//! that all ways agree on every digest.
//!
//! Run with `cargo run --release -p butcher-par2 --example md5_speed`. The environment
//! variable `SLICE` (bytes, default 1048576) changes the buffer length; the count is then
//! chosen to keep the total near 1 GiB. `DISTINCT` (default: all) makes only that many
//! different buffers, used over and over: with a few small ones the data stays in the
//! caches and the time is that of the hashing alone, without the reads from main memory.

use butcher_par2::md5x::{md5_many, md5_many_parallel};
use md5::{Digest, Md5};
use std::time::Instant;

const TOTAL: usize = 1 << 30;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic filler bytes (xorshift64), eight at a time.
fn fill(buf: &mut [u8], mut seed: u64) {
    seed |= 1;
    for chunk in buf.chunks_mut(8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
    }
}

/// Runs `f` `rounds` times; returns its result and the best time in seconds.
fn best_of<T>(rounds: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut result = None;
    for _ in 0..rounds {
        let start = Instant::now();
        let r = f();
        best = best.min(start.elapsed().as_secs_f64());
        result = Some(r);
    }
    (result.expect("at least one round"), best)
}

fn main() {
    let slice = env_usize("SLICE", 1 << 20).max(1);
    let rounds = env_usize("ROUNDS", 3).max(1);
    let count = (TOTAL / slice).max(1);
    let distinct = env_usize("DISTINCT", count).clamp(1, count);
    let bytes = (count * slice) as f64;

    #[cfg(target_arch = "x86_64")]
    println!(
        "avx512f: {}, avx2: {}",
        is_x86_feature_detected!("avx512f"),
        is_x86_feature_detected!("avx2")
    );
    println!("{count} buffers of {slice} bytes ({distinct} different), best of {rounds} rounds");

    // One allocation holding the buffers end to end, as a batch of PAR2 slices is read.
    let mut data = vec![0u8; distinct * slice];
    for (i, buf) in data.chunks_mut(slice).enumerate() {
        fill(buf, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
    }
    let bufs: Vec<&[u8]> = (0..count)
        .map(|i| &data[(i % distinct) * slice..][..slice])
        .collect();

    let report = |name: &str, secs: f64| {
        println!(
            "{name:<34} {:>7.3} s  {:>6.2} GB/s",
            secs,
            bytes / secs / 1e9
        );
    };

    let (want, secs) = best_of(rounds, || {
        bufs.iter()
            .map(|b| <[u8; 16]>::from(Md5::digest(b)))
            .collect::<Vec<_>>()
    });
    report("md5::Md5 per buffer, 1 thread", secs);
    let (got, secs) = best_of(rounds, || {
        bufs.iter()
            .map(|b| {
                let mut m = butcher_par2::md5one::Md5One::new();
                m.update(b);
                m.finalize()
            })
            .collect::<Vec<_>>()
    });
    report("md5one::Md5One per buffer, 1 thread", secs);
    assert!(got == want, "Md5One disagrees with md5::Md5");

    let (got, secs) = best_of(rounds, || md5_many(&bufs));
    assert!(got == want, "md5_many disagrees with md5::Md5");
    report("md5_many, 1 thread", secs);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a pool of two threads");
    let (got, secs) = best_of(rounds, || pool.install(|| md5_many_parallel(&bufs)));
    assert!(got == want, "md5_many_parallel disagrees with md5::Md5");
    report("md5_many_parallel, 2 threads", secs);
}
