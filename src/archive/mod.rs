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
use std::thread::Scope;

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
    let mut raw = HashReader {
        inner: file,
        hasher: Sha256::new(),
    };
    let mut outcome = Outcome::default();
    let walked = std::thread::scope(|scope| {
        let mut plain = plain_reader(scope, &mut raw, a, passphrase, path)?;
        walk(&mut plain, visit).map_err(|e| damaged(path, e))
    });
    match walked {
        Ok(()) => {}
        Err(e @ Error::WrongKey(..)) => return Err(e),
        Err(e) => outcome.error = Some(e),
    }
    // Hash the rest of the file too, to compare with what was recorded when it was written.
    if io::copy(&mut raw, &mut io::sink()).is_err() {
        outcome.file_changed = true;
    }
    outcome.file_changed |= hex(&raw.hasher.finalize()) != a.sha256;
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

struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
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
    rx: std::sync::mpsc::Receiver<Ahead>,
    chunk: io::Cursor<Vec<u8>>,
    ended: bool,
}

impl ReadAhead {
    fn new<'scope, R: Read + Send + 'scope>(
        scope: &'scope Scope<'scope, '_>,
        mut inner: R,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
        scope.spawn(move || loop {
            let mut buf = vec![0u8; AHEAD_BYTES];
            let mut n = 0;
            let msg = loop {
                match inner.read(&mut buf[n..]) {
                    Ok(0) => break None,
                    Ok(k) => {
                        n += k;
                        if n == buf.len() {
                            break None;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(Ahead::Failed(e)),
                }
            };
            buf.truncate(n);
            let last = msg.is_some() || n < AHEAD_BYTES;
            if n > 0 && tx.send(Ahead::Data(buf)).is_err() {
                return;
            }
            if last {
                let _ = tx.send(msg.unwrap_or(Ahead::End));
                return;
            }
        });
        ReadAhead {
            rx,
            chunk: io::Cursor::new(Vec::new()),
            ended: false,
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
            match self.rx.recv() {
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
    fn a_reading_thread_that_stops_without_the_end_is_an_error() {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD_QUEUE);
        tx.send(Ahead::Data(vec![1, 2, 3])).unwrap();
        drop(tx);
        let mut r = ReadAhead {
            rx,
            chunk: io::Cursor::new(Vec::new()),
            ended: false,
        };
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, [1, 2, 3]);
        assert!(e.to_string().contains("stopped"), "{e}");
    }
}
