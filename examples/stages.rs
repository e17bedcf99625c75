//! Where a backup's CPU time goes: each primitive of the packing pipeline timed alone, on one
//! core, over the bytes of a tree (`stages DIR [MIB]`: the files of DIR read into memory, at
//! most MIB MiB, default 1024), in CPU seconds per GiB of input. For docs/benchmarks.md.
//!
//! Stages: the source files' sha256 (done once by the ingest pass and once more while
//! packing, to catch a file changed in between), zstd level 3 (the tar stream's compression),
//! AES-256 in CFB mode (the encryption), the MDC's SHA-1 (plain, with the CPU's SHA
//! instructions, as butcher hashes it, and collision-detecting, as sequoia's own writer does),
//! the archive file's sha256 (for SHA256SUMS), and PAR2 at 10 % (recovery files of the
//! compressed bytes); then restore's own stages, AES-CFB decryption and zstd decompression.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use sha1::Digest as _;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Runs `f` and prints its CPU seconds per GiB of `bytes`; returns its result.
fn stage<T>(name: &str, bytes: usize, f: impl FnOnce() -> T) -> T {
    let (c0, w0) = (cpu_seconds(), Instant::now());
    let out = f();
    let (cpu, wall) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    let gib = bytes as f64 / (1u64 << 30) as f64;
    println!(
        "| {name} | {:.2} | {:.2} | {:.0} |",
        cpu / gib,
        wall / gib,
        bytes as f64 / wall / 1e6
    );
    out
}

fn read_tree(dir: &Path, limit: usize) -> Vec<u8> {
    let mut all = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("a readable tree");
        if e.file_type().is_file() && all.len() < limit {
            all.extend_from_slice(&std::fs::read(e.path()).expect("a readable file"));
        }
    }
    all.truncate(limit);
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: stages DIR [MIB]");
        std::process::exit(2);
    };
    let mib: usize = args
        .get(1)
        .map_or(1024, |s| s.parse().expect("MIB is a number"));
    let data = read_tree(Path::new(dir), mib << 20);
    let n = data.len();
    println!("{} MiB of {dir}, one thread per stage\n", n >> 20);
    println!("| Stage | CPU s per GiB | wall s per GiB | MB/s |");
    println!("|---|---:|---:|---:|");
    stage("sha256 (source, twice in a run)", n, || {
        sha2::Sha256::digest(&data)
    });
    // Output buffers are touched before they are timed: fresh memory pages cost the kernel
    // more to hand out, on some machines, than the stage costs.
    let mut out = vec![1u8; n + (n >> 4)];
    out.clear();
    let compressed = stage("zstd -3, one thread", n, || {
        let mut enc = zstd::stream::write::Encoder::new(out, 3).expect("zstd");
        enc.write_all(&data).expect("zstd");
        enc.finish().expect("zstd")
    });
    let c = compressed.len();
    println!(
        "| (zstd output: {} MiB, the stages below are per GiB of it) | | | |",
        c >> 20
    );
    let mut cipher_text = compressed.clone();
    stage("AES-256-CFB encryption", c, || {
        let aes = aes::Aes256::new(&GenericArray::from([7u8; 32]));
        let mut reg = GenericArray::from([0u8; 16]);
        for chunk in cipher_text.chunks_mut(16) {
            let mut ks = reg;
            aes.encrypt_block(&mut ks);
            for (b, k) in chunk.iter_mut().zip(ks.iter()) {
                *b ^= k;
            }
            reg[..chunk.len()].copy_from_slice(chunk);
        }
    });
    stage("SHA-1 (MDC), plain", c, || sha1::Sha1::digest(&compressed));
    stage("SHA-1 (MDC), collision-detecting", c, || {
        let mut h = sha1collisiondetection::Sha1CD::default();
        h.update(&compressed);
        h.finalize_cd().ok()
    });
    stage("sha256 (archive file)", c, || {
        sha2::Sha256::digest(&cipher_text)
    });
    let mut plain = cipher_text.clone();
    stage("AES-256-CFB decryption, 64 blocks at a time", c, || {
        let aes = aes::Aes256::new(&GenericArray::from([7u8; 32]));
        let mut prev = GenericArray::from([0u8; 16]);
        let mut ks = [GenericArray::from([0u8; 16]); 64];
        for batch in plain.chunks_mut(16 * 64) {
            let blocks = batch.len().div_ceil(16);
            ks[0] = prev;
            for (k, c) in ks[1..blocks].iter_mut().zip(batch.chunks_exact(16)) {
                k.copy_from_slice(c);
            }
            if batch.len() == 16 * 64 {
                prev.copy_from_slice(&batch[batch.len() - 16..]);
            }
            aes.encrypt_blocks(&mut ks[..blocks]);
            for (chunk, k) in batch.chunks_mut(16).zip(ks.iter()) {
                for (b, k) in chunk.iter_mut().zip(k.iter()) {
                    *b ^= k;
                }
            }
        }
    });
    assert!(
        plain == compressed,
        "decryption gives the compressed bytes back"
    );
    let mut back = vec![1u8; n];
    back.clear();
    stage("zstd decompression, per GiB of its output", n, || {
        let mut dec = zstd::stream::write::Decoder::new(back).expect("zstd");
        dec.write_all(&compressed).expect("zstd");
        dec.flush().expect("zstd");
        dec.into_inner().len()
    });
    let tmp = tempfile_dir();
    std::fs::write(tmp.join("archive"), &cipher_text).expect("a temporary file");
    stage("PAR2 10 % (all threads)", c, || {
        butcher_par2::create(
            &butcher_par2::CreateOptions {
                dir: &tmp,
                files: &["archive".to_string()],
                base: "recovery",
                percent: 10,
                creator: "stages",
                tmp_suffix: ".partial",
                memory: 256 << 20,
            },
            &|_, _| {},
        )
        .expect("recovery files")
    });
    std::fs::remove_dir_all(&tmp).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("butcher-stages-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}
