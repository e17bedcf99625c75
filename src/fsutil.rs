//! Small file-system helpers shared by the stages: raw path bytes, durable writes, times.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};
use crate::layout::TMP_SUFFIX;

/// The raw bytes of a path (paths are kept byte-exact, UTF-8 or not).
pub fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// A path from raw bytes.
pub fn bytes_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    system_time_ns(SystemTime::now())
}

/// Nanoseconds since the epoch of a `SystemTime` (negative before 1970).
pub fn system_time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

/// Writes `data` to `dir/name` durably: a temporary name, fsync, rename, fsync of the directory.
/// A crash leaves either no file or the whole file under `name`, never a partial one. Returns
/// the sha256 (hex) of `data`.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<String> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let (_, sha256) = write_atomic_with(dir, name, |w| w.write_all(data).ctx("write", &tmp))?;
    Ok(sha256)
}

/// A read buffer for a file of `size` bytes: up to 1 MiB, but no bigger than the file, so
/// that tens of thousands of small files do not each cost a zeroed MiB.
pub fn read_buffer(size: u64) -> Vec<u8> {
    let len = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    vec![0u8; len.clamp(8 << 10, 1 << 20)]
}

/// A writer that counts and hashes (sha256) what goes through it.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Counts and hashes what is written to `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the bytes written and their sha256 (hex).
    pub fn into_parts(self) -> (W, u64, String) {
        (self.inner, self.len, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Like [`write_atomic`], the content streamed by `fill` instead of held in memory. Returns
/// its length and sha256 (hex).
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut HashingWriter<io::BufWriter<File>>) -> Result<()>,
) -> Result<(u64, String)> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let dst = dir.join(name);
    let f = File::create(&tmp).ctx("create", &tmp)?;
    let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f));
    fill(&mut w)?;
    let (buffered, len, sha256) = w.into_parts();
    let f = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .ctx("write", &tmp)?;
    f.sync_all().ctx("sync", &tmp)?;
    drop(f);
    fs::rename(&tmp, &dst).ctx("rename into place", &dst)?;
    sync_dir(dir)?;
    Ok((len, sha256))
}

/// Flushes a directory's entries to stable storage.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("sync directory", dir)
}

/// True when `dir` does not exist or is an empty directory.
pub fn is_missing_or_empty(dir: &Path) -> io::Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Bytes from lowercase or uppercase hex; `None` when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Joins a catalogue path (relative, `/`-separated bytes) onto a root.
pub fn join_rel(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(bytes_path(rel))
}

/// The first `max` bytes of a file at most: small files a disc carries (README.txt,
/// SHA256SUMS) are read with a bound, so a damaged or crafted one cannot fill memory.
pub fn read_head(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open_regular(path)?.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// Opens `path` for reading when it is a regular file (or a link to one), else fails with
/// [`io::ErrorKind::InvalidInput`]: what a disc directory holds is not trusted, and a FIFO
/// would block the open forever, a device (`/dev/zero`) never end. The open does not wait.
/// One rule with the recovery data's reader, which is where it lives.
pub use butcher_par2::io::open_regular;

/// sha256 of a whole file (hex) and its length. Only a regular file is read ([`open_regular`]).
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = read_buffer(f.metadata()?.len());
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_times() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(unhex("000f10FF"), Some(vec![0, 15, 16, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        let before = UNIX_EPOCH - std::time::Duration::new(5, 1);
        assert_eq!(system_time_ns(before), -5_000_000_001);
        let after = UNIX_EPOCH + std::time::Duration::new(1_500_000_000, 123_456_789);
        assert_eq!(system_time_ns(after), 1_500_000_000_123_456_789);
    }
}
