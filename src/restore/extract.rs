//! Reading one archive: decrypt, decompress, untar, and write the wanted members into the
//! staging directory (named by content hash, never by member name).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread::Scope;

use sha2::{Digest, Sha256};

use crate::catalogue::Archive;
use crate::crypt::{DecryptReader, Passphrase};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::hex;
use crate::progress::Progress;
use crate::restore::bzread::ParBzReader;

/// A member restore wants from an archive.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub sha256: String,
    pub offset: u64,
    pub length: u64,
    /// The content is this one member (not split): its hash can be checked while writing.
    pub whole: bool,
}

/// What reading one archive gave.
#[derive(Debug, Default)]
pub(crate) struct Got {
    /// Members written to staging (by member name).
    pub members: Vec<Vec<u8>>,
    /// Whole contents whose hash did not match (sha256).
    pub bad: Vec<String>,
    /// The archive file's bytes differ from what was recorded when it was written.
    pub file_changed: bool,
    /// Damage that stopped the reading part-way.
    pub error: Option<Error>,
}

/// The staging file of a content.
pub(crate) fn stage_path(stage: &Path, sha256: &str) -> PathBuf {
    stage.join(sha256)
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
pub(crate) fn plain_reader<'scope, R: Read + Send + Sync + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    raw: R,
    a: &Archive,
    passphrase: Option<&Passphrase>,
    path: &Path,
) -> Result<Box<dyn Read + 'scope>> {
    let compressed = decrypted(raw, a, passphrase, path)?;
    Ok(match a.compression.as_str() {
        "bzip2" => {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            Box::new(ParBzReader::new(scope, compressed, workers))
        }
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(compressed)
                .map_err(|e| Error::Damaged(format!("zstd: {e}")))?,
        ),
        "none" => compressed,
        other => return Err(Error::Damaged(format!("unknown compression {other:?}"))),
    })
}

/// The compressed stream inside an archive file: decrypted when it is encrypted.
fn decrypted<'a, R: Read + Send + Sync + 'a>(
    raw: R,
    a: &Archive,
    passphrase: Option<&Passphrase>,
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

/// Reads `path` (archive `a`) and writes the wanted members into `stage`. Damage part-way
/// (a flipped bit, a truncated file) does not lose the members read before it: they are
/// returned with the error in `Got::error`. Only a wrong passphrase is an `Err`.
pub(crate) fn read_archive(
    path: &Path,
    a: &Archive,
    passphrase: Option<&Passphrase>,
    wanted: &HashMap<Vec<u8>, Wanted>,
    stage: &Path,
    progress: &dyn Progress,
) -> Result<Got> {
    let file = File::open(path).ctx("open", path)?;
    let mut raw = HashReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
    };
    let mut got = Got::default();
    let read = Members {
        path,
        wanted,
        stage,
        progress,
    };
    match read.read(&mut raw, a, passphrase, &mut got) {
        Ok(()) => {}
        Err(e @ Error::WrongPassphrase(_)) => return Err(e),
        Err(e) => got.error = Some(e),
    }
    // Hash the rest of the file too, to compare with what was recorded when it was written.
    if io::copy(&mut raw, &mut io::sink()).is_err() {
        got.file_changed = true;
    }
    got.file_changed |= hex(&raw.hasher.finalize()) != a.sha256;
    Ok(got)
}

struct Members<'a> {
    path: &'a Path,
    wanted: &'a HashMap<Vec<u8>, Wanted>,
    stage: &'a Path,
    progress: &'a dyn Progress,
}

impl Members<'_> {
    fn read(
        &self,
        raw: &mut HashReader<BufReader<File>>,
        a: &Archive,
        passphrase: Option<&Passphrase>,
        got: &mut Got,
    ) -> Result<()> {
        std::thread::scope(|scope| {
            let mut data = plain_reader(scope, raw, a, passphrase, self.path)?;
            self.members(&mut data, got)
        })
    }

    /// Writes the wanted members of the tar stream `data` into staging.
    fn members(&self, mut data: &mut dyn Read, got: &mut Got) -> Result<()> {
        let path = self.path;
        {
            let mut tar = tar::Archive::new(&mut data);
            for entry in tar.entries().map_err(|e| damaged(path, e))? {
                let mut entry = entry.map_err(|e| damaged(path, e))?;
                let name = entry.path_bytes().into_owned();
                let Some(w) = self.wanted.get(&name) else {
                    continue;
                };
                if entry.header().entry_type() != tar::EntryType::Regular
                    || entry.size() != w.length
                {
                    return Err(damaged(path, "a member does not match the catalogue"));
                }
                let ok = write_member(&mut entry, w, self.stage, self.progress)
                    .map_err(|e| damaged(path, e))?;
                if ok {
                    got.members.push(name);
                } else {
                    got.bad.push(w.sha256.clone());
                }
            }
        }
        // Read to the end so the OpenPGP integrity check (MDC) runs.
        io::copy(&mut data, &mut io::sink()).map_err(|e| damaged(path, e))?;
        Ok(())
    }
}

fn damaged(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Damaged(format!("{}: {e}", path.display()))
}

/// Writes one member into its staging file; false when a whole content's hash is wrong.
fn write_member(
    entry: &mut impl Read,
    w: &Wanted,
    stage: &Path,
    progress: &dyn Progress,
) -> io::Result<bool> {
    let path = stage_path(stage, &w.sha256);
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)?;
    f.seek(SeekFrom::Start(w.offset))?;
    let mut h = Sha256::new();
    let mut buf = crate::fsutil::read_buffer(w.length);
    let mut n = 0u64;
    loop {
        let k = entry.read(&mut buf)?;
        if k == 0 {
            break;
        }
        f.write_all(&buf[..k])?;
        if w.whole {
            h.update(&buf[..k]);
        }
        n += k as u64;
        progress.advance(k as u64, 0);
    }
    if n != w.length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "member is short",
        ));
    }
    if w.whole && hex(&h.finalize()) != w.sha256 {
        drop(f);
        std::fs::remove_file(&path)?;
        return Ok(false);
    }
    Ok(true)
}
