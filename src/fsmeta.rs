//! File metadata helpers over libc: extended attributes, owner names and ids, ownership and
//! times of a path itself (never following a symlink), and a writer that leaves holes for
//! zero blocks.
//!
//! Backup uses the reading side, restore the writing side. Every call works on the path
//! itself: a symlink's own metadata is read or set, not its target's. Errors are the
//! operating system's (`io::Error::last_os_error`). The extended attribute calls are the
//! Linux ones (`llistxattr`, `lgetxattr`, `lsetxattr`).

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::hash::Hash;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::{fs, mem, ptr};

/// A path as a C string; a path with an interior NUL byte is an `InvalidInput` error.
fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// True for the errors of a file system without extended attribute support.
fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| c == libc::ENOTSUP || c == libc::EOPNOTSUPP)
}

/// The result of a libc call that returns 0 on success and -1 (setting `errno`) on failure.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs a size-query-then-fill call (`call(null, 0)` gives the size), retrying with a fresh
/// size when the value grew in between (`ERANGE`).
fn sized_read(mut call: impl FnMut(*mut u8, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let size = call(ptr::null_mut(), 0);
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize + 256];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

/// All extended attributes of `path` itself (a symlink's own, not its target's), as
/// (name, value) pairs sorted by name, in every namespace the kernel lists (`user.`,
/// `system.`, `security.`, `trusted.`). A file system without extended attributes gives an
/// empty list; an attribute removed while it is being read is left out.
pub fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let p = c_path(path)?;
    // SAFETY: `p` is a valid C string and `buf` points to `len` writable bytes (or is null
    // with `len` 0, the size query).
    let list = sized_read(|buf, len| unsafe { libc::llistxattr(p.as_ptr(), buf.cast(), len) });
    let list = match list {
        Ok(list) => list,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut attrs = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let c_name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: as above, for the value of one attribute.
        let value = sized_read(|buf, len| unsafe {
            libc::lgetxattr(p.as_ptr(), c_name.as_ptr(), buf.cast(), len)
        });
        match value {
            Ok(value) => attrs.push((name.to_vec(), value)),
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    attrs.sort();
    Ok(attrs)
}

/// Sets each (name, value) extended attribute on `path` itself (a symlink's own, not its
/// target's). Every attribute is tried; the first error, if any, is returned.
pub fn write_xattrs(path: &Path, attrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    let p = c_path(path)?;
    let mut first = None;
    for (name, value) in attrs {
        let result = CString::new(name.as_slice())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))
            .and_then(|n| {
                let (v, len) = (value.as_ptr().cast(), value.len());
                // SAFETY: both are valid C strings; `value` is readable for its length.
                check(unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), v, len, 0) })
            });
        if let Err(e) = result {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// A process-wide cache of owner lookups, misses included.
type Cache<K, V> = OnceLock<Mutex<HashMap<K, Option<V>>>>;

/// Answers `key` from `cache`, else by `look`, remembering the answer.
fn cached<K: Hash + Eq, V: Clone>(
    cache: &Cache<K, V>,
    key: K,
    look: impl FnOnce() -> Option<V>,
) -> Option<V> {
    let map = cache.get_or_init(Mutex::default);
    if let Some(answer) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return answer.clone();
    }
    let answer = look();
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.insert(key, answer.clone());
    answer
}

/// The C entry types of the `get*_r` calls.
///
/// # Safety
/// All-zero bytes must be a valid value of the type.
unsafe trait CEntry {}
// SAFETY: plain C structs of integers and pointers.
unsafe impl CEntry for libc::passwd {}
// SAFETY: as above.
unsafe impl CEntry for libc::group {}

/// Runs a reentrant `get*_r` call with a buffer that grows on `ERANGE`, then reads the entry
/// it filled with `take` (while its buffer is alive).
fn lookup<T: CEntry, R>(
    mut call: impl FnMut(*mut T, *mut libc::c_char, usize, *mut *mut T) -> libc::c_int,
    take: impl FnOnce(&T) -> Option<R>,
) -> Option<R> {
    // SAFETY: all-zero is a valid `T` (the contract of `CEntry`).
    let mut entry: T = unsafe { mem::zeroed() };
    let mut buf = vec![0u8; 1024];
    loop {
        let mut found: *mut T = ptr::null_mut();
        match call(&mut entry, buf.as_mut_ptr().cast(), buf.len(), &mut found) {
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            libc::EINTR => {}
            0 if !found.is_null() => return take(&entry),
            _ => return None,
        }
    }
}

/// A name field of a filled `passwd` or `group` entry as UTF-8, if it is.
fn utf8(field: *const libc::c_char) -> Option<String> {
    if field.is_null() {
        return None;
    }
    // SAFETY: a non-null name field of a filled entry is a NUL-terminated string in its buffer.
    let name = unsafe { CStr::from_ptr(field) };
    name.to_str().ok().map(String::from)
}

// SAFETY (the `get*_r` calls below): each writes only into the entry, buffer (of the length
// given) and result pointer it is handed; names are valid C strings.

/// The name of user `uid`, or None when it has none or it is not UTF-8 (cached per process).
pub fn user_name(uid: u32) -> Option<String> {
    static CACHE: Cache<u32, String> = OnceLock::new();
    cached(&CACHE, uid, || {
        let call = |e, b, n, r| unsafe { libc::getpwuid_r(uid, e, b, n, r) };
        lookup(call, |e: &libc::passwd| utf8(e.pw_name))
    })
}

/// The name of group `gid`, or None when it has none or it is not UTF-8 (cached per process).
pub fn group_name(gid: u32) -> Option<String> {
    static CACHE: Cache<u32, String> = OnceLock::new();
    cached(&CACHE, gid, || {
        let call = |e, b, n, r| unsafe { libc::getgrgid_r(gid, e, b, n, r) };
        lookup(call, |e: &libc::group| utf8(e.gr_name))
    })
}

/// The uid of the user called `name`, or None when there is none (cached per process).
pub fn uid_of(name: &str) -> Option<u32> {
    static CACHE: Cache<String, u32> = OnceLock::new();
    let c_name = CString::new(name).ok()?;
    cached(&CACHE, name.to_owned(), || {
        let call = |e, b, n, r| unsafe { libc::getpwnam_r(c_name.as_ptr(), e, b, n, r) };
        lookup(call, |e: &libc::passwd| Some(e.pw_uid))
    })
}

/// The gid of the group called `name`, or None when there is none (cached per process).
pub fn gid_of(name: &str) -> Option<u32> {
    static CACHE: Cache<String, u32> = OnceLock::new();
    let c_name = CString::new(name).ok()?;
    cached(&CACHE, name.to_owned(), || {
        let call = |e, b, n, r| unsafe { libc::getgrnam_r(c_name.as_ptr(), e, b, n, r) };
        lookup(call, |e: &libc::group| Some(e.gr_gid))
    })
}

/// Sets the owner and group of `path` itself (a symlink's own, not its target's).
pub fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let p = c_path(path)?;
    // SAFETY: `p` is a valid C string.
    check(unsafe { libc::lchown(p.as_ptr(), uid, gid) })
}

/// Sets the modification time of `path` itself (a symlink's own, not its target's) to
/// `mtime_ns` nanoseconds since the epoch, negative before 1970; the access time is left as it is.
pub fn set_mtime_nofollow(path: &Path, mtime_ns: i64) -> io::Result<()> {
    const NS: i64 = 1_000_000_000;
    let p = c_path(path)?;
    // SAFETY: `timespec` is a plain C struct; all-zero is valid (some targets have padding).
    let mut times: [libc::timespec; 2] = unsafe { mem::zeroed() };
    times[0].tv_nsec = libc::UTIME_OMIT;
    times[1].tv_sec = mtime_ns.div_euclid(NS) as libc::time_t;
    times[1].tv_nsec = mtime_ns.rem_euclid(NS) as _;
    let (at, nofollow) = (libc::AT_FDCWD, libc::AT_SYMLINK_NOFOLLOW);
    // SAFETY: `p` is a valid C string and `times` holds the two entries utimensat reads.
    check(unsafe { libc::utimensat(at, p.as_ptr(), times.as_ptr(), nofollow) })
}

/// True when the process runs with effective uid 0 (it may then set any owner).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The bytes of storage `path` itself takes on disk (512-byte blocks, from `lstat`); less than
/// its length when the file has holes.
pub fn allocated_bytes(path: &Path) -> io::Result<u64> {
    Ok(fs::symlink_metadata(path)?.blocks() * 512)
}

/// Sets the length of `file` to `end` if it is shorter; never shortens it.
pub fn extend_to(file: &fs::File, end: u64) -> io::Result<()> {
    if file.metadata()?.len() < end {
        file.set_len(end)?;
    }
    Ok(())
}

/// The block size of [`SparseWriter`]: aligned blocks of this many zero bytes become holes.
const BLOCK: usize = 4096;

/// True when every byte is zero.
fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Makes `len` bytes of `file` from `offset` read as zeros by freeing their blocks (a hole;
/// the file's length is kept). Fails where the file system cannot (the caller then writes
/// every byte).
pub fn punch_hole(file: &fs::File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate on a valid open descriptor; no memory is passed.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off,
            n,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A writer that writes into a file from a given offset and leaves a hole (a seek) in place of
/// every block of 4096 zero bytes aligned on the file's absolute offsets, so a sparse file
/// comes back sparse. Bytes are gathered internally, so writes of any size still get the holes;
/// partial blocks at unaligned edges are written as they are.
///
/// Skipped blocks are not written, so the range written must read as zeros beforehand (a new
/// file, or a hole). The writer never truncates, since pieces of one file may be written in any
/// order; skipped blocks at the end do not lengthen the file, so after [`SparseWriter::finish`]
/// the caller must extend the file to the end offset it returns, with [`extend_to`] (that is,
/// `set_len(max(current length, end))`). After an error the writer should be dropped.
pub struct SparseWriter<W> {
    inner: W,
    /// The absolute offset of the next byte given to `write` (past the pending bytes).
    pos: u64,
    /// Where the inner writer's cursor is.
    inner_pos: u64,
    /// Pending bytes of the current block, which end at `pos`.
    pending: Vec<u8>,
}

impl<W: Write + Seek> SparseWriter<W> {
    /// Wraps `inner` and positions it at absolute offset `start`.
    pub fn new(mut inner: W, start: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(start))?;
        let pending = Vec::with_capacity(BLOCK);
        Ok(Self {
            inner,
            pos: start,
            inner_pos: start,
            pending,
        })
    }

    /// Writes out the pending bytes, flushes the inner writer and returns it with the absolute
    /// end offset of everything written; extend the file to it with [`extend_to`].
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.flush()?;
        Ok((self.inner, self.pos))
    }

    /// Writes `bytes` at absolute offset `at`, seeking first if the cursor is elsewhere.
    fn write_at(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.inner_pos != at {
            self.inner.seek(SeekFrom::Start(at))?;
        }
        self.inner.write_all(bytes)?;
        self.inner_pos = at + bytes.len() as u64;
        Ok(())
    }

    /// Writes the pending bytes, unless they are one whole aligned block of zeros.
    fn write_pending(&mut self) -> io::Result<()> {
        let mut pending = mem::take(&mut self.pending);
        let hole = pending.len() == BLOCK && is_zero(&pending);
        let at = self.pos - pending.len() as u64;
        let result = if hole {
            Ok(())
        } else {
            self.write_at(at, &pending)
        };
        pending.clear();
        self.pending = pending;
        result
    }
}

impl<W: Write + Seek> Write for SparseWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let in_block = (self.pos % BLOCK as u64) as usize;
            if self.pending.is_empty() && in_block == 0 && rest.len() >= BLOCK {
                // Whole aligned blocks straight from `rest`, each run of data blocks in one write.
                let whole = rest.len() / BLOCK * BLOCK;
                let data_block = |i: usize| !is_zero(&rest[i..i + BLOCK]);
                let mut i = 0;
                while i < whole {
                    let run = i;
                    while i < whole && data_block(i) {
                        i += BLOCK;
                    }
                    self.write_at(self.pos + run as u64, &rest[run..i])?;
                    i += if i < whole { BLOCK } else { 0 }; // a zero block: skip it
                }
                self.pos += whole as u64;
                rest = &rest[whole..];
                continue;
            }
            let take = (BLOCK - in_block).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            self.pos += take as u64;
            rest = &rest[take..];
            if self.pos.is_multiple_of(BLOCK as u64) {
                self.write_pending()?;
            }
        }
        Ok(data.len())
    }

    /// Writes any pending partial block (no hole can then be left for it) and flushes.
    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    /// A temp dir holding a file `f` and a symlink `l` to it.
    fn file_and_link() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (file, link) = (dir.path().join("f"), dir.path().join("l"));
        fs::write(&file, b"x").unwrap();
        symlink(&file, &link).unwrap();
        (dir, file, link)
    }

    fn user_attrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
        let all = read_xattrs(path).unwrap().into_iter();
        all.filter(|(n, _)| n.starts_with(b"user.")).collect()
    }

    #[test]
    fn xattrs_round_trip_and_not_through_symlinks() {
        let (_dir, file, link) = file_and_link();
        let attrs = vec![
            (b"user.b".to_vec(), b"2".to_vec()),
            (b"user.a".to_vec(), vec![0, 1]),
        ];
        match write_xattrs(&file, &attrs) {
            Err(e) if unsupported(&e) => {
                println!("temp file system refuses user xattrs ({e}); checking empty reads only");
                assert_eq!(read_xattrs(&file).unwrap(), vec![]);
                return;
            }
            other => other.unwrap(),
        }
        assert_eq!(user_attrs(&file), [attrs[1].clone(), attrs[0].clone()]);
        let on_link = read_xattrs(&link).unwrap();
        assert!(on_link.iter().all(|a| !attrs.contains(a)), "{on_link:?}");
        // All attributes are tried: an unknown namespace fails, the next one still lands.
        let more = vec![
            (b"bogus.x".to_vec(), b"1".to_vec()),
            (b"user.c".to_vec(), b"3".to_vec()),
        ];
        assert!(write_xattrs(&file, &more).is_err());
        assert_eq!(user_attrs(&file).len(), 3);
        let nul = Path::new(std::ffi::OsStr::from_bytes(b"a\0b"));
        assert_eq!(
            read_xattrs(nul).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn owner_names() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(0).as_deref(), Some("root")); // from the cache
        assert_eq!(uid_of("root"), Some(0));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(gid_of("root"), Some(0));
        assert_eq!(user_name(4_000_000_000), None);
        assert_eq!(group_name(4_000_000_000), None);
        assert_eq!(uid_of("no-such-user-butcher"), None);
        assert_eq!(uid_of("nul\0name"), None);
    }

    fn mtime_ns(m: &fs::Metadata) -> i64 {
        m.mtime() * 1_000_000_000 + m.mtime_nsec()
    }

    #[test]
    fn mtime_of_symlink_itself() {
        let (_dir, file, link) = file_and_link();
        let target_before = mtime_ns(&fs::metadata(&file).unwrap());
        let t = 1_000_000_000_123_456_789;
        set_mtime_nofollow(&link, t).unwrap();
        assert_eq!(mtime_ns(&fs::symlink_metadata(&link).unwrap()), t);
        assert_eq!(mtime_ns(&fs::metadata(&file).unwrap()), target_before);
        set_mtime_nofollow(&link, -1_500_000_000).unwrap();
        assert_eq!(
            mtime_ns(&fs::symlink_metadata(&link).unwrap()),
            -1_500_000_000
        );
        set_mtime_nofollow(&file, -1).unwrap();
        assert_eq!(mtime_ns(&fs::metadata(&file).unwrap()), -1);
    }

    #[test]
    fn sparse_writer_leaves_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let mut want = vec![0u8; 1 << 20];
        want.extend_from_slice(b"0123456789");
        want.extend_from_slice(&[0u8; 1 << 20]);
        let file = fs::File::create(&path).unwrap();
        let mut w = SparseWriter::new(file, 0).unwrap();
        for chunk in want.chunks(1000) {
            w.write_all(chunk).unwrap();
        }
        let (file, end) = w.finish().unwrap();
        assert_eq!(end, want.len() as u64);
        extend_to(&file, end).unwrap();
        extend_to(&file, 10).unwrap(); // never shortens
        drop(file);
        assert_eq!(fs::read(&path).unwrap(), want);
        let allocated = allocated_bytes(&path).unwrap();
        assert!(allocated < 64 * 1024, "{allocated} bytes allocated");
    }

    #[test]
    fn sparse_writer_from_unaligned_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("piece");
        fs::write(&path, [0xAA; 1000]).unwrap();
        let mut piece = vec![0u8; 3096 + 8192];
        piece.extend_from_slice(b"tail");
        piece.extend_from_slice(&[0u8; 9000]);
        piece[5] = 7;
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut w = SparseWriter::new(file, 1000).unwrap();
        for chunk in piece.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        let (file, end) = w.finish().unwrap();
        extend_to(&file, end).unwrap();
        drop(file);
        let mut want = vec![0xAA; 1000];
        want.extend_from_slice(&piece);
        assert_eq!(fs::read(&path).unwrap(), want);
    }

    #[test]
    fn lchown_does_not_follow() {
        let (_dir, file, link) = file_and_link();
        let me = fs::metadata(&file).unwrap();
        lchown(&link, me.uid(), me.gid()).unwrap();
        if !is_root() {
            println!("not root: only chowning to the current owner");
            return;
        }
        lchown(&link, 1234, 1234).unwrap();
        let l = fs::symlink_metadata(&link).unwrap();
        assert_eq!((l.uid(), l.gid()), (1234, 1234));
        let f = fs::metadata(&file).unwrap();
        assert_eq!((f.uid(), f.gid()), (me.uid(), me.gid()));
        lchown(&file, 1234, 1234).unwrap();
        let f = fs::metadata(&file).unwrap();
        assert_eq!((f.uid(), f.gid()), (1234, 1234));
    }
}
