//! Parallel bzip2 that stays standard. The tar stream is cut into blocks of 900,000 bytes (the
//! block size of `bzip2 -9`); each block is compressed on the rayon pool into a complete bzip2
//! stream (`bzip2 -9`, or `bzip2 -1` when samples of the block do not compress, see
//! [`level_for`]), and the streams are written in input order. `bzip2 -d`, `tar xjf` and
//! `bzip2::read::MultiBzDecoder` read concatenated streams as one.
//!
//! Memory stays bounded: at most a few blocks per worker are in flight, and the caller waits
//! for the oldest one before it hands over another. Output leaves as soon as each block is
//! done, so the layers below (encryption, the archive file) keep streaming.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;

use super::sample::{judge_bytes, Verdict};

/// Input bytes per bzip2 stream.
pub(crate) const BLOCK_BYTES: usize = 900_000;

/// Blocks in flight per rayon worker: enough to keep every core busy while the caller waits
/// for the oldest block, few enough to keep memory small.
const IN_FLIGHT_PER_WORKER: usize = 3;

type Compressed = mpsc::Receiver<io::Result<Vec<u8>>>;

/// A writer that bzip2-compresses what it is given into `inner`, one stream per block.
/// Call [`finish`](Self::finish) to write the last block.
pub(crate) struct ParBzWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    block_bytes: usize,
    in_flight: VecDeque<Compressed>,
    max_in_flight: usize,
    streams: u64,
}

impl<W: Write> ParBzWriter<W> {
    /// Blocks of [`BLOCK_BYTES`], a few per rayon worker in flight.
    pub(crate) fn new(inner: W) -> Self {
        let workers = rayon::current_num_threads().max(1);
        Self::with_block_size(inner, BLOCK_BYTES, IN_FLIGHT_PER_WORKER * workers)
    }

    fn with_block_size(inner: W, block_bytes: usize, max_in_flight: usize) -> Self {
        ParBzWriter {
            inner,
            buf: Vec::with_capacity(block_bytes),
            block_bytes,
            in_flight: VecDeque::new(),
            max_in_flight: max_in_flight.max(1),
            streams: 0,
        }
    }

    /// Hands the buffered block to the pool, first writing out the oldest block when the
    /// pipeline is full.
    fn submit(&mut self) -> io::Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(self.block_bytes));
        let (tx, rx) = mpsc::sync_channel(1);
        // The caller is never a rayon worker, so waiting for the result cannot starve the pool.
        rayon::spawn(move || {
            // The receiver is gone only when the writer was dropped after an error.
            let _ = tx.send(compress_block(&block));
        });
        self.in_flight.push_back(rx);
        self.streams += 1;
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let rx = self
            .in_flight
            .pop_front()
            .expect("invariant: called with a block in flight");
        let out = rx
            .recv()
            .map_err(|_| io::Error::other("a bzip2 worker stopped"))??;
        self.inner.write_all(&out)
    }

    /// Compresses what is left, writes every stream in order and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        // An empty input still gets one (empty) stream, as `bzip2` writes for an empty file.
        if !self.buf.is_empty() || self.streams == 0 {
            self.submit()?;
        }
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParBzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = data.len().min(self.block_bytes - self.buf.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == self.block_bytes {
            self.submit()?;
        }
        Ok(take)
    }

    /// Flushes what is already compressed; a partly filled block stays buffered, because
    /// cutting it short would only make the output larger.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The bzip2 level for `block`: 9 (900 kB blocks), or 1 (100 kB blocks) for bytes that do
/// not compress, where the smaller block costs less CPU and the output barely grows.
pub(crate) fn level_for(block: &[u8]) -> u32 {
    match judge_bytes(block) {
        Verdict::Compressible => 9,
        Verdict::Incompressible => 1,
    }
}

/// One complete bzip2 stream (`bzip2 -9`, or `bzip2 -1`, see [`level_for`]) holding `block`.
fn compress_block(block: &[u8]) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(block.len() / 2 + 1024);
    let level = bzip2::Compression::new(level_for(block));
    let mut enc = bzip2::write::BzEncoder::new(out, level);
    enc.write_all(block)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::noise;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// Text and random bytes, so blocks differ in how well they compress.
    fn sample_input(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (out.len() / 5000) % 2 == 0 {
                out.extend_from_slice(format!("line {} of some text\n", x % 1000).as_bytes());
            } else {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn compress(input: &[u8], block: usize, in_flight: usize) -> Vec<u8> {
        let mut w = ParBzWriter::with_block_size(Vec::new(), block, in_flight);
        // Odd-sized writes cross block boundaries.
        for chunk in input.chunks(7777) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    fn decompress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        bzip2::read::MultiBzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn stream_count(data: &[u8]) -> usize {
        data.windows(10)
            .filter(|w| {
                w.starts_with(b"BZh")
                    && (b'1'..=b'9').contains(&w[3])
                    && (w[4..] == *b"1AY&SY" || w[4..] == *b"\x17rE8P\x90")
            })
            .count()
    }

    #[test]
    fn concatenated_streams_decompress_to_the_input() {
        let input = sample_input(250_000);
        let out = compress(&input, 20_000, 2);
        assert_eq!(stream_count(&out), 13, "one stream per block");
        assert_eq!(decompress(&out), input);
    }

    #[test]
    fn input_of_whole_blocks_and_empty_input() {
        let input = sample_input(60_000);
        assert_eq!(decompress(&compress(&input, 20_000, 8)), input);
        let empty = compress(&[], 20_000, 1);
        assert_eq!(stream_count(&empty), 1);
        assert!(decompress(&empty).is_empty());
    }

    #[test]
    fn default_blocks_match_bzip2_minus_9() {
        let input = sample_input(2 * BLOCK_BYTES + 5);
        let mut w = ParBzWriter::new(Vec::new());
        w.write_all(&input).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(stream_count(&out), 3);
        assert!(out.starts_with(b"BZh9"));
        assert_eq!(decompress(&out), input);
    }

    /// Like the integration tests' `require_tool`: skip unless BUTCHER_REQUIRE_TOOLS=1.
    fn have_tool(name: &str) -> bool {
        let found = Command::new(name)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            if std::env::var_os("BUTCHER_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
                panic!("required tool {name} is missing (BUTCHER_REQUIRE_TOOLS=1)");
            }
            eprintln!("skipping: {name} not installed");
        }
        found
    }

    #[test]
    fn the_bzip2_tool_reads_the_concatenated_streams() {
        if !have_tool("bzip2") {
            return;
        }
        let input = sample_input(100_000);
        let out = compress(&input, 30_000, 2);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.bz2");
        std::fs::write(&file, &out).unwrap();
        let res = Command::new("bzip2")
            .arg("-dc")
            .arg(&file)
            .output()
            .unwrap();
        assert!(res.status.success(), "{res:?}");
        assert_eq!(res.stdout, input);
    }

    #[test]
    fn bytes_that_do_not_compress_get_small_blocks() {
        assert_eq!(level_for(&sample_input(BLOCK_BYTES)), 9);
        assert_eq!(level_for(&noise(BLOCK_BYTES, 3)), 1);
        assert_eq!(level_for(&noise(1000, 3)), 1);
        assert_eq!(level_for(b""), 9);
        let mut w = ParBzWriter::new(Vec::new());
        let input = [noise(BLOCK_BYTES, 5), sample_input(BLOCK_BYTES)].concat();
        w.write_all(&input).unwrap();
        let out = w.finish().unwrap();
        assert!(out.starts_with(b"BZh11AY&SY"));
        assert_eq!(decompress(&out), input);
    }

    /// The encoder (the pure-Rust port of libbzip2) writes, block for block, the bytes the
    /// reference `bzip2 -9` writes for the same input, or `bzip2 -1` for a block that does
    /// not compress (the golden test of the bzip2 streams).
    #[test]
    fn each_stream_is_byte_for_byte_what_the_bzip2_tool_writes() {
        if !have_tool("bzip2") {
            return;
        }
        let input = [
            sample_input(BLOCK_BYTES),
            noise(BLOCK_BYTES, 9),
            sample_input(300_000),
        ]
        .concat();
        let mut w = ParBzWriter::new(Vec::new());
        w.write_all(&input).unwrap();
        let ours = w.finish().unwrap();
        let mut reference = Vec::new();
        for (chunk, level) in input.chunks(BLOCK_BYTES).zip(["-9c", "-1c", "-9c"]) {
            let mut child = Command::new("bzip2")
                .arg(level)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let chunk = chunk.to_vec();
            let feeder = std::thread::spawn(move || stdin.write_all(&chunk));
            let res = child.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            assert!(res.status.success(), "{res:?}");
            reference.extend_from_slice(&res.stdout);
        }
        assert_eq!(stream_count(&ours), 3);
        assert!(
            ours == reference,
            "the streams differ from the bzip2 tool's"
        );
    }
}
