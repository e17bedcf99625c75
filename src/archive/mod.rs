//! Reading one archive file, for restore and verify alike: decrypt (when the set is
//! encrypted), decompress (bzip2 in parallel, see [`bzread`]; zstd; none), walk the tar members
//! and hand each to the caller, read the OpenPGP message to its end so its integrity check
//! (MDC) runs, and hash the whole file to compare with the sha256 recorded when it was written.
//!
//! Damage part-way (a flipped bit, a truncated file) never loses what was read before it: the
//! members already handed out stay handed out, and the damage is returned beside them. Only a
//! passphrase that does not open the archive, or a file that cannot be opened, is an `Err`.

mod bzread;

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Mutex;
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};

use crate::catalogue::Archive;
use crate::crypt::DecryptReader;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::hex;
use crate::keys::Keys;
use bzread::ParBzReader;

/// One tar member as it is read.
pub(crate) struct Member<'a> {
    /// The member name, raw bytes.
    pub name: &'a [u8],
    /// It is a regular file (the only kind butcher writes).
    pub regular: bool,
    /// Its size in the tar header.
    pub size: u64,
    /// Its content.
    pub data: &'a mut dyn Read,
}

/// What reading an archive file to its end found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Damage that stopped the reading part-way, or a member the visitor refused; `None` when
    /// the archive was read to its end and its integrity check held.
    pub error: Option<Error>,
    /// The file's bytes differ from the sha256 recorded when it was written (or could not be
    /// read to the end).
    pub file_changed: bool,
}

/// Reads archive file `path` (catalogue row `a`) member by member, calling `visit` for each.
/// A member `visit` does not read is skipped. An error from `visit` stops the reading and is
/// returned as damage in [`Outcome::error`], named with the file.
pub(crate) fn read_members(
    path: &Path,
    a: &Archive,
    passphrase: Option<&Keys>,
    visit: &mut dyn FnMut(Member<'_>) -> io::Result<()>,
) -> Result<Outcome> {
    let file = crate::direct::DirectReader::open(path).ctx("open", path)?;
    let mut outcome = Outcome::default();
    let (walked, hashed) = std::thread::scope(|scope| {
        // Reading and hashing the file on a thread of their own, ahead of the rest.
        let (raw, hashed) = ReadAhead::hashing(scope, file);
        let walked = plain_reader(scope, raw, a, passphrase, path)
            .and_then(|mut plain| walk(&mut plain, visit).map_err(|e| damaged(path, e)));
        // The stream is dropped by now: the reading thread reads and hashes the rest of the
        // file on its own, to compare with what was recorded when it was written.
        let hashed = hashed
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread stopped")));
        (walked, hashed)
    });
    match walked {
        Ok(()) => {}
        Err(e @ Error::WrongKey(..)) => return Err(e),
        Err(e) => outcome.error = Some(e),
    }
    outcome.file_changed = hashed.map_or(true, |h| hex(&h) != a.sha256);
    Ok(outcome)
}

/// Hands every member of the tar stream `plain` to `visit`, then reads the stream to its end
/// so the OpenPGP integrity check (MDC) runs.
fn walk(
    mut plain: &mut dyn Read,
    visit: &mut dyn FnMut(Member<'_>) -> io::Result<()>,
) -> io::Result<()> {
    {
        let mut tar = tar::Archive::new(&mut plain);
        for entry in tar.entries()? {
            let mut entry = entry?;
            let name = entry.path_bytes().into_owned();
            let regular = entry.header().entry_type() == tar::EntryType::Regular;
            let size = entry.size();
            visit(Member {
                name: &name,
                regular,
                size,
                data: &mut entry,
            })?;
        }
    }
    io::copy(&mut plain, &mut io::sink())?;
    Ok(())
}

fn damaged(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Damaged(format!("{}: {e}", path.display()))
}

/// The tar stream inside an archive file: decrypted when it is encrypted, decompressed.
/// bzip2 is decompressed on worker threads of `scope`, with decryption on a thread of its own
/// (see `bzread`), while the caller reads the tar stream.
fn plain_reader<'scope, R: Read + Send + Sync + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    raw: R,
    a: &Archive,
    passphrase: Option<&Keys>,
    path: &Path,
) -> Result<Box<dyn Read + 'scope>> {
    let compressed = decrypted(raw, a, passphrase, path)?;
    Ok(match a.compression.as_str() {
        "bzip2" => {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            Box::new(ParBzReader::new(scope, compressed, workers))
        }
        // Three stages, each on a thread of its own: reading, hashing and decrypting;
        // decompressing; the caller's work (tar, writing and hashing files).
        "zstd" => Box::new(ReadAhead::new(
            scope,
            zstd::stream::read::Decoder::new(ReadAhead::new(scope, compressed))
                .map_err(|e| Error::Damaged(format!("zstd: {e}")))?,
        )),
        "none" if a.encrypted => Box::new(ReadAhead::new(scope, compressed)),
        "none" => compressed,
        other => return Err(Error::Damaged(format!("unknown compression {other:?}"))),
    })
}

/// The compressed stream inside an archive file: decrypted when it is encrypted.
fn decrypted<'a, R: Read + Send + Sync + 'a>(
    raw: R,
    a: &Archive,
    passphrase: Option<&Keys>,
    path: &Path,
) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(if a.encrypted {
        let p = passphrase
            .ok_or_else(|| Error::Usage("the backup is encrypted: give the passphrase".into()))?;
        Box::new(DecryptReader::new(raw, p, path)?)
    } else {
        Box::new(raw)
    })
}

/// What the read-ahead thread hands over: a chunk of the stream, its end, or what stopped it.
enum Ahead {
    Data(Vec<u8>),
    End,
    Failed(io::Error),
}

/// Bytes per chunk read ahead, and chunks queued: a few MiB in flight.
const AHEAD_BYTES: usize = 1 << 20;
const AHEAD_QUEUE: usize = 4;

/// Reads a stream on a thread of its own, a few MiB ahead of the caller. The end of the stream
/// is an explicit message, so a thread that stopped without one reads as an error, never as a
/// short stream. Dropping the reader stops the thread at its next chunk.
struct ReadAhead {
    /// In a mutex only so that the reader is `Sync` (as the decryption layer asks); reading
    /// takes it through `get_mut`, without locking.
    rx: Mutex<Receiver<Ahead>>,
    chunk: io::Cursor<Vec<u8>>,
    ended: bool,
}

impl ReadAhead {
    fn new<'scope, R: Read + Send + 'scope>(scope: &'scope Scope<'scope, '_>, inner: R) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
        scope.spawn(move || feed(inner, &tx, None));
        Self::receiving(rx)
    }

    /// Like `new`, and the thread hashes (sha256) every byte of `inner` and reads it to its
    /// end even when the reader is dropped before: the handle gives the whole stream's hash,
    /// or what stopped the reading.
    fn hashing<'scope, R: Read + Send + 'scope>(
        scope: &'scope Scope<'scope, '_>,
        inner: R,
    ) -> (Self, ScopedJoinHandle<'scope, io::Result<[u8; 32]>>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
        let handle = scope.spawn(move || {
            let mut hasher = Sha256::new();
            feed(inner, &tx, Some(&mut |chunk: &[u8]| hasher.update(chunk)))?;
            Ok(hasher.finalize().into())
        });
        (Self::receiving(rx), handle)
    }

    fn receiving(rx: Receiver<Ahead>) -> Self {
        ReadAhead {
            rx: Mutex::new(rx),
            chunk: io::Cursor::new(Vec::new()),
            ended: false,
        }
    }
}

/// What sees every chunk a hashing read-ahead reads.
type Seen<'a> = dyn FnMut(&[u8]) + 'a;

/// Reads `inner` in chunks and sends each on `tx`, then the end (or what stopped the reading,
/// after the bytes read before it). Without `seen`, it stops once the receiver is gone. With
/// it, every chunk is also given to `seen`, and the rest is still read (and given to `seen`,
/// but no longer sent) once the receiver is gone.
fn feed(
    mut inner: impl Read,
    tx: &SyncSender<Ahead>,
    mut seen: Option<&mut Seen>,
) -> io::Result<()> {
    let mut wanted = true;
    loop {
        let mut buf = vec![0u8; AHEAD_BYTES];
        let mut n = 0;
        let mut failed = None;
        while n < buf.len() {
            match inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        buf.truncate(n);
        if let Some(seen) = seen.as_mut() {
            seen(&buf);
        }
        if wanted && n > 0 {
            wanted = tx.send(Ahead::Data(buf)).is_ok();
            if !wanted && seen.is_none() {
                return Ok(());
            }
        }
        if let Some(e) = failed {
            if wanted {
                let _ = tx.send(Ahead::Failed(io::Error::new(e.kind(), e.to_string())));
            }
            return Err(e);
        }
        if n < AHEAD_BYTES {
            if wanted {
                let _ = tx.send(Ahead::End);
            }
            return Ok(());
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.chunk.read(buf)?;
            if n > 0 || buf.is_empty() || self.ended {
                return Ok(n);
            }
            let rx = self.rx.get_mut().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(Ahead::Data(d)) => self.chunk = io::Cursor::new(d),
                Ok(Ahead::End) => self.ended = true,
                Ok(Ahead::Failed(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("the reading thread stopped")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `data` in odd-sized reads, then `end`.
    struct Source {
        data: Vec<u8>,
        at: usize,
        end: fn() -> io::Result<usize>,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return (self.end)();
            }
            let n = buf.len().min(7777).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn read_through(data: &[u8], end: fn() -> io::Result<usize>) -> io::Result<Vec<u8>> {
        std::thread::scope(|scope| {
            let source = Source {
                data: data.to_vec(),
                at: 0,
                end,
            };
            let mut out = Vec::new();
            ReadAhead::new(scope, source).read_to_end(&mut out)?;
            Ok(out)
        })
    }

    #[test]
    fn read_ahead_gives_the_stream_and_its_errors() {
        for len in [0, 1, AHEAD_BYTES - 1, AHEAD_BYTES, 3 * AHEAD_BYTES + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(read_through(&data, || Ok(0)).unwrap(), data, "{len} bytes");
            let e = read_through(&data, || Err(io::Error::other("bad sector"))).unwrap_err();
            assert_eq!(e.to_string(), "bad sector");
        }
    }

    #[test]
    fn the_hashing_reader_hashes_the_whole_stream_even_when_dropped_early() {
        let data: Vec<u8> = (0..3 * AHEAD_BYTES + 5).map(|i| (i % 253) as u8).collect();
        let want: [u8; 32] = Sha256::digest(&data).into();
        let source = |end: fn() -> io::Result<usize>| Source {
            data: data.clone(),
            at: 0,
            end,
        };
        for take in [0, 10, AHEAD_BYTES + 1, data.len()] {
            let (got, hash) = std::thread::scope(|scope| {
                let (mut r, h) = ReadAhead::hashing(scope, source(|| Ok(0)));
                let mut got = vec![0u8; take];
                r.read_exact(&mut got).unwrap();
                drop(r);
                (got, h.join().unwrap().unwrap())
            });
            assert_eq!(got, data[..take]);
            assert_eq!(hash, want, "{take} bytes taken");
        }
        // A read error: the bytes before it are handed over, then the error; the handle
        // gives the error too.
        std::thread::scope(|scope| {
            let (mut r, h) =
                ReadAhead::hashing(scope, source(|| Err(io::Error::other("bad sector"))));
            let mut out = Vec::new();
            let e = r.read_to_end(&mut out).unwrap_err();
            assert_eq!(out, data);
            assert_eq!(e.to_string(), "bad sector");
            let e = h.join().unwrap().unwrap_err();
            assert_eq!(e.to_string(), "bad sector");
        });
    }

    /// A stream of 64 chunks that counts the bytes read from it.
    struct Long(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Read for Long {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let done = self.0.load(std::sync::atomic::Ordering::Relaxed);
            let n = buf.len().min(64 * AHEAD_BYTES - done);
            self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            buf[..n].fill(7);
            Ok(n)
        }
    }

    #[test]
    fn a_read_ahead_without_hashing_stops_once_dropped() {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::scope(|scope| {
            let mut r = ReadAhead::new(scope, Long(count.clone()));
            let mut one = [0u8; 1];
            r.read_exact(&mut one).unwrap();
        });
        // The scope ended, so the thread did: it read the queue's worth and one chunk more.
        let read = count.load(std::sync::atomic::Ordering::Relaxed);
        assert!(read <= (AHEAD_QUEUE + 2) * AHEAD_BYTES, "{read} bytes read");
    }

    #[test]
    fn a_reading_thread_that_stops_without_the_end_is_an_error() {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
        tx.send(Ahead::Data(vec![1, 2, 3])).unwrap();
        drop(tx);
        let mut r = ReadAhead::receiving(rx);
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, [1, 2, 3]);
        assert!(e.to_string().contains("stopped"), "{e}");
    }
}
