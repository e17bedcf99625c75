//! Which entries of a snapshot to restore, and the checks that keep restore inside TARGET.

use std::collections::HashSet;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::catalogue::{Entry, Kind};
use crate::error::{Error, Result};
use crate::fsutil::bytes_path;

/// Builds the set of path globs (restore's `--path`, the GLOBs of `ls` and `where`).
pub fn globs(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim_end_matches('/');
        b.add(Glob::new(p).map_err(|e| Error::Usage(format!("bad path pattern {p:?}: {e}")))?);
    }
    Ok(Some(b.build().map_err(|e| Error::Usage(e.to_string()))?))
}

/// True when a catalogue path is relative, has no `.`/`..`/empty components and no NUL.
pub fn is_safe(path: &[u8]) -> bool {
    !path.is_empty()
        && path[0] != b'/'
        && !path.contains(&0)
        && path
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// The ancestors of a path, nearest last (`a/b/c` -> `a`, `a/b`).
pub fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'/')
        .map(move |(i, _)| &path[..i])
}

/// True when `path` matches one of `globs` or lies below a path that does.
pub fn matches_or_below(globs: &GlobSet, path: &[u8]) -> bool {
    let matches = |p: &[u8]| globs.is_match(bytes_path(p));
    matches(path) || ancestors(path).any(matches)
}

/// Keeps the entries a restore writes: those matching `globs` (or below a match), plus their
/// ancestor directories. Refuses unsafe paths and paths that lead through a symlink.
pub fn select(entries: Vec<Entry>, globs: Option<&GlobSet>) -> Result<Vec<Entry>> {
    for e in &entries {
        if !is_safe(&e.path) {
            return Err(Error::Damaged(format!(
                "the catalogue holds an unsafe path {:?}; refusing to restore",
                String::from_utf8_lossy(&e.path)
            )));
        }
    }
    let symlinks: HashSet<&[u8]> = entries
        .iter()
        .filter(|e| e.kind == Kind::Symlink)
        .map(|e| e.path.as_slice())
        .collect();
    for e in &entries {
        if let Some(a) = ancestors(&e.path).find(|a| symlinks.contains(a)) {
            return Err(Error::Damaged(format!(
                "the catalogue path {:?} leads through the symlink {:?}; refusing to restore",
                String::from_utf8_lossy(&e.path),
                String::from_utf8_lossy(a)
            )));
        }
    }
    let Some(g) = globs else { return Ok(entries) };
    let mut keep: HashSet<Vec<u8>> = HashSet::new();
    for e in &entries {
        if matches_or_below(g, &e.path) {
            keep.insert(e.path.clone());
            for a in ancestors(&e.path) {
                keep.insert(a.to_vec());
            }
        }
    }
    Ok(entries
        .into_iter()
        .filter(|e| keep.contains(&e.path))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: Kind) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind,
            size: 0,
            mtime_ns: 0,
            mode: 0o644,
            sha256: None,
            link_target: None,
            inode: 0,
            ctime_ns: 0,
        }
    }

    #[test]
    fn unsafe_paths() {
        for bad in ["", "/etc/x", "../x", "a/../../x", "a//b", "./a", "a/."] {
            assert!(!is_safe(bad.as_bytes()), "{bad}");
        }
        for good in ["a", "a/b", "..a", "a..", ".hidden/x"] {
            assert!(is_safe(good.as_bytes()), "{good}");
        }
        assert!(select(vec![e("../x", Kind::File)], None).is_err());
    }

    #[test]
    fn path_through_symlink_is_refused() {
        let v = vec![e("l", Kind::Symlink), e("l/x", Kind::File)];
        assert!(select(v, None).is_err());
    }

    #[test]
    fn glob_selects_subtree_and_ancestors() {
        let v = vec![
            e("a", Kind::Dir),
            e("a/b", Kind::Dir),
            e("a/b/c.jpg", Kind::File),
            e("a/d.txt", Kind::File),
            e("z", Kind::Dir),
            e("z/y.txt", Kind::File),
        ];
        let g = globs(&["a/b".to_string()]).unwrap();
        let kept: Vec<_> = select(v.clone(), g.as_ref())
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.path).unwrap())
            .collect();
        assert_eq!(kept, vec!["a", "a/b", "a/b/c.jpg"]);
        let g = globs(&["*.txt".to_string()]).unwrap();
        let kept: Vec<_> = select(v, g.as_ref())
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.path).unwrap())
            .collect();
        assert_eq!(kept, vec!["a", "a/d.txt", "z", "z/y.txt"]);
    }
}
