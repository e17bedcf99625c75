//! Writes one archive file: tar, then compression, then OpenPGP encryption, streamed into a
//! temporary file whose bytes are hashed as they are written. Nothing is held whole in memory.
//! Encryption runs on a thread of its own, hashing and writing the file on another, bzip2 on
//! the rayon pool, and zstd on its own workers, so reading and hashing the source overlaps
//! with all of them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use sha2::{Digest, Sha256};

use super::parbz::ParBzWriter;
use crate::crypt::EncryptWriter;
use crate::direct::DirectWriter;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::HashingWriter;
use crate::keys::Keys;
use crate::layout::Codec;
use crate::progress::Progress;

/// One tar member to write: `len` bytes of `source` from `offset`, hashed into `hasher`.
pub(crate) struct MemberSpec {
    pub name: Vec<u8>,
    pub source: std::path::PathBuf,
    pub offset: u64,
    pub len: u64,
    pub mode: u32,
    pub mtime_ns: i64,
    pub hasher: Sha256,
}

/// The members of an archive, asked for one at a time so that none is held longer than it
/// takes to write it.
pub(crate) trait Members {
    /// How many members the archive has.
    fn count(&self) -> usize;
    /// Member `k` (0-based, asked for in order).
    fn member(&mut self, k: usize) -> Result<MemberSpec>;
    /// Member `k` is written; `hasher` has seen its bytes.
    fn done(&mut self, k: usize, hasher: Sha256);
}

/// The archive file as written.
pub(crate) struct Written {
    pub size: u64,
    pub sha256: String,
}

/// A layer of the output stack that must be finished (trailers written) in order.
trait Layer: Write + Send {
    fn finish_layer(self: Box<Self>) -> io::Result<()>;
}

struct Plain<W: Write + Send>(W);
impl<W: Write + Send> Write for Plain<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl<W: Write + Send> Layer for Plain<W> {
    fn finish_layer(mut self: Box<Self>) -> io::Result<()> {
        self.0.flush()
    }
}

/// Encryption, writing into the layer below, which it finishes after the MDC.
impl<'a> Layer for EncryptWriter<Box<dyn Layer + 'a>> {
    fn finish_layer(self: Box<Self>) -> io::Result<()> {
        (*self).finish_into_sink()?.finish_layer()
    }
}

/// bzip2 in parallel: one complete stream per 900,000 bytes (see [`super::parbz`]).
struct Bz<'a>(ParBzWriter<Box<dyn Layer + 'a>>);
impl Write for Bz<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Layer for Bz<'_> {
    fn finish_layer(self: Box<Self>) -> io::Result<()> {
        self.0.finish()?.finish_layer()
    }
}

struct Zst<'a>(zstd::stream::write::Encoder<'static, Box<dyn Layer + 'a>>);
impl Write for Zst<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
impl Layer for Zst<'_> {
    fn finish_layer(self: Box<Self>) -> io::Result<()> {
        self.0.finish()?.finish_layer()
    }
}

/// What the caller's thread hands to the archive-writing thread.
enum Chunk {
    Data(Vec<u8>),
    /// Everything was sent: finish the layers below. Without it (the caller gave up after an
    /// error), the thread stops without writing trailers.
    End,
}

/// Bytes handed over per message, and messages queued: a few MiB in flight.
const HANDOFF_BYTES: usize = 1 << 20;
const HANDOFF_QUEUE: usize = 4;

/// Runs the layers below (encryption, hashing and writing the archive file) on a thread of
/// their own, so they overlap with reading, hashing, tar and compression on the caller's.
struct Handoff<'scope> {
    tx: Option<mpsc::SyncSender<Chunk>>,
    buf: Vec<u8>,
    thread: Option<thread::ScopedJoinHandle<'scope, io::Result<()>>>,
}

impl<'scope> Handoff<'scope> {
    fn spawn(scope: &'scope thread::Scope<'scope, '_>, mut below: Box<dyn Layer + 'scope>) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Chunk>(HANDOFF_QUEUE);
        let thread = scope.spawn(move || {
            for chunk in rx {
                match chunk {
                    Chunk::Data(data) => below.write_all(&data)?,
                    Chunk::End => return below.finish_layer(),
                }
            }
            Err(io::Error::other("the archive was abandoned"))
        });
        Handoff {
            tx: Some(tx),
            buf: Vec::with_capacity(HANDOFF_BYTES),
            thread: Some(thread),
        }
    }

    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        let tx = self.tx.as_ref().expect("invariant: sent before the end");
        match tx.send(chunk) {
            Ok(()) => Ok(()),
            // The thread stopped: its own error says why.
            Err(_) => Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the archive writer stopped early"))),
        }
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(HANDOFF_BYTES));
        self.send(Chunk::Data(data))
    }

    fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the archive writer thread panicked")),
            None => Err(io::Error::other("the archive writer already stopped")),
        }
    }
}

impl Write for Handoff<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = data.len().min(HANDOFF_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == HANDOFF_BYTES {
            self.send_buffered()?;
        }
        Ok(take)
    }
    /// Bytes stay buffered until a full chunk or the end; the file is synced at the end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layer for Handoff<'_> {
    fn finish_layer(mut self: Box<Self>) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send_buffered()?;
        }
        self.send(Chunk::End)?;
        self.join()
    }
}

fn compress_layer<'a>(inner: Box<dyn Layer + 'a>, c: Codec) -> io::Result<Box<dyn Layer + 'a>> {
    Ok(match c {
        Codec::None => inner,
        Codec::Bzip2 => Box::new(Bz(ParBzWriter::new(inner))),
        Codec::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(inner, 3)?;
            enc.multithread(rayon::current_num_threads() as u32)?;
            Box::new(Zst(enc))
        }
    })
}

/// Writes the members into a new archive file at `path` and syncs it to disc.
pub(crate) fn write_archive(
    path: &Path,
    members: &mut dyn Members,
    compression: Codec,
    passphrase: Option<&Keys>,
    progress: &dyn Progress,
) -> Result<Written> {
    let file = DirectWriter::create(path).ctx("create", path)?;
    let mut sink = HashingWriter::new(file);
    thread::scope(|scope| -> Result<()> {
        // Hashing and writing the file on one thread; encrypting on another: with the
        // caller's reading, hashing and tar, and the compressors' workers, every stage
        // overlaps with every other, and none of them is much longer than the rest.
        let file: Box<dyn Layer + '_> = Box::new(Handoff::spawn(scope, Box::new(Plain(&mut sink))));
        let base: Box<dyn Layer + '_> = match passphrase {
            Some(p) => Box::new(Handoff::spawn(
                scope,
                Box::new(EncryptWriter::new(file, p)?),
            )),
            None => file,
        };
        let top = compress_layer(base, compression).ctx("start compressing", path)?;
        let mut tar = tar::Builder::new(top);
        for k in 0..members.count() {
            let mut m = members.member(k)?;
            append_member(&mut tar, &mut m, progress).map_err(|e| match e {
                Error::Io { source, .. } if source.raw_os_error().is_some() => {
                    Error::io("write", path, source)
                }
                other => other,
            })?;
            members.done(k, m.hasher);
        }
        let top = tar.into_inner().ctx("write", path)?;
        top.finish_layer().ctx("write", path)
    })?;
    let (direct, size, sha256) = sink.into_parts();
    let file = direct.finish().ctx("write", path)?;
    file.sync_all().ctx("sync", path)?;
    Ok(Written { size, sha256 })
}

fn append_member<W: Write>(
    tar: &mut tar::Builder<W>,
    m: &mut MemberSpec,
    progress: &dyn Progress,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(m.len);
    header.set_mode(m.mode & 0o7777);
    header.set_mtime(m.mtime_ns.max(0) as u64 / 1_000_000_000);
    header.set_uid(0);
    header.set_gid(0);
    let mut f = File::open(&m.source).ctx("read", &m.source)?;
    f.seek(SeekFrom::Start(m.offset)).ctx("read", &m.source)?;
    let mut reader = ExactReader {
        inner: f.take(m.len),
        remaining: m.len,
        hasher: &mut m.hasher,
        progress,
    };
    let name = crate::fsutil::bytes_path(&m.name);
    tar.append_data(&mut header, name, &mut reader)
        .ctx("archive", &m.source)?;
    Ok(())
}

/// Yields exactly `remaining` bytes: the source's, then zeros if it shrank. The zeros are not
/// hashed, so a shrunken file fails its hash check and is not recorded as stored.
struct ExactReader<'h, 'p, R> {
    inner: R,
    remaining: u64,
    hasher: &'h mut Sha256,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for ExactReader<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        } else {
            self.hasher.update(&buf[..n]);
        }
        self.remaining -= n as u64;
        self.progress.advance(n as u64, 0);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what reaches it, and whether it was finished.
    struct Collect(Arc<Mutex<(Vec<u8>, bool)>>);
    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Layer for Collect {
        fn finish_layer(self: Box<Self>) -> io::Result<()> {
            self.0.lock().unwrap().1 = true;
            Ok(())
        }
    }

    /// Fails every write as a full disc does.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Layer for Full {
        fn finish_layer(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_cross_the_handoff_in_order_and_are_finished() {
        let seen = Arc::new(Mutex::new((Vec::new(), false)));
        let data: Vec<u8> = (0..3 * HANDOFF_BYTES + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        thread::scope(|s| {
            let mut h = Box::new(Handoff::spawn(s, Box::new(Collect(seen.clone()))));
            for chunk in data.chunks(100_003) {
                h.write_all(chunk).unwrap();
            }
            h.finish_layer().unwrap();
        });
        let seen = seen.lock().unwrap();
        assert!(seen.1, "not finished");
        assert!(seen.0 == data, "bytes differ");
    }

    #[test]
    fn an_abandoned_handoff_does_not_finish_the_layers_below() {
        let seen = Arc::new(Mutex::new((Vec::new(), false)));
        thread::scope(|s| {
            let mut h = Handoff::spawn(s, Box::new(Collect(seen.clone())));
            h.write_all(&vec![1u8; HANDOFF_BYTES + 1]).unwrap();
        });
        let seen = seen.lock().unwrap();
        assert!(!seen.1, "finished although abandoned");
        assert_eq!(seen.0.len(), HANDOFF_BYTES);
    }

    #[test]
    fn a_write_error_below_the_handoff_reaches_the_caller() {
        thread::scope(|s| {
            let mut h = Box::new(Handoff::spawn(s, Box::new(Full)));
            let err = match h.write_all(&vec![0u8; 8 * HANDOFF_BYTES]) {
                Err(e) => e,
                Ok(()) => h.finish_layer().unwrap_err(),
            };
            assert_eq!(err.raw_os_error(), Some(28), "{err}");
        });
    }

    /// One member: all of `source`.
    struct One {
        source: std::path::PathBuf,
        len: u64,
        digest: Option<Vec<u8>>,
    }
    impl Members for One {
        fn count(&self) -> usize {
            1
        }
        fn member(&mut self, _: usize) -> Result<MemberSpec> {
            Ok(MemberSpec {
                name: b"c/0001".to_vec(),
                source: self.source.clone(),
                offset: 0,
                len: self.len,
                mode: 0o644,
                mtime_ns: 0,
                hasher: Sha256::new(),
            })
        }
        fn done(&mut self, _: usize, hasher: Sha256) {
            self.digest = Some(hasher.finalize().to_vec());
        }
    }

    fn member(source: &Path, len: u64) -> One {
        One {
            source: source.to_path_buf(),
            len,
            digest: None,
        }
    }

    /// Through compression, the handoff and encryption, the archive file is whole: its recorded
    /// size and sha256 are the file's, and it decrypts to a tar holding the member.
    #[test]
    fn an_encrypted_archive_is_whole_and_its_hash_is_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        let data: Vec<u8> = (0..5 * HANDOFF_BYTES + 77)
            .map(|i| ((i * 7919) % 251) as u8)
            .collect();
        std::fs::write(&source, &data).unwrap();
        let pass = Keys::from(crate::crypt::Passphrase::new("correct horse").unwrap());
        for c in [Codec::None, Codec::Zstd, Codec::Bzip2] {
            let path = dir.path().join("archive");
            let mut members = member(&source, data.len() as u64);
            let written = write_archive(
                &path,
                &mut members,
                c,
                Some(&pass),
                &crate::progress::NoProgress,
            )
            .unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                members.digest.as_deref(),
                Some(&Sha256::digest(&data)[..]),
                "{c:?}: the member's hasher saw other bytes"
            );
            assert_eq!(written.size, bytes.len() as u64, "{c:?}");
            assert_eq!(written.sha256, crate::fsutil::hex(&Sha256::digest(&bytes)));
            let plain = crate::crypt::decrypt_bytes(&bytes, &pass).unwrap();
            let tar_bytes = match c {
                Codec::Zstd => zstd::decode_all(&plain[..]).unwrap(),
                Codec::Bzip2 => {
                    let mut out = Vec::new();
                    bzip2::read::MultiBzDecoder::new(&plain[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                }
                _ => plain,
            };
            let mut tar = tar::Archive::new(&tar_bytes[..]);
            let mut entries = tar.entries().unwrap();
            let mut e = entries.next().unwrap().unwrap();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            assert!(content == data, "{c:?}: the member differs");
            assert!(entries.next().is_none());
        }
    }

    /// A full disc under encryption is reported as a full disc, not as a stopped handoff thread.
    #[test]
    fn a_full_disc_under_encryption_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::write(&source, vec![7u8; 6 * HANDOFF_BYTES]).unwrap();
        let pass = Keys::from(crate::crypt::Passphrase::new("correct horse").unwrap());
        let mut members = member(&source, 6 * HANDOFF_BYTES as u64);
        let err = write_archive(
            Path::new("/dev/full"),
            &mut members,
            Codec::None,
            Some(&pass),
            &crate::progress::NoProgress,
        )
        .err()
        .expect("writing to a full device fails");
        match err {
            Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(28), "{source}"),
            other => panic!("not an I/O error: {other}"),
        }
    }
}
