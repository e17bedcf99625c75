//! Writing a large file around the page cache (`O_DIRECT`), where the file system allows it.
//!
//! Why: an archive is written once, synced, and not read again by this run except by the
//! recovery data's pass, which reads it the same way. Copying it into the page cache first
//! costs a core as much as compressing it on machines whose fresh memory pages are slow to
//! touch (virtual machines), and evicts the source tree's pages for nothing. Whole aligned
//! blocks go straight to the device; the last partial block is written normally. Where
//! `O_DIRECT` is refused (tmpfs, some network file systems), the file is written as usual.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use butcher_par2::io::{AlignedBuf, ALIGN};

/// Bytes written at once.
const BUF: usize = 1 << 20;

/// A new file written around the page cache where it can be; call [`finish`](Self::finish).
pub(crate) struct DirectWriter {
    file: File,
    buf: AlignedBuf,
    filled: usize,
    direct: bool,
}

impl DirectWriter {
    /// Creates (or truncates) `path`.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let open = |flags: i32| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(flags)
                .open(path)
        };
        let (file, direct) = match open(libc::O_DIRECT) {
            Ok(f) => (f, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(0)?, false),
            Err(e) => return Err(e),
        };
        Ok(DirectWriter {
            file,
            buf: AlignedBuf::new(BUF),
            filled: 0,
            direct,
        })
    }

    /// Writes the whole blocks of the buffer; keeps the rest.
    fn write_blocks(&mut self) -> io::Result<()> {
        let whole = self.filled / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        match self.file.write_all(&self.buf[..whole]) {
            Ok(()) => {}
            // A file system that took the open but refuses the write: the rest goes through
            // the page cache.
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                self.stop_direct()?;
                self.file.write_all(&self.buf[..whole])?;
            }
            Err(e) => return Err(e),
        }
        self.buf.copy_within(whole..self.filled, 0);
        self.filled -= whole;
        Ok(())
    }

    /// Clears `O_DIRECT` on the file: what follows is written through the page cache.
    fn stop_direct(&mut self) -> io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this struct owns; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct = false;
        Ok(())
    }

    /// Writes what is left (the last, partial block through the page cache) and returns the
    /// file, not yet synced.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        self.write_blocks()?;
        if self.filled > 0 {
            self.stop_direct()?;
            self.file.write_all(&self.buf[..self.filled])?;
            self.filled = 0;
        }
        Ok(self.file)
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = data.len().min(self.buf.len() - self.filled);
        self.buf[self.filled..self.filled + take].copy_from_slice(&data[..take]);
        self.filled += take;
        if self.filled == self.buf.len() {
            self.write_blocks()?;
        }
        Ok(take)
    }

    /// Whole blocks are written as the buffer fills; the rest waits for [`DirectWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A file read from start to end around the page cache where the file system allows it: an
/// archive written around it is read back at the device's speed, without filling the page
/// cache with it. Reads are whole aligned chunks, on the thread that reads and hashes the
/// archive ahead of its decryption (`archive::ReadAhead::hashing`).
pub(crate) struct DirectReader {
    input: butcher_par2::io::Input,
    size: u64,
    buf: AlignedBuf,
    /// File offset of the next chunk.
    next: u64,
    /// `buf[at..end]` is not read yet.
    at: usize,
    end: usize,
}

impl DirectReader {
    /// Opens regular file `path` (anything else is refused, as by `fsutil::open_regular`).
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let input = butcher_par2::io::Input::open(path)?;
        let size = input.file.metadata()?.len();
        let len = (size.min(BUF as u64) as usize).div_ceil(ALIGN) * ALIGN;
        Ok(DirectReader {
            input,
            size,
            buf: AlignedBuf::new(len),
            next: 0,
            at: 0,
            end: 0,
        })
    }
}

impl io::Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.end {
            if self.next >= self.size || out.is_empty() {
                return Ok(0);
            }
            let take = (self.size - self.next).min(self.buf.len() as u64) as usize;
            self.input.read_slice(self.next, &mut self.buf, take)?;
            self.next += take as u64;
            self.at = 0;
            self.end = take;
        }
        let n = out.len().min(self.end - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_back_whole_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, ALIGN - 1, ALIGN, BUF + 3, 2 * BUF + 4097] {
            let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
            let path = dir.path().join(format!("r{len}"));
            let mut w = DirectWriter::create(&path).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap().sync_all().unwrap();
            let mut back = Vec::new();
            io::Read::read_to_end(&mut DirectReader::open(&path).unwrap(), &mut back).unwrap();
            assert_eq!(back, data, "{len} bytes");
        }
    }

    #[test]
    fn every_length_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            BUF - 1,
            BUF,
            BUF + 3,
            3 * BUF + 4097,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            let mut w = DirectWriter::create(&path).unwrap();
            for part in data.chunks(100_003) {
                w.write_all(part).unwrap();
            }
            w.finish().unwrap().sync_all().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "{len} bytes");
        }
    }
}
