//! Writes one archive file: tar, then compression, then OpenPGP encryption, streamed into a
//! temporary file whose bytes are hashed as they are written. Nothing is held whole in memory.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::parbz::ParBzWriter;
use super::Compression;
use crate::crypt::{EncryptWriter, Passphrase};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::hex;
use crate::progress::Progress;

/// One tar member to write: `len` bytes of `source` from `offset`, hashed into `hasher`.
pub(crate) struct MemberSpec<'h> {
    pub name: Vec<u8>,
    pub source: std::path::PathBuf,
    pub offset: u64,
    pub len: u64,
    pub mode: u32,
    pub mtime_ns: i64,
    pub hasher: &'h mut Sha256,
}

/// The archive file as written.
pub(crate) struct Written {
    pub size: u64,
    pub sha256: String,
}

/// A writer that hashes and counts what passes through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
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

impl Layer for EncryptWriter<'_> {
    fn finish_layer(self: Box<Self>) -> io::Result<()> {
        (*self).finish()
    }
}

/// bzip2 in parallel: one complete stream per 900 kB block (see [`super::parbz`]).
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

fn compress_layer<'a>(
    inner: Box<dyn Layer + 'a>,
    c: Compression,
) -> io::Result<Box<dyn Layer + 'a>> {
    Ok(match c {
        Compression::None => inner,
        Compression::Auto => {
            unreachable!("invariant: auto is resolved before an archive is written")
        }
        Compression::Bzip2 => Box::new(Bz(ParBzWriter::new(inner))),
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(inner, 3)?;
            enc.multithread(rayon::current_num_threads() as u32)?;
            Box::new(Zst(enc))
        }
    })
}

/// Writes the members into a new archive file at `path` and syncs it to disc.
pub(crate) fn write_archive(
    path: &Path,
    members: &mut [MemberSpec<'_>],
    compression: Compression,
    passphrase: Option<&Passphrase>,
    progress: &dyn Progress,
) -> Result<Written> {
    let file = File::create(path).ctx("create", path)?;
    let mut sink = HashWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        count: 0,
    };
    {
        let base: Box<dyn Layer + '_> = match passphrase {
            Some(p) => Box::new(EncryptWriter::new(&mut sink, p)?),
            None => Box::new(Plain(&mut sink)),
        };
        let top = compress_layer(base, compression).ctx("start compressing", path)?;
        let mut tar = tar::Builder::new(top);
        for m in members.iter_mut() {
            append_member(&mut tar, m, progress).map_err(|e| match e {
                Error::Io { source, .. } if source.raw_os_error().is_some() => {
                    Error::io("write", path, source)
                }
                other => other,
            })?;
        }
        let top = tar.into_inner().ctx("write", path)?;
        top.finish_layer().ctx("write", path)?;
    }
    sink.inner.flush().ctx("write", path)?;
    let size = sink.count;
    let sha256 = hex(&sink.hasher.finalize());
    let file = sink
        .inner
        .into_inner()
        .map_err(|e| Error::io("write", path, e.into_error()))?;
    file.sync_all().ctx("sync", path)?;
    Ok(Written { size, sha256 })
}

fn append_member<W: Write>(
    tar: &mut tar::Builder<W>,
    m: &mut MemberSpec<'_>,
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
        hasher: m.hasher,
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
