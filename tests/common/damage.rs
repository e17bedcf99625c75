//! Damage done on purpose: a flipped byte, a file cut short, a change that leaves the mtime as
//! it was (as bit rot does).

use std::fs;
use std::path::Path;

/// Flips every bit of the byte at `offset` of the file at `path`; its size stays. Panics when
/// the file is not that long.
pub fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}"));
    assert!(
        offset < bytes.len(),
        "{path:?} has only {} bytes",
        bytes.len()
    );
    bytes[offset] ^= 0xff;
    fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
}

/// [`flip_byte`] at the middle of the file (offset `len / 2`).
pub fn flip_middle_byte(path: &Path) {
    flip_byte(path, file_len(path) / 2);
}

/// Cuts the file at `path` to half its length (rounded down).
pub fn truncate_to_half(path: &Path) {
    let f = fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {path:?}: {e}"));
    f.set_len(file_len(path) as u64 / 2)
        .unwrap_or_else(|e| panic!("cannot truncate {path:?}: {e}"));
}

/// Runs `change`, then sets the mtime of `path` (a file or a directory) back to what it was
/// before, to the nanosecond.
pub fn keeping_mtime<T>(path: &Path, change: impl FnOnce() -> T) -> T {
    let before = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("cannot stat {path:?}: {e}"));
    let result = change();
    fs::File::open(path)
        .and_then(|f| f.set_times(fs::FileTimes::new().set_modified(before)))
        .unwrap_or_else(|e| panic!("cannot set the mtime of {path:?}: {e}"));
    result
}

fn file_len(path: &Path) -> usize {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {path:?}: {e}"))
        .len() as usize
}
