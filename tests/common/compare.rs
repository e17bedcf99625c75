//! Exact comparison of two directory trees.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
    Unknown,
}

impl Kind {
    fn of(ft: fs::FileType) -> Kind {
        if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else {
            Kind::Unknown
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::BlockDevice => "block device",
            Kind::CharDevice => "char device",
            Kind::Unknown => "unknown file type",
        }
    }
}

struct Entry {
    kind: Kind,
    mode: u32,
    mtime: (i64, i64),
    len: u64,
    target: Option<Vec<u8>>,
}

fn scan(root: &Path) -> Result<BTreeMap<Vec<u8>, Entry>, String> {
    fn rec(root: &Path, rel: &Path, out: &mut BTreeMap<Vec<u8>, Entry>, errors: &mut Vec<String>) {
        let dir = root.join(rel);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(format!("cannot read dir {dir:?}: {e}"));
                return;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    errors.push(format!("cannot read dir {dir:?}: {e}"));
                    continue;
                }
            };
            let child = rel.join(entry.file_name());
            let abs = root.join(&child);
            let md = match fs::symlink_metadata(&abs) {
                Ok(md) => md,
                Err(e) => {
                    errors.push(format!("cannot stat {abs:?}: {e}"));
                    continue;
                }
            };
            let kind = Kind::of(md.file_type());
            let target = if kind == Kind::Symlink {
                match fs::read_link(&abs) {
                    Ok(t) => Some(t.as_os_str().as_bytes().to_vec()),
                    Err(e) => {
                        errors.push(format!("cannot read symlink {abs:?}: {e}"));
                        continue;
                    }
                }
            } else {
                None
            };
            out.insert(
                child.as_os_str().as_bytes().to_vec(),
                Entry {
                    kind,
                    mode: md.mode() & 0o7777,
                    mtime: (md.mtime(), md.mtime_nsec()),
                    len: md.len(),
                    target,
                },
            );
            if kind == Kind::Dir {
                rec(root, &child, out, errors);
            }
        }
    }

    match fs::symlink_metadata(root) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(format!("{root:?} is not a directory")),
        Err(e) => return Err(format!("cannot stat {root:?}: {e}")),
    }
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    rec(root, Path::new(""), &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("\n"))
    }
}

/// Offset of the first differing byte of two files, or `None` if equal.
fn first_difference(a: &Path, b: &Path) -> io::Result<Option<u64>> {
    const CHUNK: usize = 1 << 16;
    let mut fa = fs::File::open(a)?;
    let mut fb = fs::File::open(b)?;
    let mut ba = vec![0u8; CHUNK];
    let mut bb = vec![0u8; CHUNK];
    let mut offset = 0u64;
    loop {
        let na = fill(&mut fa, &mut ba)?;
        let nb = fill(&mut fb, &mut bb)?;
        let common = na.min(nb);
        if let Some(i) = ba[..common]
            .iter()
            .zip(&bb[..common])
            .position(|(x, y)| x != y)
        {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + common as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += na as u64;
    }
}

/// Reads until `buf` is full or end of file; returns the number of bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn show(rel: &[u8]) -> String {
    format!("{:?}", Path::new(OsStr::from_bytes(rel)))
}

fn show_bytes(b: &[u8]) -> String {
    format!("{:?}", OsStr::from_bytes(b))
}

fn show_time((s, ns): (i64, i64)) -> String {
    format!("{s}.{ns:09}")
}

/// Compares two trees exactly, by relative path (raw bytes), never following
/// symlinks:
///
/// * the set of paths and the type of each entry;
/// * regular files: content, byte for byte (streamed), mode & 0o7777, mtime
///   (seconds and nanoseconds);
/// * directories: mode & 0o7777 and mtime;
/// * symlinks: target (raw bytes).
///
/// The two roots themselves are not compared, nor are owners, atimes,
/// ctimes, symlink metadata or hard-link counts. `Err` holds a readable
/// list of all differences, one per line.
pub fn compare_trees(a: &Path, b: &Path) -> Result<(), String> {
    let left = scan(a)?;
    let right = scan(b)?;
    let mut diffs = Vec::new();

    for (rel, ea) in &left {
        let p = show(rel);
        let Some(eb) = right.get(rel) else {
            diffs.push(format!("{p}: missing in b ({} in a)", ea.kind.name()));
            continue;
        };
        if ea.kind != eb.kind {
            diffs.push(format!(
                "{p}: type differs: {} in a, {} in b",
                ea.kind.name(),
                eb.kind.name()
            ));
            continue;
        }
        match ea.kind {
            Kind::File => {
                if ea.len != eb.len {
                    diffs.push(format!(
                        "{p}: content differs: size {} in a, {} in b",
                        ea.len, eb.len
                    ));
                } else {
                    match first_difference(
                        &a.join(OsStr::from_bytes(rel)),
                        &b.join(OsStr::from_bytes(rel)),
                    ) {
                        Ok(None) => {}
                        Ok(Some(off)) => diffs.push(format!(
                            "{p}: content differs: first difference at byte offset {off} (size {})",
                            ea.len
                        )),
                        Err(e) => diffs.push(format!("{p}: cannot compare content: {e}")),
                    }
                }
            }
            Kind::Symlink if ea.target != eb.target => {
                diffs.push(format!(
                    "{p}: symlink target differs: {} in a, {} in b",
                    show_bytes(ea.target.as_deref().unwrap_or_default()),
                    show_bytes(eb.target.as_deref().unwrap_or_default())
                ));
            }
            _ => {}
        }
        if matches!(ea.kind, Kind::File | Kind::Dir) {
            if ea.mode != eb.mode {
                diffs.push(format!(
                    "{p}: mode differs: {:04o} in a, {:04o} in b",
                    ea.mode, eb.mode
                ));
            }
            if ea.mtime != eb.mtime {
                diffs.push(format!(
                    "{p}: mtime differs: {} in a, {} in b",
                    show_time(ea.mtime),
                    show_time(eb.mtime)
                ));
            }
        }
    }
    for (rel, eb) in &right {
        if !left.contains_key(rel) {
            diffs.push(format!(
                "{}: extra in b ({} not in a)",
                show(rel),
                eb.kind.name()
            ));
        }
    }

    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} difference(s) between a = {a:?} and b = {b:?}:\n  {}",
            diffs.len(),
            diffs.join("\n  ")
        ))
    }
}

/// [`compare_trees`], panicking with the list of all differences.
pub fn assert_trees_equal(a: impl AsRef<Path>, b: impl AsRef<Path>) {
    if let Err(msg) = compare_trees(a.as_ref(), b.as_ref()) {
        panic!("trees differ\n{msg}");
    }
}
