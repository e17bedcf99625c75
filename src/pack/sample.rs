//! Telling compressible content from content that compression cannot shrink (JPEG, MP4, ZIP,
//! encrypted or random bytes), for `--compression auto`. Reads a few samples of each file's
//! bytes; file names are not looked at.
//!
//! A sample of at least [`MIN_TRIAL_BYTES`] is compressed with zstd level 1 (fast); smaller
//! files are judged by their byte entropy, because a compressor's framing swamps tiny inputs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes per sample.
pub(crate) const SAMPLE_BYTES: u64 = 64 * 1024;
/// Samples per file larger than that: start, middle and end.
const SAMPLES: u64 = 3;
/// Below this many bytes a file is judged by its entropy instead of a trial compression.
const MIN_TRIAL_BYTES: usize = 4096;
/// Content is worth compressing when a fast compressor saves at least this share of it.
const MIN_SAVING: f64 = 0.05;
/// Above this many bits per byte (order-0, bias-corrected) a small file counts as random.
const MAX_SMALL_ENTROPY_BITS: f64 = 6.0;

/// Whether compressing a file is worth its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Text, databases, source, logs: compress it.
    Compressible,
    /// Media, archives, random bytes: store it as is.
    Incompressible,
}

/// Reads samples of the file at `path` (of `size` bytes) and judges them.
pub(crate) fn judge_file(path: &Path, size: u64) -> io::Result<Verdict> {
    Ok(judge(&read_samples(path, size)?))
}

/// The whole file when it is small, else [`SAMPLES`] samples spread over it.
fn read_samples(path: &Path, size: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    if size <= SAMPLES * SAMPLE_BYTES {
        let mut out = Vec::with_capacity(size as usize);
        f.take(size).read_to_end(&mut out)?;
        return Ok(out);
    }
    let mut out = Vec::with_capacity((SAMPLES * SAMPLE_BYTES) as usize);
    for at in sample_offsets(size) {
        f.seek(SeekFrom::Start(at))?;
        (&mut f).take(SAMPLE_BYTES).read_to_end(&mut out)?;
    }
    Ok(out)
}

/// Where the [`SAMPLES`] samples of something of `size` bytes (more than all samples) start.
fn sample_offsets(size: u64) -> impl Iterator<Item = u64> {
    (0..SAMPLES).map(move |k| (size - SAMPLE_BYTES) * k / (SAMPLES - 1))
}

/// Judges bytes in memory (a block of a tar stream) by the same samples as a file.
pub(crate) fn judge_bytes(data: &[u8]) -> Verdict {
    let size = data.len() as u64;
    if size <= SAMPLES * SAMPLE_BYTES {
        return judge(data);
    }
    let mut samples = Vec::with_capacity((SAMPLES * SAMPLE_BYTES) as usize);
    for at in sample_offsets(size) {
        samples.extend_from_slice(&data[at as usize..(at + SAMPLE_BYTES) as usize]);
    }
    judge(&samples)
}

/// Judges sample bytes.
pub(crate) fn judge(data: &[u8]) -> Verdict {
    let compressible = if data.len() < MIN_TRIAL_BYTES {
        entropy_bits(data) <= MAX_SMALL_ENTROPY_BITS
    } else {
        trial_saving(data) >= MIN_SAVING
    };
    if compressible {
        Verdict::Compressible
    } else {
        Verdict::Incompressible
    }
}

/// The share of `data` that zstd level 1 saves, compressing each sample on its own.
fn trial_saving(data: &[u8]) -> f64 {
    let mut packed = 0usize;
    for chunk in data.chunks(SAMPLE_BYTES as usize) {
        packed += match zstd::bulk::compress(chunk, 1) {
            Ok(c) => c.len(),
            // Cannot happen for in-memory input; treat as incompressible rather than fail.
            Err(_) => chunk.len(),
        };
    }
    1.0 - packed as f64 / data.len() as f64
}

/// Order-0 entropy in bits per byte with the Miller-Madow correction, which undoes most of
/// the plug-in estimate's downward bias on short inputs (100 random bytes would otherwise
/// look like 6.2 bits). An empty input has 0 bits.
fn entropy_bits(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    let mut h = 0.0;
    let mut seen = 0u32;
    for &c in counts.iter().filter(|&&c| c > 0) {
        let p = c as f64 / n;
        h -= p * p.log2();
        seen += 1;
    }
    h + (seen as f64 - 1.0) / (2.0 * n * std::f64::consts::LN_2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::noise as random;

    fn text(len: usize) -> Vec<u8> {
        let words = [
            "invoice", "the", "meeting", "of", "garden", "42", "report", "and",
        ];
        let mut out = Vec::new();
        let mut i = 0usize;
        while out.len() < len {
            out.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
            out.push(if i % 11 == 10 { b'\n' } else { b' ' });
            i += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn random_bytes_are_incompressible_at_any_size() {
        for len in [100, 1000, 5000, 200_000] {
            assert_eq!(judge(&random(len, 7)), Verdict::Incompressible, "{len}");
        }
    }

    #[test]
    fn text_is_compressible_at_any_size() {
        for len in [1, 100, 1000, 5000, 200_000] {
            assert_eq!(judge(&text(len)), Verdict::Compressible, "{len}");
        }
        assert_eq!(judge(b""), Verdict::Compressible);
    }

    #[test]
    fn a_file_is_sampled_at_start_middle_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Random but for a text middle: most samples are random.
        let mut data = random(1 << 20, 3);
        let mid = data.len() / 2;
        data[mid - 40_000..mid + 40_000].copy_from_slice(&text(80_000));
        std::fs::write(&path, &data).unwrap();
        let samples = read_samples(&path, data.len() as u64).unwrap();
        assert_eq!(samples.len() as u64, SAMPLES * SAMPLE_BYTES);
        assert_eq!(&samples[..1000], &data[..1000]);
        assert_eq!(&samples[samples.len() - 1000..], &data[data.len() - 1000..]);
        assert_eq!(
            judge_file(&path, data.len() as u64).unwrap(),
            Verdict::Compressible
        );
        std::fs::write(&path, random(1 << 20, 5)).unwrap();
        assert_eq!(judge_file(&path, 1 << 20).unwrap(), Verdict::Incompressible);
    }

    #[test]
    fn entropy_of_uniform_and_constant_bytes() {
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
        assert!((entropy_bits(&all) - 8.0).abs() < 0.02);
        assert!(entropy_bits(&[b'a'; 500]) < 0.01);
    }
}
