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
