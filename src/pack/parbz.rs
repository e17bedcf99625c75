//! Parallel bzip2 that stays standard. The tar stream is cut into blocks of 900,000 bytes (the
//! block size of `bzip2 -9`); each block is compressed on the rayon pool into a complete bzip2
//! stream, and the streams are written in input order. `bzip2 -d`, `tar xjf` and
//! `bzip2::read::MultiBzDecoder` read concatenated streams as one.
//!
//! Memory stays bounded: at most a few blocks per worker are in flight, and the caller waits
//! for the oldest one before it hands over another. Output leaves as soon as each block is
//! done, so the layers below (encryption, the archive file) keep streaming.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;

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

/// One complete bzip2 stream (`bzip2 -9`) holding `block`.
fn compress_block(block: &[u8]) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(block.len() / 2 + 1024);
    let mut enc = bzip2::write::BzEncoder::new(out, bzip2::Compression::best());
    enc.write_all(block)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
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
            .filter(|w| *w == b"BZh91AY&SY" || *w == b"BZh9\x17rE8P\x90")
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

    /// The encoder (the pure-Rust port of libbzip2) writes, block for block, the bytes the
    /// reference `bzip2 -9` writes for the same input.
    #[test]
    fn each_stream_is_byte_for_byte_what_bzip2_minus_9_writes() {
        if !have_tool("bzip2") {
            return;
        }
        let input = sample_input(BLOCK_BYTES + 300_000);
        let mut w = ParBzWriter::new(Vec::new());
        w.write_all(&input).unwrap();
        let ours = w.finish().unwrap();
        let mut reference = Vec::new();
        for chunk in input.chunks(BLOCK_BYTES) {
            let mut child = Command::new("bzip2")
                .arg("-9c")
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
        assert_eq!(stream_count(&ours), 2);
        assert!(ours == reference, "the streams differ from bzip2 -9's");
    }
}
