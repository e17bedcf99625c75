//! Speed of `kernel::mul_add_multi` on the work of a 1 GiB PAR2 set with 200 recovery slices:
//! 2,048 source slices of 512 KiB, each multiplied into 200 destinations. Two threads each take
//! one half of the slice length.
//!
//! The blocked pass does what an encoder should: it takes the sources a batch at a time and
//! walks the slice length in blocks of `BLOCK` bytes, so that the 200 destination blocks of a
//! thread (800 KiB with the default 4 KiB) stay in its second-level cache while every source
//! of the batch is added into them. The last pass, with one call per source over whole
//! half-slices, streams all 200 destinations (100 MiB) through main memory for every source,
//! and shows what that costs.
//!
//! Every version the processor has is timed; the slow ones on a part of the work, their rate
//! then scaled to the whole. Each line gives the elapsed time and, where Linux tells it, the
//! processor time of the two threads, halved: the latter is less disturbed by other programs.
//!
//! Run with `cargo run --release -p butcher-par2 --example kernel_speed`. The environment
//! variables `BLOCK` (bytes, default 4096) and `BATCH` (sources, default 64) change the
//! blocking; `OFFSET` (even, below 64, default 0) starts the buffers that many bytes past a
//! 64-byte boundary; `PATHS` (comma-separated names) restricts the versions timed.
//!
//! With the argument `encoder` (`... --example kernel_speed -- encoder`), it times instead
//! the calling pattern of the encoder (`create::accumulate`) on 1 GiB of sources, 1,024 of
//! 1 MiB, into 103 recovery slices: batches of 32 sources, each batch cut into tiles of
//! 768 KiB / 103 (a multiple of 64 bytes) of every slice, the tiles shared by two threads.
//! Each tile is done once with one `mul_add_multi` call per source and once with a single
//! `mul_add_many` call; both results are compared. It prints the elapsed and the processor
//! seconds (both threads together) of each. The version is the one dispatch picks, or the
//! first named in `PATHS`.

use butcher_par2::{gf, kernel};
use std::time::Instant;

const SLICE: usize = 512 * 1024;
const SLICES: usize = 2048;
const DSTS: usize = 200;
const THREADS: usize = 2;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic filler bytes (xorshift64).
fn fill(buf: &mut [u8], mut seed: u64) {
    for b in buf.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
}

struct Work {
    /// One batch of source buffers, reused by every batch.
    sources: Vec<Vec<u8>>,
    /// `coefs[i]`: the coefficients of source slice `i` in the 200 recovery slices.
    coefs: Vec<Vec<u16>>,
    dsts: Vec<Vec<u8>>,
}

impl Work {
    fn new(batch: usize) -> Self {
        let sources = (0..batch)
            .map(|i| {
                let mut v = vec![0u8; SLICE + 128];
                fill(&mut v, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
                v
            })
            .collect();
        let logs = gf::input_logs(SLICES);
        let coefs = logs
            .iter()
            .map(|&log| (0..DSTS as u32).map(|e| gf::coefficient(log, e)).collect())
            .collect();
        Work {
            sources,
            coefs,
            dsts: vec![vec![0u8; SLICE + 128]; DSTS],
        }
    }
}

/// One thread's share: bytes `range` of every slice, for source slices `0..slices`.
fn share(
    path: &str,
    work_sources: &[&[u8]],
    coefs: &[Vec<u16>],
    dsts: &mut [&mut [u8]],
    range: std::ops::Range<usize>,
    slices: usize,
    block: usize,
) {
    let batch = work_sources.len();
    let mut first = 0;
    while first < slices {
        let last = (first + batch).min(slices);
        let mut at = range.start;
        while at < range.end {
            let end = (at + block).min(range.end);
            let mut blocks: Vec<&mut [u8]> = dsts
                .iter_mut()
                .map(|d| &mut d[at - range.start..end - range.start])
                .collect();
            for i in first..last {
                let src = &work_sources[i - first][at..end];
                if path == kernel::path_name() {
                    kernel::mul_add_multi(src, &coefs[i], &mut blocks);
                } else {
                    kernel::mul_add_multi_on(path, src, &coefs[i], &mut blocks);
                }
            }
            at = end;
        }
        first = last;
    }
}

/// The `SLICE` bytes of `v` from `offset` bytes past its first 64-byte boundary.
fn window(v: &mut [u8], offset: usize) -> &mut [u8] {
    let start = v.as_ptr().align_offset(64) + offset;
    &mut v[start..start + SLICE]
}

/// Processor time used so far by all the threads of this process, in seconds, where Linux
/// tells it (`/proc/self/task/*/schedstat`); with other programs competing for the
/// processors, it shows what the work costs better than the elapsed time does.
fn cpu_seconds() -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 * 1e-9)
}

/// Runs `slices` source slices through `path` on two threads; returns the elapsed seconds
/// and, where known, the processor seconds of both threads together.
fn time(
    pool: &rayon::ThreadPool,
    work: &mut Work,
    path: &str,
    slices: usize,
    block: usize,
    offset: usize,
) -> (f64, Option<f64>) {
    let Work {
        sources,
        coefs,
        dsts,
    } = work;
    let half = SLICE / THREADS;
    let mut parts: Vec<Vec<&mut [u8]>> = (0..THREADS).map(|_| Vec::new()).collect();
    for d in dsts.iter_mut() {
        for (t, piece) in window(d, offset).chunks_mut(half).enumerate() {
            parts[t].push(piece);
        }
    }
    let sources: Vec<&[u8]> = sources.iter_mut().map(|v| &*window(v, offset)).collect();
    let (sources, coefs) = (&sources[..], &*coefs);
    let [mut a, mut b]: [Vec<&mut [u8]>; THREADS] = parts.try_into().expect("two parts");
    let cpu = cpu_seconds();
    let start = Instant::now();
    pool.install(|| {
        rayon::join(
            || share(path, sources, coefs, &mut a, 0..half, slices, block),
            || share(path, sources, coefs, &mut b, half..SLICE, slices, block),
        )
    });
    let wall = start.elapsed().as_secs_f64();
    (wall, cpu.zip(cpu_seconds()).map(|(a, b)| b - a))
}

/// Prints the rate and the time the whole work takes at that rate: from the elapsed time,
/// and from the processor time shared by the two threads.
fn report(label: &str, slices: usize, (wall, cpu): (f64, Option<f64>)) {
    let bytes = (slices * SLICE * DSTS) as f64;
    let full = (SLICES * SLICE * DSTS) as f64;
    let rate = bytes / wall;
    print!(
        "{label:<32} {slices:>5} slices {wall:>7.3} s {:>7.2} GB/s -> 1 GiB x {DSTS}: {:>6.2} s",
        rate / 1e9,
        full / rate
    );
    match cpu {
        Some(cpu) => {
            let rate = bytes / (cpu / THREADS as f64);
            println!(
                " | cpu {cpu:>7.3} s {:>7.2} GB/s -> {:>6.2} s",
                rate / 1e9,
                full / rate
            );
        }
        None => println!(),
    }
}

/// The encoder mode: the calling pattern of `create::accumulate`, timed with one
/// `mul_add_multi` call per source and tile, and with one `mul_add_many` call per tile.
mod encoder {
    use super::{cpu_seconds, fill};
    use butcher_par2::{gf, kernel};
    use rayon::prelude::*;
    use std::time::Instant;

    /// Bytes per source slice.
    const SLICE: usize = 1 << 20;
    /// Source slices in all: 1 GiB.
    const SOURCES: usize = 1024;
    /// Recovery slices.
    const DSTS: usize = 103;
    /// Sources read at once: 32 MiB, as `create::BATCH_BYTES`.
    const BATCH: usize = 32;
    /// Bytes of all destinations together per tile, as `create::TILE_BYTES`.
    const TILE_BYTES: usize = 768 << 10;

    /// One pass over all the sources, a batch at a time, each batch cut into tiles shared by
    /// the threads of `pool`, on the kernel version `path`; `many` picks `mul_add_many` over
    /// one `mul_add_multi` per source. Returns the elapsed and, where known, the processor
    /// seconds.
    fn pass(
        pool: &rayon::ThreadPool,
        path: &str,
        sources: &[Vec<u8>],
        coefs: &[Vec<u16>],
        dsts: &mut [Vec<u8>],
        many: bool,
    ) -> (f64, Option<f64>) {
        let tile = TILE_BYTES / DSTS / 64 * 64;
        let cpu = cpu_seconds();
        let start = Instant::now();
        for first in (0..SOURCES).step_by(BATCH) {
            // The batch's sources are the same buffers every time; only their coefficients
            // change, as if new data had been read into them.
            let cs = &coefs[first..first + BATCH];
            let mut tiles: Vec<Vec<&mut [u8]>> = Vec::new();
            for d in dsts.iter_mut() {
                for (t, piece) in d.chunks_mut(tile).enumerate() {
                    if tiles.len() <= t {
                        tiles.push(Vec::new());
                    }
                    tiles[t].push(piece);
                }
            }
            pool.install(|| {
                tiles.into_par_iter().enumerate().for_each(|(t, mut ds)| {
                    let at = t * tile;
                    let end = (at + tile).min(SLICE);
                    if many {
                        let srcs: Vec<&[u8]> = sources.iter().map(|s| &s[at..end]).collect();
                        kernel::mul_add_many_on(path, &srcs, cs, &mut ds);
                    } else {
                        for (s, c) in sources.iter().zip(cs) {
                            kernel::mul_add_multi_on(path, &s[at..end], c, &mut ds);
                        }
                    }
                })
            });
        }
        let wall = start.elapsed().as_secs_f64();
        (wall, cpu.zip(cpu_seconds()).map(|(a, b)| b - a))
    }

    pub fn run(threads: usize, path: &str) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let tile = TILE_BYTES / DSTS / 64 * 64;
        println!(
            "encoder pattern on {}: {SOURCES} sources of {} KiB into {DSTS} destinations, \
             batches of {BATCH} sources, tiles of {tile} bytes, {threads} threads",
            path,
            SLICE >> 10
        );
        let sources: Vec<Vec<u8>> = (0..BATCH)
            .map(|i| {
                let mut v = vec![0u8; SLICE];
                fill(&mut v, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
                v
            })
            .collect();
        let coefs: Vec<Vec<u16>> = gf::input_logs(SOURCES)
            .iter()
            .map(|&log| (0..DSTS as u32).map(|e| gf::coefficient(log, e)).collect())
            .collect();
        let mut results = Vec::new();
        for (label, many) in [
            ("per source (mul_add_multi)", false),
            ("mul_add_many", true),
        ] {
            // Written once beforehand, so that no page is first touched while timed.
            let mut dsts = vec![vec![1u8; SLICE]; DSTS];
            let (wall, cpu) = pass(&pool, path, &sources, &coefs, &mut dsts, many);
            print!("{label:<28} {wall:>7.3} s elapsed");
            match cpu {
                Some(cpu) => println!(", {cpu:>7.3} s of processor time"),
                None => println!(),
            }
            results.push(dsts);
        }
        assert!(results[0] == results[1], "the two patterns disagree");
        println!("(both patterns give the same recovery data)");
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("encoder") {
        let path = std::env::var("PATHS")
            .ok()
            .and_then(|v| v.split(',').next().map(str::to_string))
            .unwrap_or_else(|| kernel::path_name().to_string());
        encoder::run(THREADS, &path);
        return;
    }
    let block = env_usize("BLOCK", 4096);
    let offset = env_usize("OFFSET", 0) & 62;
    let batch = env_usize("BATCH", 64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("thread pool");
    let wanted: Option<Vec<String>> = std::env::var("PATHS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    println!(
        "dispatch uses {}; {} source slices of {} KiB into {DSTS} destinations, {THREADS} threads",
        kernel::path_name(),
        SLICES,
        SLICE / 1024
    );
    println!(
        "blocked pass: batches of {batch} sources, blocks of {block} bytes of each half-slice, \
         buffers {offset} bytes past a 64-byte boundary"
    );
    let mut work = Work::new(batch);
    for path in kernel::available_paths() {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|n| n == path))
        {
            continue;
        }
        // The slow versions run a part of the work.
        let slices = match path {
            "portable" => SLICES / 64,
            "avx2" => SLICES / 4,
            _ => SLICES,
        };
        time(&pool, &mut work, path, batch.min(slices), block, offset); // warm-up
        let secs = time(&pool, &mut work, path, slices, block, offset);
        report(&format!("{path} (blocked)"), slices, secs);
    }
    let best = kernel::path_name();
    let slices = 16;
    let secs = time(&pool, &mut work, best, slices, SLICE / THREADS, offset);
    report(&format!("{best} (unblocked)"), slices, secs);
    // Keep the results observable so that no work can be skipped.
    let check: u64 = work.dsts.iter().map(|d| u64::from(d[12345])).sum();
    println!("(checksum {check})");
}
