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

/// The longest file name (one path component) Linux file systems accept.
const MAX_NAME_BYTES: usize = 255;

/// The longest path restore writes below TARGET: PATH_MAX (4096, with its NUL) less one.
pub const MAX_PATH_BYTES: usize = crate::catalogue::MAX_PATH_BYTES;

/// The longest symlink target Linux accepts.
const MAX_LINK_TARGET_BYTES: usize = 4095;

/// An entry restore cannot write, and why.
pub type Refused = (Vec<u8>, String);

/// Keeps the entries a restore writes: those matching `globs` (or below a match), plus their
/// ancestor directories. An entry restore must not or cannot write is refused with the reason:
/// an unsafe path, a path through a symlink or below a file of the snapshot (and that symlink
/// or file itself), a name or a symlink target longer than the file system takes. One such
/// entry loses that entry only.
pub fn select(mut entries: Vec<Entry>, globs: Option<&GlobSet>) -> (Vec<Entry>, Vec<Refused>) {
    // In byte order of their paths (the catalogue gives them so), the lookups below are binary
    // searches: no index of every path is held beside the entries.
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let below = below_non_dirs(&entries);
    let why: Vec<Option<String>> = entries
        .iter()
        .zip(&below)
        .map(|(e, b)| unusable(e, b.map(|i| &entries[i]), &entries))
        .collect();
    let keep = globs.map(|g| kept_paths(g, entries.iter().zip(&why)));
    // In place: a second vector of a million entries would double what they cost.
    let mut refused = Vec::new();
    let mut why = why.into_iter();
    entries.retain(|e| match why.next().flatten() {
        Some(why) => {
            if selected(globs, &e.path) {
                refused.push((e.path.clone(), why));
            }
            false
        }
        None => keep.as_ref().is_none_or(|k| k.contains(&e.path)),
    });
    if entries.len() < entries.capacity() / 2 {
        entries.shrink_to_fit();
    }
    (entries, refused)
}

/// Whether `path` is selected by `globs` (matches, or lies below a match); every path is when
/// there are none.
pub fn selected(globs: Option<&GlobSet>, path: &[u8]) -> bool {
    globs.is_none_or(|g| matches_or_below(g, path))
}

/// The paths of usable entries that `globs` selects, with their ancestors.
fn kept_paths<'e>(
    globs: &GlobSet,
    entries: impl Iterator<Item = (&'e Entry, &'e Option<String>)>,
) -> HashSet<Vec<u8>> {
    let mut keep = HashSet::new();
    for (e, _) in entries.filter(|(e, why)| why.is_none() && matches_or_below(globs, &e.path)) {
        keep.insert(e.path.clone());
        keep.extend(ancestors(&e.path).map(<[u8]>::to_vec));
    }
    keep
}

/// For each entry of `all` (sorted by path), the shallowest file or symlink of `all` it lies
/// below, by index. The paths below one path are one run of a sorted list, and a run is
/// marked once: linear in the entries, however deep they nest (looking up each ancestor of
/// each entry would be quadratic in the depth, times the length of the names compared).
fn below_non_dirs(all: &[Entry]) -> Vec<Option<usize>> {
    let mut below = vec![None; all.len()];
    let mut i = 0;
    while i < all.len() {
        if all[i].kind == Kind::Dir || below[i].is_some() {
            i += 1;
            continue;
        }
        let mut prefix = all[i].path.clone();
        prefix.push(b'/');
        let from = i + 1 + all[i + 1..].partition_point(|e| e.path < prefix);
        let mut j = from;
        while j < all.len() && all[j].path.starts_with(&prefix) {
            below[j] = Some(i);
            j += 1;
        }
        i += 1;
    }
    below
}

/// Why restore cannot write entry `e` of a snapshot whose entries, in byte order of their
/// paths, are `all`, if it cannot; `below` is the shallowest file or symlink of `all` it lies
/// below, if any.
fn unusable(e: &Entry, below: Option<&Entry>, all: &[Entry]) -> Option<String> {
    if !is_safe(&e.path) {
        return Some(
            "its path is unsafe (absolute, or with an empty, . or .. part); refused".into(),
        );
    }
    if e.path.len() > MAX_PATH_BYTES {
        return Some(format!(
            "its path is {} bytes, longer than {MAX_PATH_BYTES}",
            e.path.len()
        ));
    }
    if e.path
        .split(|&b| b == b'/')
        .any(|c| c.len() > MAX_NAME_BYTES)
    {
        return Some(format!(
            "a name in its path is longer than {MAX_NAME_BYTES} bytes"
        ));
    }
    if let Some(why) = bad_link_target(e) {
        return Some(why);
    }
    if e.kind == Kind::File && e.sha256.is_none() {
        return Some("its catalogue entry names no content (no sha256)".into());
    }
    match below {
        Some(a) if a.kind == Kind::Symlink => {
            return Some(format!(
                "it lies below the symlink {:?}; refused",
                String::from_utf8_lossy(&a.path)
            ))
        }
        Some(a) => {
            return Some(format!(
                "it lies below {:?}, which is a file in the same snapshot",
                String::from_utf8_lossy(&a.path)
            ))
        }
        None => {}
    }
    if e.kind != Kind::Dir && has_paths_below(all, &e.path) {
        return Some("other paths of the snapshot lie below it, but it is not a directory".into());
    }
    None
}

/// Why the symlink target of `e` cannot be made, if it cannot: none, empty, holding a NUL
/// byte (no system call takes either), or too long.
fn bad_link_target(e: &Entry) -> Option<String> {
    if e.kind != Kind::Symlink {
        return None;
    }
    let t = e.link_target.as_deref().unwrap_or_default();
    if t.is_empty() {
        Some("its symlink target is empty".into())
    } else if t.contains(&0) {
        Some("its symlink target holds a NUL byte".into())
    } else if t.len() > MAX_LINK_TARGET_BYTES {
        Some(format!(
            "its symlink target is {} bytes, longer than {MAX_LINK_TARGET_BYTES}",
            t.len()
        ))
    } else {
        None
    }
}

/// Whether any entry of `all` (sorted by path) lies below `path`.
fn has_paths_below(all: &[Entry], path: &[u8]) -> bool {
    let mut prefix = path.to_vec();
    prefix.push(b'/');
    let i = all.partition_point(|e| e.path < prefix);
    all.get(i).is_some_and(|e| e.path.starts_with(&prefix))
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
            sha256: (kind == Kind::File).then_some(crate::catalogue::Sha256([0; 32])),
            link_target: None,
            inode: 0,
            ctime_ns: 0,
            ..Entry::default()
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
        let (kept, refused) = select(vec![e("../x", Kind::File), e("ok", Kind::File)], None);
        assert_eq!(kept.len(), 1);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, b"../x");
    }

    /// A file entry that names no content loses itself, not the restore.
    #[test]
    fn a_file_without_a_sha256_is_refused() {
        let mut bare = e("bare", Kind::File);
        bare.sha256 = None;
        let (kept, refused) = select(vec![bare, e("ok", Kind::File)], None);
        assert_eq!(kept.len(), 1);
        assert_eq!(refused[0].0, b"bare");
        assert!(refused[0].1.contains("no sha256"), "{}", refused[0].1);
    }

    #[test]
    fn paths_restore_cannot_write_are_refused_one_by_one() {
        let mut long_target = e("long-link", Kind::Symlink);
        long_target.link_target = Some(vec![b'x'; 200_000]);
        let long_name = format!("d/{}", "n".repeat(256));
        let mut l = e("l", Kind::Symlink);
        l.link_target = Some(b"x".to_vec());
        let v = vec![
            e("d", Kind::Dir),
            e(&long_name, Kind::File),
            e("d/fine.txt", Kind::File),
            e("f", Kind::File),
            e("f/child", Kind::File),
            l,
            e("l/x", Kind::File),
            long_target,
        ];
        let (kept, refused) = select(v, None);
        let kept: Vec<_> = kept.iter().map(|e| e.path.clone()).collect();
        // A file or symlink with paths below it conflicts with them: both are refused.
        assert_eq!(kept, [&b"d"[..], b"d/fine.txt"]);
        let why: std::collections::HashMap<Vec<u8>, String> = refused.into_iter().collect();
        assert!(why[long_name.as_bytes()].contains("longer than 255"));
        assert!(why[&b"f/child"[..]].contains("which is a file"));
        assert!(why[&b"l/x"[..]].contains("below the symlink"));
        assert!(why[&b"long-link"[..]].contains("symlink target"));
        assert!(why[&b"f"[..]].contains("not a directory"));
        assert!(why[&b"l"[..]].contains("not a directory"));
    }

    /// Symlink targets no system call takes lose their symlink, and only it.
    #[test]
    fn empty_and_nul_symlink_targets_are_refused() {
        let link = |path: &str, to: &[u8]| {
            let mut l = e(path, Kind::Symlink);
            l.link_target = Some(to.to_vec());
            l
        };
        let v = vec![link("empty", b""), link("nul", b"a\0b"), link("ok", b"x")];
        let (kept, refused) = select(v, None);
        assert_eq!(kept.len(), 1);
        let why: std::collections::HashMap<Vec<u8>, String> = refused.into_iter().collect();
        assert!(why[&b"empty"[..]].contains("empty"));
        assert!(why[&b"nul"[..]].contains("NUL"));
    }

    /// Paths below a file lose themselves however many there are and however deep, each
    /// naming the file; checking them is linear (a chain 2,000 deep would take minutes if
    /// every ancestor of every path were looked up).
    #[test]
    fn paths_below_a_file_in_a_deep_chain_are_refused() {
        let mut v = vec![e("f", Kind::File), e("g", Kind::Dir)];
        let mut p = String::from("f");
        let mut q = String::from("g");
        for _ in 0..2000 {
            p.push_str("/d");
            q.push_str("/d");
            v.push(e(&p, Kind::Dir));
            v.push(e(&q, Kind::Dir));
        }
        let (kept, refused) = select(v, None);
        assert_eq!(kept.len(), 2001);
        assert_eq!(refused.len(), 2001);
        assert!(refused
            .iter()
            .any(|(p, why)| p == b"f" && why.contains("not a directory")));
        assert!(refused
            .iter()
            .filter(|(p, _)| p != b"f")
            .all(|(_, why)| why.contains("\"f\", which is a file")));
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
            .0
            .into_iter()
            .map(|e| String::from_utf8(e.path).unwrap())
            .collect();
        assert_eq!(kept, vec!["a", "a/b", "a/b/c.jpg"]);
        let g = globs(&["*.txt".to_string()]).unwrap();
        let kept: Vec<_> = select(v, g.as_ref())
            .0
            .into_iter()
            .map(|e| String::from_utf8(e.path).unwrap())
            .collect();
        assert_eq!(kept, vec!["a", "a/d.txt", "z", "z/y.txt"]);
    }
}
