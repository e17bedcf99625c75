//! File access shared by creation, checking and repair.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Reads up to `buf.len()` bytes at `offset`; fills what lies past the end of the file with
/// zeros and returns how many bytes came from the file.
pub fn read_padded(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[got..].fill(0);
    Ok(got)
}

/// The alignment `O_DIRECT` asks of buffers, lengths and offsets (any device's logical block
/// size divides it).
pub const ALIGN: usize = 4096;

/// A zeroed buffer of `len` bytes whose start is aligned to [`ALIGN`].
pub struct AlignedBuf {
    v: Vec<u8>,
    off: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeroed bytes, aligned.
    pub fn new(len: usize) -> Self {
        let v = vec![0u8; len + ALIGN];
        let off = v.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { v, off, len }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.v[self.off..self.off + self.len]
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.v[self.off..self.off + self.len]
    }
}

/// An input file opened twice: as usual, and around the page cache (`O_DIRECT`) for reading
/// whole aligned blocks when the file system allows it. A file just written around the page
/// cache is read back at the device's speed, without filling the page cache with it.
pub struct Input {
    pub file: File,
    direct: Option<File>,
}

impl Input {
    /// Opens regular file `path` (see [`open_regular`]).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = open_regular(path)?;
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_DIRECT)
            .open(path)
            .ok()
            .filter(|d| same_file(&file, d));
        Ok(Input { file, direct })
    }

    /// Reads `take` bytes at `offset` into the start of `buf` (zeros past the end of the
    /// file) and zeros the rest of `buf`. Around the page cache when `offset` and `buf` are
    /// aligned and `buf` is a whole number of blocks.
    pub fn read_slice(&self, offset: u64, buf: &mut [u8], take: usize) -> io::Result<()> {
        let take = take.min(buf.len());
        let aligned = offset.is_multiple_of(ALIGN as u64)
            && (buf.as_ptr() as usize).is_multiple_of(ALIGN)
            && buf.len().is_multiple_of(ALIGN);
        match (&self.direct, aligned) {
            (Some(d), true) => {
                // Whole blocks up to `take` rounded up: what lies past `take` is past the end
                // of the file's slice, zeroed below. A read that stops short met the file's end.
                let want = take.div_ceil(ALIGN) * ALIGN;
                let mut got = 0;
                while got < want {
                    match d.read_at(&mut buf[got..want], offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => {
                            got += n;
                            if !got.is_multiple_of(ALIGN) {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Refused after all (a device wanting a larger alignment): as usual.
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && got == 0 => {
                            read_padded(&self.file, offset, &mut buf[..take])?;
                            got = take;
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                buf[got.min(take)..].fill(0);
            }
            _ => {
                read_padded(&self.file, offset, &mut buf[..take])?;
                buf[take..].fill(0);
            }
        }
        Ok(())
    }
}

/// Whether two open files are the same file.
fn same_file(a: &File, b: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Opens `path` for reading when it is a regular file (or a link to one); anything else is
/// refused with [`io::ErrorKind::InvalidInput`]. The open does not wait: a FIFO without a
/// writer would block a plain open forever, and a device (`/dev/zero`) never ends.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Creates `path` afresh for reading and writing. What lies there is removed first and the
/// file is created exclusively, so that a link planted under that name is replaced, never
/// followed to write elsewhere.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Whether `name` is a plain file name: not empty, not `.` or `..`, no `/` and no NUL. Only
/// such a name is joined onto the directory of a set, so that nothing outside it is read or
/// written.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\0']) && name != "." && name != ".."
}

/// An error naming the file it concerns.
pub fn err(action: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
}

/// Flushes a directory's entries to the device.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err("sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned() {
        for len in [0, 1, 4096, 100_000] {
            let b = AlignedBuf::new(len);
            assert!((b.as_ptr() as usize).is_multiple_of(ALIGN));
            assert_eq!(b.len(), len);
        }
    }

    #[test]
    fn a_slice_reads_the_same_around_the_page_cache_or_through_it() {
        let dir = std::env::temp_dir().join(format!("butcher-par2-io-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let data: Vec<u8> = (0..3 * ALIGN + 1234).map(|i| (i % 251) as u8 + 1).collect();
        fs::write(&path, &data).unwrap();
        let input = Input::open(&path).unwrap();
        for (offset, take) in [(0, 2 * ALIGN), (ALIGN, 2 * ALIGN + 1234), (2 * ALIGN, 5000)] {
            let mut buf = AlignedBuf::new(3 * ALIGN);
            buf.fill(0xEE);
            input.read_slice(offset as u64, &mut buf, take).unwrap();
            let end = (offset + take).min(data.len());
            let want_file = &data[offset..end];
            assert_eq!(&buf[..want_file.len()], want_file, "at {offset}");
            assert!(
                buf[want_file.len()..].iter().all(|b| *b == 0),
                "zeros after, at {offset}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
