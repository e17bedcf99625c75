//! Diff stage: compares the entries of two snapshots (as `Catalogue::entries` returns them) and
//! says, for every path, what happened to it between snapshot A and snapshot B. Pure logic on
//! plain data: it reads no catalogue and writes nothing.
//!
//! Renames and copies are found by content: a file that appears in B with a content that A
//! already had is not new data. Empty files are left out of that matching, because every empty
//! file has the same content and pairing them would invent renames.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::catalogue::{Entry, Kind, Sha256};

/// What happened to one path between snapshot A and snapshot B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The path is only in B, and its content is new (or it is not a file).
    New,
    /// The path is in both, with another content, type or symlink target.
    Changed(What),
    /// The path is in both with the same content, but its mode or mtime differs.
    Metadata,
    /// The path is only in A, and its content did not move elsewhere.
    Deleted,
    /// The path is only in B; its content was at `from` in A, which is not in B.
    Renamed {
        /// The path in A.
        from: Vec<u8>,
    },
    /// The path is only in B; its content was already in A at `from`.
    Copied {
        /// A path in A with the same content (one that is still in B when there is one).
        from: Vec<u8>,
    },
    /// The path is in both and nothing recorded about it differs.
    Unchanged,
}

/// What differs about a path marked [`Change::Changed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// A file's content (its sha256).
    Content,
    /// The type: file, directory or symlink.
    Kind {
        /// The type in A.
        from: Kind,
        /// The type in B.
        to: Kind,
    },
    /// A symlink's target.
    LinkTarget,
}

impl What {
    /// A one-word name: `content`, `type` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            What::Content => "content",
            What::Kind { .. } => "type",
            What::LinkTarget => "target",
        }
    }
}

impl Change {
    /// The word used in listings: `new`, `changed`, `metadata`, `deleted`, `renamed`,
    /// `copied` or `unchanged`.
    pub fn tag(&self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Changed(_) => "changed",
            Change::Metadata => "metadata",
            Change::Deleted => "deleted",
            Change::Renamed { .. } => "renamed",
            Change::Copied { .. } => "copied",
            Change::Unchanged => "unchanged",
        }
    }
}

/// One path and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The path in B (for [`Change::Deleted`], the path in A).
    pub path: Vec<u8>,
    /// What happened to it.
    pub change: Change,
    /// Its type (in B, or in A when deleted).
    pub kind: Kind,
    /// Its size in bytes (in B, or in A when deleted); 0 for directories and symlinks.
    pub size: u64,
}

/// A number of paths and the bytes of their files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Number of paths.
    pub count: u64,
    /// Sum of their sizes, bytes.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, size: u64) {
        self.count += 1;
        self.bytes += size;
    }
}

/// Counts and bytes per kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffSummary {
    /// Paths only in B with new content.
    pub new: Tally,
    /// Paths whose content, type or symlink target changed (bytes as in B).
    pub changed: Tally,
    /// Paths whose mode or mtime alone changed.
    pub metadata: Tally,
    /// Paths only in A (bytes as in A).
    pub deleted: Tally,
    /// Paths renamed or moved.
    pub renamed: Tally,
    /// Paths that are copies of content A already had.
    pub copied: Tally,
    /// Paths with nothing changed.
    pub unchanged: Tally,
}

impl DiffSummary {
    /// Each kind of change with its tally, in the order summaries list them; the names are
    /// those of [`Change::tag`], also used as JSON keys.
    pub fn tallies(&self) -> [(&'static str, Tally); 7] {
        [
            ("new", self.new),
            ("changed", self.changed),
            ("metadata", self.metadata),
            ("deleted", self.deleted),
            ("renamed", self.renamed),
            ("copied", self.copied),
            ("unchanged", self.unchanged),
        ]
    }

    fn add(&mut self, item: &Item) {
        let t = match item.change {
            Change::New => &mut self.new,
            Change::Changed(_) => &mut self.changed,
            Change::Metadata => &mut self.metadata,
            Change::Deleted => &mut self.deleted,
            Change::Renamed { .. } => &mut self.renamed,
            Change::Copied { .. } => &mut self.copied,
            Change::Unchanged => &mut self.unchanged,
        };
        t.add(item.size);
    }
}

/// The differences between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Every path of A and B once (a renamed path once, under its new name), sorted by path
    /// bytes.
    pub items: Vec<Item>,
    /// Counts and bytes per kind of change.
    pub summary: DiffSummary,
}

impl Diff {
    /// The items that are not [`Change::Unchanged`].
    pub fn changes(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.change != Change::Unchanged)
    }
}

/// Compares snapshot A (`a`) with snapshot B (`b`). Each slice lists a snapshot's entries, one
/// per path, in any order.
#[cfg(test)]
pub fn diff(a: &[Entry], b: &[Entry]) -> Diff {
    diff_parts(a, b, &HashMap::new(), Tally::default())
}

/// Compares A with B given only what differs: `a` and `b` list the entries whose version only
/// A, or only B, has; `kept` names, for contents B's new paths may be copies of, the first path
/// of a file both have unchanged; `same` counts the paths both have unchanged (added to
/// `unchanged`, not listed in `items`).
pub fn diff_parts(a: &[Entry], b: &[Entry], kept: &HashMap<Sha256, Vec<u8>>, same: Tally) -> Diff {
    let in_a: HashMap<&[u8], &Entry> = a.iter().map(|e| (e.path.as_slice(), e)).collect();
    let in_b: HashSet<&[u8]> = b.iter().map(|e| e.path.as_slice()).collect();
    let mut items = Vec::with_capacity(b.len());
    let mut added: Vec<&Entry> = Vec::new();
    for e in b {
        match in_a.get(e.path.as_slice()) {
            Some(old) => items.push(item(e, compare(old, e))),
            None => added.push(e),
        }
    }
    let mut gone: Vec<&Entry> = a
        .iter()
        .filter(|e| !in_b.contains(e.path.as_slice()))
        .collect();
    gone.sort_by(|x, y| x.path.cmp(&y.path));
    added.sort_by(|x, y| x.path.cmp(&y.path));
    let renamed = match_renames(&gone, &added);
    let sources = copy_sources(a, &in_b, kept);
    for e in added {
        let change = match renamed.get(e.path.as_slice()) {
            Some(from) => Change::Renamed {
                from: from.to_vec(),
            },
            None => match content(e).and_then(|sha| sources.get(&sha)) {
                Some(from) => Change::Copied {
                    from: from.to_vec(),
                },
                None => Change::New,
            },
        };
        items.push(item(e, change));
    }
    let taken: HashSet<&[u8]> = renamed.values().copied().collect();
    for e in gone
        .into_iter()
        .filter(|e| !taken.contains(e.path.as_slice()))
    {
        items.push(item(e, Change::Deleted));
    }
    items.sort_by(|x, y| x.path.cmp(&y.path));
    let mut summary = DiffSummary::default();
    items.iter().for_each(|i| summary.add(i));
    summary.unchanged.count += same.count;
    summary.unchanged.bytes += same.bytes;
    Diff { items, summary }
}

fn item(e: &Entry, change: Change) -> Item {
    Item {
        path: e.path.clone(),
        change,
        kind: e.kind,
        size: e.size,
    }
}

/// What happened to a path that is in both snapshots.
fn compare(a: &Entry, b: &Entry) -> Change {
    if a.kind != b.kind {
        return Change::Changed(What::Kind {
            from: a.kind,
            to: b.kind,
        });
    }
    if a.sha256 != b.sha256 {
        return Change::Changed(What::Content);
    }
    if a.link_target != b.link_target {
        return Change::Changed(What::LinkTarget);
    }
    if a.mode != b.mode || a.mtime_ns != b.mtime_ns {
        return Change::Metadata;
    }
    Change::Unchanged
}

/// The content of a non-empty file: the key for rename and copy matching.
fn content(e: &Entry) -> Option<Sha256> {
    match (e.kind, e.sha256) {
        (Kind::File, Some(sha)) if e.size > 0 => Some(sha),
        _ => None,
    }
}

/// Pairs paths only in B with paths only in A of the same content: new path -> old path. Each
/// old path is used once. Among several old paths, one with the same file name wins (a moved
/// directory keeps its file names), then the first in byte order.
fn match_renames<'a>(gone: &[&'a Entry], added: &[&'a Entry]) -> HashMap<&'a [u8], &'a [u8]> {
    let mut by_content: HashMap<Sha256, Vec<&'a [u8]>> = HashMap::new();
    for e in gone {
        if let Some(sha) = content(e) {
            by_content.entry(sha).or_default().push(&e.path);
        }
    }
    let mut out = HashMap::new();
    for e in added {
        let Some(candidates) = content(e).and_then(|sha| by_content.get_mut(&sha)) else {
            continue;
        };
        if candidates.is_empty() {
            continue;
        }
        let name = file_name(&e.path);
        let pick = candidates
            .iter()
            .position(|p| file_name(p) == name)
            .unwrap_or(0);
        out.insert(e.path.as_slice(), candidates.remove(pick));
    }
    out
}

/// For every content of A, the path a copy is reported from: the first path (in byte order)
/// that is still in B, else the first path. `kept_too` adds paths of A that are still in B.
fn copy_sources<'a>(
    a: &'a [Entry],
    in_b: &HashSet<&[u8]>,
    kept_too: &'a HashMap<Sha256, Vec<u8>>,
) -> HashMap<Sha256, &'a [u8]> {
    let mut paths: BTreeMap<&'a [u8], Sha256> = BTreeMap::new();
    for e in a {
        if let Some(sha) = content(e) {
            paths.insert(&e.path, sha);
        }
    }
    for (sha, path) in kept_too {
        paths.insert(path, *sha);
    }
    let mut out: HashMap<Sha256, &'a [u8]> = HashMap::new();
    for (path, sha) in paths {
        let kept = in_b.contains(path) || kept_too.get(&sha).is_some_and(|p| p == path);
        let first_kept =
            |first: &[u8]| in_b.contains(first) || kept_too.get(&sha).is_some_and(|p| p == first);
        match out.get(&sha) {
            Some(first) if first_kept(first) || !kept => {}
            _ => {
                out.insert(sha, path);
            }
        }
    }
    out
}

fn file_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: Kind::File,
            size: content.len() as u64,
            mtime_ns: 1_000,
            mode: 0o644,
            sha256: Some({
                use sha2::Digest;
                Sha256(sha2::Sha256::digest(content.as_bytes()).into())
            }),
            link_target: None,
            inode: 0,
            ctime_ns: 0,
            ..Entry::default()
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            kind: Kind::Dir,
            size: 0,
            sha256: None,
            mode: 0o755,
            ..file(path, "")
        }
    }

    fn link(path: &str, target: &str) -> Entry {
        Entry {
            kind: Kind::Symlink,
            size: 0,
            sha256: None,
            link_target: Some(target.as_bytes().to_vec()),
            mode: 0o777,
            ..file(path, "")
        }
    }

    /// The changes as `tag path` or `tag from -> path` lines.
    fn lines(d: &Diff) -> Vec<String> {
        d.changes()
            .map(|i| {
                let p = String::from_utf8_lossy(&i.path);
                match &i.change {
                    Change::Renamed { from } | Change::Copied { from } => {
                        format!(
                            "{} {} -> {p}",
                            i.change.tag(),
                            String::from_utf8_lossy(from)
                        )
                    }
                    c => format!("{} {p}", c.tag()),
                }
            })
            .collect()
    }

    #[test]
    fn unchanged_snapshots_have_no_changes() {
        let a = vec![dir("d"), file("d/x", "xx"), link("l", "d/x")];
        let d = diff(&a, &a);
        assert!(lines(&d).is_empty());
        assert_eq!(d.summary.unchanged, Tally { count: 3, bytes: 2 });
        assert_eq!(d.items.len(), 3);
    }

    #[test]
    fn rename_in_place() {
        let a = vec![file("old.txt", "abc"), file("keep", "k")];
        let b = vec![file("keep", "k"), file("new.txt", "abc")];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["renamed old.txt -> new.txt"]);
        assert_eq!(d.summary.renamed, Tally { count: 1, bytes: 3 });
        assert_eq!(d.summary.deleted, Tally::default());
        assert_eq!(d.summary.new, Tally::default());
    }

    #[test]
    fn move_of_a_directory_pairs_files_by_name() {
        let a = vec![
            dir("p"),
            dir("p/2019"),
            file("p/2019/a.jpg", "same"),
            file("p/2019/b.jpg", "same"),
        ];
        let b = vec![
            dir("p"),
            dir("q"),
            file("q/a.jpg", "same"),
            file("q/b.jpg", "same"),
        ];
        let d = diff(&a, &b);
        assert_eq!(
            lines(&d),
            [
                "deleted p/2019",
                "new q",
                "renamed p/2019/a.jpg -> q/a.jpg",
                "renamed p/2019/b.jpg -> q/b.jpg",
            ]
        );
    }

    #[test]
    fn each_deleted_path_is_renamed_once_then_copied() {
        let a = vec![file("x", "data")];
        let b = vec![file("y", "data"), file("z", "data")];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["renamed x -> y", "copied x -> z"]);
    }

    #[test]
    fn copy_of_a_file_that_stays() {
        let a = vec![file("a", "1"), file("b", "1"), file("c", "2")];
        let b = vec![
            file("a", "1"),
            file("b", "1"),
            file("c", "2"),
            file("d", "1"),
            file("e", "3"),
        ];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["copied a -> d", "new e"]);
        assert_eq!(d.summary.copied, Tally { count: 1, bytes: 1 });
        assert_eq!(d.summary.new, Tally { count: 1, bytes: 1 });
    }

    #[test]
    fn copy_is_reported_from_a_path_still_in_b() {
        let a = vec![file("a", "1"), file("b", "1")];
        let b = vec![file("b", "1"), file("c", "1"), file("d", "1")];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["renamed a -> c", "copied b -> d"]);
    }

    #[test]
    fn delete() {
        let a = vec![dir("d"), file("d/x", "12345"), file("y", "y")];
        let b = vec![file("y", "y")];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["deleted d", "deleted d/x"]);
        assert_eq!(d.summary.deleted, Tally { count: 2, bytes: 5 });
    }

    #[test]
    fn content_type_and_target_changes() {
        let a = vec![file("f", "1"), file("t", "1"), link("l", "f")];
        let b = vec![file("f", "2"), dir("t"), link("l", "t")];
        let d = diff(&a, &b);
        assert_eq!(lines(&d), ["changed f", "changed l", "changed t"]);
        let whats: Vec<_> = d.items.iter().map(|i| i.change.clone()).collect();
        assert_eq!(
            whats,
            [
                Change::Changed(What::Content),
                Change::Changed(What::LinkTarget),
                Change::Changed(What::Kind {
                    from: Kind::File,
                    to: Kind::Dir
                }),
            ]
        );
        assert_eq!(d.summary.changed.count, 3);
    }

    #[test]
    fn metadata_change() {
        let a = vec![file("m", "1"), file("t", "1"), dir("d")];
        let mut m = file("m", "1");
        m.mode = 0o600;
        let mut t = file("t", "1");
        t.mtime_ns = 2_000;
        let mut d2 = dir("d");
        d2.mode = 0o700;
        let d = diff(&a, &[m, t, d2]);
        assert_eq!(lines(&d), ["metadata d", "metadata m", "metadata t"]);
        assert_eq!(d.summary.metadata, Tally { count: 3, bytes: 2 });
    }

    #[test]
    fn empty_files_are_not_paired() {
        let a = vec![file("gone", "")];
        let b = vec![file("fresh", "")];
        assert_eq!(lines(&diff(&a, &b)), ["new fresh", "deleted gone"]);
    }

    /// Comparing only what differs (and the common files a copy may come from) gives what
    /// comparing both snapshots whole gives, but for the unchanged paths not listed.
    #[test]
    fn only_what_differs_gives_the_same_changes() {
        let a = vec![
            file("same.txt", "x"),
            file("changed.txt", "old"),
            file("gone.txt", "moved"),
            file("kept/source.txt", "copied"),
            dir("kept"),
        ];
        let b = vec![
            file("same.txt", "x"),
            file("changed.txt", "new"),
            file("moved/here.txt", "moved"),
            file("copy.txt", "copied"),
            file("kept/source.txt", "copied"),
            dir("kept"),
            dir("moved"),
        ];
        let whole = diff(&a, &b);
        let common: Vec<&Entry> = a.iter().filter(|e| b.contains(e)).collect();
        let only_a: Vec<Entry> = a.iter().filter(|e| !b.contains(e)).cloned().collect();
        let only_b: Vec<Entry> = b.iter().filter(|e| !a.contains(e)).cloned().collect();
        let kept: HashMap<Sha256, Vec<u8>> = common
            .iter()
            .filter_map(|e| Some((e.sha256?, e.path.clone())))
            .collect();
        let same = Tally {
            count: common.len() as u64,
            bytes: common.iter().map(|e| e.size).sum(),
        };
        let parts = diff_parts(&only_a, &only_b, &kept, same);
        assert_eq!(parts.summary, whole.summary);
        assert_eq!(lines(&parts), lines(&whole));
        assert!(
            lines(&whole).iter().any(|l| l.starts_with("copied")),
            "{:?}",
            lines(&whole)
        );
        assert!(
            lines(&whole).iter().any(|l| l.starts_with("renamed")),
            "{:?}",
            lines(&whole)
        );
    }
}
