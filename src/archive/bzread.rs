//! Parallel reading of the bzip2 archives butcher writes.
//!
//! butcher's bzip2 archives are many complete bzip2 streams laid end to end (one per 900,000
//! bytes of tar stream, see `pack::parbz`). This reader cuts its input where a stream begins
//! (the bytes `BZh`, a block-size digit `1` to `9`, then the block magic `1AY&SY`, which every
//! non-empty butcher stream starts with), decompresses the pieces on worker threads and hands out the output in order, so
//! decryption (the thread that reads the input), decompression (the workers) and the caller
//! (tar, hashing, writing) all run at once.
//!
//! A cut is only a guess: the same ten bytes could occur inside compressed data, and an
//! archive written by something else may hold one long stream. A piece counts only when it
//! decodes to whole streams that end exactly at its end. From the first piece that does not,
//! the reader falls back to one sequential decoder over the remaining input, so the output is
//! always what `bzip2 -d` gives, and damage stops it at the same place.

use std::io::{self, Cursor, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::Scope;

/// Where a butcher bzip2 stream starts: the stream header (`BZh` and the block-size digit,
/// `9` here, any of `1`..=`9` in [`is_stream_start`]) and the block magic.
const MAGIC: &[u8; 10] = b"BZh91AY&SY";

/// Whether `w` (ten bytes) is a stream header of any block size followed by the block magic.
fn is_stream_start(w: &[u8]) -> bool {
    w.len() == MAGIC.len()
        && w[..3] == MAGIC[..3]
        && (b'1'..=b'9').contains(&w[3])
        && w[4..] == MAGIC[4..]
}

/// A piece with no stream start in it is cut here anyway; such a piece never decodes alone,
/// so the reader falls back to sequential decoding.
const MAX_PIECE: usize = 16 << 20;

/// What a worker made of one piece: its input back (needed if the reader falls back) and its
/// output when the piece is whole streams.
struct Outcome {
    raw: Vec<u8>,
    plain: Option<Vec<u8>>,
}

/// One entry of the ordered queue: a piece being decompressed, or the error that stopped the
/// input at this point.
type Entry = io::Result<Receiver<Outcome>>;

type Job = (Vec<u8>, SyncSender<Outcome>);

/// A `Read` of the decompressed data of concatenated bzip2 streams read from another thread.
pub(crate) struct ParBzReader {
    queue: Receiver<Entry>,
    state: State,
}

enum State {
    /// Handing out the output of decoded pieces.
    Parallel(Cursor<Vec<u8>>),
    /// After a piece that did not decode alone: one decoder over the rest of the input.
    Sequential(Box<bzip2::read::MultiBzDecoder<RawChain>>),
}

impl ParBzReader {
    /// Starts reading `inner` on a thread of `scope`, with `workers` decompressing threads.
    /// Dropping the reader stops them.
    pub(crate) fn new<'scope, R: Read + Send + 'scope>(
        scope: &'scope Scope<'scope, '_>,
        inner: R,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1);
        let (queue_tx, queue) = mpsc::sync_channel::<Entry>(2 * workers);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..workers {
            let jobs = Arc::clone(&job_rx);
            scope.spawn(move || loop {
                let job = jobs.lock().map(|rx| rx.recv());
                let Ok(Ok((raw, done))) = job else {
                    return;
                };
                let plain = decode_whole(&raw);
                // The reader is gone only when it was dropped early.
                let _ = done.send(Outcome { raw, plain });
            });
        }
        scope.spawn(move || split(inner, &queue_tx, &job_tx));
        ParBzReader {
            queue,
            state: State::Parallel(Cursor::new(Vec::new())),
        }
    }
}

/// Reads `inner` and sends its pieces, cut before each stream start, to the workers and (in
/// order) to the queue. Stops when the input ends or fails, or the reader is dropped.
fn split<R: Read>(mut inner: R, queue: &SyncSender<Entry>, jobs: &mpsc::Sender<Job>) {
    let send = |piece: Vec<u8>| -> bool {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        jobs.send((piece, done_tx)).is_ok() && queue.send(Ok(done_rx)).is_ok()
    };
    let mut pending: Vec<u8> = Vec::with_capacity(2 << 20);
    // Where in `pending` the search for the next stream start goes on.
    let mut scanned = 1;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match inner.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // What came before the error is still handed on, then the error.
                if !pending.is_empty() && !send(std::mem::take(&mut pending)) {
                    return;
                }
                let _ = queue.send(Err(e));
                return;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        loop {
            match find(&pending, scanned) {
                Some(at) => {
                    let rest = pending.split_off(at);
                    if !send(std::mem::replace(&mut pending, rest)) {
                        return;
                    }
                    scanned = 1;
                }
                None if pending.len() >= MAX_PIECE => {
                    if !send(std::mem::take(&mut pending)) {
                        return;
                    }
                    scanned = 1;
                    break;
                }
                None => {
                    scanned = pending.len().saturating_sub(MAGIC.len() - 1).max(1);
                    break;
                }
            }
        }
    }
    if !pending.is_empty() {
        send(pending);
    }
}

/// The first stream start in `data` at or after `from`.
fn find(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + MAGIC.len() <= data.len() {
        let at = i + data[i..data.len() - MAGIC.len() + 1]
            .iter()
            .position(|&b| b == MAGIC[0])?;
        if is_stream_start(&data[at..at + MAGIC.len()]) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// The output of `piece` when it is one or more complete bzip2 streams and nothing else.
fn decode_whole(piece: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1 << 20);
    let mut pos = 0;
    while pos < piece.len() {
        let mut d = bzip2::Decompress::new(false);
        loop {
            if out.capacity() - out.len() < 256 << 10 {
                out.reserve(1 << 20);
            }
            let (in_before, out_before) = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(&piece[pos + in_before as usize..], &mut out)
                .ok()?;
            if let bzip2::Status::StreamEnd = status {
                break;
            }
            if d.total_in() == in_before && d.total_out() == out_before {
                // No progress with room to write: the input ended inside the stream.
                return None;
            }
        }
        pos += d.total_in() as usize;
    }
    Some(out)
}

impl Read for ParBzReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let cursor = match &mut self.state {
                State::Sequential(d) => return d.read(buf),
                State::Parallel(c) => c,
            };
            let n = cursor.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Ok(entry) = self.queue.recv() else {
                return Ok(0); // the input ended
            };
            let outcome = entry?
                .recv()
                .map_err(|_| io::Error::other("a bzip2 worker stopped"))?;
            match outcome.plain {
                Some(plain) => self.state = State::Parallel(Cursor::new(plain)),
                None => {
                    // Take the queue over: the sequential decoder reads the rest from it.
                    let (_, empty) = mpsc::sync_channel(0);
                    let chain = RawChain {
                        current: Cursor::new(outcome.raw),
                        queue: std::mem::replace(&mut self.queue, empty),
                    };
                    self.state =
                        State::Sequential(Box::new(bzip2::read::MultiBzDecoder::new(chain)));
                }
            }
        }
    }
}

/// The raw input from a given piece on, for the sequential fallback.
struct RawChain {
    current: Cursor<Vec<u8>>,
    queue: Receiver<Entry>,
}

impl Read for RawChain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Ok(entry) = self.queue.recv() else {
                return Ok(0);
            };
            let outcome = entry?
                .recv()
                .map_err(|_| io::Error::other("a bzip2 worker stopped"))?;
            self.current = Cursor::new(outcome.raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::noise;
    use std::io::Write;

    fn stream(data: &[u8]) -> Vec<u8> {
        stream_at(data, 9)
    }

    fn stream_at(data: &[u8], level: u32) -> Vec<u8> {
        let level = bzip2::Compression::new(level);
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), level);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Text that compresses, different in each block.
    fn text(len: usize, seed: u64) -> Vec<u8> {
        noise(len, seed)
            .into_iter()
            .map(|b| b"abcdefgh ijklm\n"[usize::from(b % 15)])
            .collect()
    }

    /// The output, and whether the reader stayed parallel (never fell back) to the end.
    fn read_all_and_mode(
        input: Vec<u8>,
        workers: usize,
        chunk: usize,
    ) -> io::Result<(Vec<u8>, bool)> {
        std::thread::scope(|s| {
            let mut r = ParBzReader::new(s, Trickle(Cursor::new(input), chunk), workers);
            let mut out = Vec::new();
            r.read_to_end(&mut out)?;
            Ok((out, matches!(r.state, State::Parallel(_))))
        })
    }

    fn read_all(input: Vec<u8>, workers: usize, chunk: usize) -> io::Result<Vec<u8>> {
        read_all_and_mode(input, workers, chunk).map(|(out, _)| out)
    }

    /// Gives at most `.1` bytes per read, so stream starts straddle reads.
    struct Trickle(Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn concatenated_streams_come_out_in_order() {
        let blocks: Vec<Vec<u8>> = (0..12).map(|i| text(100_000 + i * 997, i as u64)).collect();
        let input: Vec<u8> = blocks.iter().flat_map(|b| stream(b)).collect();
        let want: Vec<u8> = blocks.concat();
        for (workers, chunk) in [(1, 1 << 20), (3, 7), (2, 4096)] {
            let (out, parallel) = read_all_and_mode(input.clone(), workers, chunk).unwrap();
            assert_eq!(out, want);
            // Streams as butcher writes them are cut where they start: no fallback.
            assert!(parallel, "fell back to sequential decoding");
        }
    }

    #[test]
    fn streams_of_every_block_size_are_cut_apart() {
        // butcher writes `bzip2 -1` streams for bytes that do not compress: many of them in a
        // row must still be read in parallel, not as one piece too large to decode alone.
        let blocks: Vec<Vec<u8>> = (0..36).map(|i| noise(500_000, i as u64)).collect();
        let input: Vec<u8> = blocks
            .iter()
            .enumerate()
            .flat_map(|(i, b)| stream_at(b, [1, 1, 5][i % 3]))
            .collect();
        assert!(input.len() > MAX_PIECE, "long enough to need the cuts");
        assert!(input.starts_with(b"BZh11AY&SY"));
        let (out, parallel) = read_all_and_mode(input, 2, 1 << 16).unwrap();
        assert_eq!(out, blocks.concat());
        assert!(parallel, "fell back to sequential decoding");
    }

    #[test]
    fn empty_streams_and_one_long_multi_block_stream_fall_back_correctly() {
        // An empty stream has no block magic; a 2 MB stream has several blocks in one stream.
        let long = text(2_000_000, 7);
        let mut input = stream(b"");
        input.extend(stream(&long));
        input.extend(stream(b"tail"));
        input.extend(stream(b""));
        let mut want = long.clone();
        want.extend_from_slice(b"tail");
        assert_eq!(read_all(input, 2, 65_536).unwrap(), want);
    }

    #[test]
    fn a_false_stream_start_inside_a_piece_is_harmless() {
        // Uncompressed bytes that hold the magic cannot be a stream start: a stored
        // `BZh91AY&SY` inside compressed data would be. Build one by hand: a valid stream,
        // then the magic and garbage, then valid streams: the magic piece fails, the
        // sequential decoder reports the damage after the first stream's output.
        let mut input = stream(b"first");
        input.extend_from_slice(MAGIC);
        input.extend_from_slice(b"garbage that is not bzip2");
        input.extend(stream(b"second"));
        let err = read_all(input, 2, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        // The same input read by the sequential decoder fails the same way.
        let mut seq = Vec::new();
        let mut first = stream(b"first");
        first.extend_from_slice(MAGIC);
        first.extend_from_slice(b"garbage that is not bzip2");
        let seq_err = bzip2::read::MultiBzDecoder::new(&first[..])
            .read_to_end(&mut seq)
            .unwrap_err();
        assert_eq!(seq_err.kind(), err.kind());
    }

    #[test]
    fn an_input_error_comes_after_the_data_before_it() {
        struct Failing(Cursor<Vec<u8>>);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::other("integrity check failed")),
                    n => Ok(n),
                }
            }
        }
        let a = text(300_000, 1);
        let mut input = stream(&a);
        input.extend(stream(b"b"));
        let mut out = Vec::new();
        let err = std::thread::scope(|s| {
            let mut r = ParBzReader::new(s, Failing(Cursor::new(input)), 2);
            r.read_to_end(&mut out).unwrap_err()
        });
        assert!(err.to_string().contains("integrity check failed"), "{err}");
        let mut want = a;
        want.push(b'b');
        assert_eq!(out, want);
    }

    #[test]
    fn a_truncated_stream_gives_its_data_then_an_error() {
        let a = text(200_000, 3);
        let b = text(200_000, 4);
        let mut input = stream(&a);
        let sb = stream(&b);
        input.extend_from_slice(&sb[..sb.len() / 2]);
        let mut out = Vec::new();
        let res = std::thread::scope(|s| {
            let mut r = ParBzReader::new(s, Cursor::new(input), 2);
            r.read_to_end(&mut out)
        });
        assert!(res.is_err());
        assert!(out.starts_with(&a), "the first stream's output is kept");
    }

    #[test]
    fn dropping_the_reader_early_stops_its_threads() {
        let blocks: Vec<u8> = (0..40).flat_map(|i| stream(&text(50_000, i))).collect();
        std::thread::scope(|s| {
            let mut r = ParBzReader::new(s, Cursor::new(blocks), 2);
            let mut first = [0u8; 10];
            r.read_exact(&mut first).unwrap();
            drop(r);
        });
        // Reaching here means the scope joined every thread.
    }

    #[test]
    fn find_sees_starts_across_the_scan_point() {
        let mut d = vec![b'B'; 20];
        d.extend_from_slice(MAGIC);
        assert_eq!(find(&d, 1), Some(20));
        assert_eq!(find(&d, 21), None);
        assert_eq!(find(MAGIC, 0), Some(0));
        assert_eq!(find(&MAGIC[..9], 0), None);
    }
}
