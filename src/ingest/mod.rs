//! Ingest stage: walks the source tree, hashes regular files (sha256, in parallel) and records a
//! snapshot's entries in the catalogue as changes to what the newest recorded snapshot has
//! (the catalogue's open versions). Reads SRC and those versions; writes `paths`, `versions`,
//! `xattrs`, `contents`, `users` and `groups` rows.
//!
//! A file whose size, mtime, inode and ctime match the newest recorded snapshot keeps its
//! recorded hash and is not read again (unless `rehash` is set).

mod hash;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::Gitignore;

use rayon::prelude::*;

use crate::catalogue::{Catalogue, Entry, Kind, Known, Recorder, RootMeta, Sha256, SnapshotId};
use crate::error::{Error, Result};
use crate::fsmeta;
use crate::fsutil::path_bytes;
use crate::progress::{Progress, Stage};

/// What the ingest stage should do.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Read every file even when its metadata says it is unchanged.
    pub rehash: bool,
    /// Paths to leave out, with everything below them (gitignore syntax, relative to SRC).
    pub exclude: Vec<String>,
    /// Files of such patterns.
    pub exclude_from: Vec<PathBuf>,
}

/// What the ingest stage found.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    /// Regular files recorded.
    pub files: u64,
    /// Directories recorded.
    pub dirs: u64,
    /// Symlinks recorded.
    pub symlinks: u64,
    /// Bytes of the regular files recorded.
    pub bytes: u64,
    /// Files read and hashed in this run.
    pub hashed_files: u64,
    /// Bytes read and hashed in this run.
    pub hashed_bytes: u64,
    /// Files not read again because their metadata matched the previous snapshot.
    pub unchanged_files: u64,
    /// Bytes of those files.
    pub unchanged_bytes: u64,
    /// Paths that could not be backed up, with the reason.
    pub skipped: Vec<String>,
    /// Files whose content differs from the previous snapshot although size and mtime match.
    pub silent_changes: Vec<String>,
    /// FIFOs, sockets and device files, which are left out.
    pub special: Vec<String>,
}

/// Walks `src`, hashes what needs hashing and records the entries of `snapshot`. The paths in
/// `own` (absolute, as below `src`: the backup's own DEST and working catalogue) are left out
/// with everything below them.
pub fn ingest(
    src: &Path,
    own: &[PathBuf],
    cat: &Catalogue,
    snapshot: SnapshotId,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestSummary> {
    check_source(src)?;
    let rules = exclusions(src, &opts.exclude, &opts.exclude_from)?;
    let leave_out = LeaveOut {
        rules: rules.as_ref(),
        own,
    };
    let mut summary = IngestSummary::default();
    let mut entries = walk(src, &leave_out, &mut summary, progress)?;
    // What the newest recorded snapshot has, path by path: the hashes and attributes of what
    // did not change are taken from it, and only what changed is recorded.
    let prev = cat.recorder()?;
    reuse_hashes(&mut entries, &prev, opts.rehash, &mut summary);
    read_xattrs(src, cat, &mut entries, &prev, &mut summary, progress)?;
    hash_files(src, &mut entries, &mut summary, progress);
    if opts.rehash {
        find_silent_changes(&entries, &prev, &mut summary, progress);
    }
    for e in &entries {
        match e.kind {
            Kind::File => {
                summary.files += 1;
                summary.bytes += e.size;
            }
            Kind::Dir => summary.dirs += 1,
            Kind::Symlink => summary.symlinks += 1,
        }
    }
    cat.record_with(prev, snapshot, &entries)?;
    let (users, groups) = owner_names(&entries);
    cat.record_owner_names(&users, &groups)?;
    let root = fs::metadata(src).map_err(|e| Error::io("read the source", src, e))?;
    cat.set_snapshot_root(
        snapshot,
        &RootMeta {
            mode: root.mode() & 0o7777,
            mtime_ns: root.mtime() * 1_000_000_000 + root.mtime_nsec(),
            uid: Some(root.uid()),
            gid: Some(root.gid()),
        },
    )?;
    Ok(summary)
}

/// Ids with their names.
type Names = Vec<(u32, String)>;

/// The names of the user and group ids the entries have, where the system knows them.
fn owner_names(entries: &[Entry]) -> (Names, Names) {
    let uids: std::collections::BTreeSet<u32> = entries.iter().filter_map(|e| e.uid).collect();
    let gids: std::collections::BTreeSet<u32> = entries.iter().filter_map(|e| e.gid).collect();
    (
        uids.into_iter()
            .filter_map(|u| fsmeta::user_name(u).map(|n| (u, n)))
            .collect(),
        gids.into_iter()
            .filter_map(|g| fsmeta::group_name(g).map(|n| (g, n)))
            .collect(),
    )
}

/// Reads the extended attributes of every entry whose inode or status change time differs
/// from the previous snapshot (changing an attribute changes the ctime); the others keep
/// the attributes recorded then.
fn read_xattrs(
    src: &Path,
    cat: &Catalogue,
    entries: &mut [Entry],
    prev: &Recorder,
    summary: &mut IngestSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let unchanged = |e: &Entry| {
        prev.known(&e.path)
            .filter(|p| p.kind == e.kind && p.inode == e.inode && p.ctime_ns == e.ctime_ns)
            .map(|p| (p.xattrs, p.version))
    };
    // Those recorded with attributes that did not change: read from the catalogue (few).
    for e in entries.iter_mut() {
        if let Some((_, version)) = unchanged(e).filter(|(n, _)| *n > 0) {
            e.xattrs = cat.version_xattrs(version)?;
        }
    }
    let failed: Vec<String> = entries
        .par_iter_mut()
        .filter_map(|e| {
            if unchanged(e).is_some() {
                return None;
            }
            let path = crate::fsutil::join_rel(src, &e.path);
            match fsmeta::read_xattrs(&path) {
                Ok(x) => {
                    e.xattrs = x;
                    None
                }
                Err(err) => Some(format!(
                    "{}: its extended attributes cannot be read ({err}); backed up without them",
                    path.display()
                )),
            }
        })
        .collect();
    for msg in failed {
        progress.warn(&msg);
        summary.skipped.push(msg);
    }
    Ok(())
}

/// Builds the exclusion rules from `--exclude` patterns and `--exclude-from` files, both in
/// gitignore syntax (`*.tmp`, `/cache/`, `!keep.tmp`, `**/node_modules`), relative to `src`.
pub(crate) fn exclusions(
    src: &Path,
    patterns: &[String],
    files: &[PathBuf],
) -> Result<Option<Gitignore>> {
    if patterns.is_empty() && files.is_empty() {
        return Ok(None);
    }
    let mut b = ignore::gitignore::GitignoreBuilder::new(src);
    for f in files {
        if let Some(e) = b.add(f) {
            return Err(Error::Usage(format!("--exclude-from {}: {e}", f.display())));
        }
    }
    for p in patterns {
        b.add_line(None, p)
            .map_err(|e| Error::Usage(format!("bad --exclude pattern {p:?}: {e}")))?;
    }
    let gi = b
        .build()
        .map_err(|e| Error::Usage(format!("bad exclusion rules: {e}")))?;
    Ok(Some(gi))
}

fn check_source(src: &Path) -> Result<()> {
    let md = fs::metadata(src).map_err(|e| Error::io("read the source", src, e))?;
    if !md.is_dir() {
        return Err(Error::Usage(format!(
            "the source {} is not a directory",
            src.display()
        )));
    }
    fs::read_dir(src).map_err(|e| Error::io("read the source", src, e))?;
    Ok(())
}

/// What the walk leaves out: the user's exclusion rules, and the backup's own files (DEST, the
/// working catalogue) when they lie inside the source.
struct LeaveOut<'a> {
    rules: Option<&'a Gitignore>,
    own: &'a [PathBuf],
}

impl LeaveOut<'_> {
    fn matches(&self, path: &Path, rel: &Path, is_dir: bool) -> bool {
        self.own.iter().any(|p| p == path)
            || self
                .rules
                .is_some_and(|ex| ex.matched(rel, is_dir).is_ignore())
    }
}

fn walk(
    src: &Path,
    leave_out: &LeaveOut<'_>,
    summary: &mut IngestSummary,
    progress: &dyn Progress,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(src)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(item) = it.next() {
        let dent = match item {
            Ok(d) => d,
            Err(e) => {
                let p = e.path().unwrap_or(src).to_path_buf();
                let msg = format!("{}: {}", p.display(), io_reason(&e));
                progress.warn(&format!("skipped {msg}"));
                summary.skipped.push(msg);
                continue;
            }
        };
        let rel = dent
            .path()
            .strip_prefix(src)
            .expect("invariant: walkdir yields paths below its root");
        let rel_bytes = path_bytes(rel).to_vec();
        if leave_out.matches(dent.path(), rel, dent.file_type().is_dir()) {
            if dent.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        match entry_of(dent.path(), rel_bytes) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {
                let msg = format!(
                    "{}: not a file, directory or symlink",
                    dent.path().display()
                );
                // FIFOs, sockets and devices have no content to keep: a note, not a problem.
                progress.note(&format!("left out {msg}"));
                summary.special.push(msg);
            }
            Err(e) => {
                let msg = format!("{}: {e}", dent.path().display());
                progress.warn(&format!("skipped {msg}"));
                summary.skipped.push(msg);
            }
        }
    }
    Ok(out)
}

fn io_reason(e: &walkdir::Error) -> String {
    match e.io_error() {
        Some(io) => io.to_string(),
        None => e.to_string(),
    }
}

/// The catalogue entry for one path; `None` for FIFOs, sockets and devices.
fn entry_of(path: &Path, rel: Vec<u8>) -> std::io::Result<Option<Entry>> {
    let md = fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        // FIFOs, sockets and devices have no content to keep.
        return Ok(None);
    };
    let link_target = match kind {
        Kind::Symlink => Some(path_bytes(&fs::read_link(path)?).to_vec()),
        _ => None,
    };
    Ok(Some(Entry {
        path: rel,
        kind,
        size: if kind == Kind::File { md.len() } else { 0 },
        mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        mode: md.mode() & 0o7777,
        sha256: None,
        link_target,
        inode: md.ino(),
        ctime_ns: md.ctime() * 1_000_000_000 + md.ctime_nsec(),
        uid: Some(md.uid()),
        gid: Some(md.gid()),
        links: if kind == Kind::File && md.nlink() > 1 {
            u32::try_from(md.nlink()).unwrap_or(u32::MAX)
        } else {
            0
        },
        dev: if kind == Kind::File && md.nlink() > 1 {
            md.dev()
        } else {
            0
        },
        xattrs: Vec::new(),
    }))
}

fn same_metadata(a: &Entry, b: &Known) -> bool {
    a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode && a.ctime_ns == b.ctime_ns
}

fn reuse_hashes(entries: &mut [Entry], prev: &Recorder, rehash: bool, summary: &mut IngestSummary) {
    if rehash {
        return;
    }
    for e in entries.iter_mut().filter(|e| e.kind == Kind::File) {
        if let Some(p) = prev.known(&e.path) {
            if p.kind == Kind::File && same_metadata(e, p) && p.sha256.is_some() {
                e.sha256 = p.sha256.map(Sha256);
                summary.unchanged_files += 1;
                summary.unchanged_bytes += e.size;
            }
        }
    }
}

/// Files read and hashed at once: more than the cores, because a file not in the page cache
/// waits on its device, and a device (an SSD most of all) reads faster with many requests in
/// flight. With 2 cores and the page cache emptied, 16 at once hashed the 1 GiB benchmark
/// corpus in 2.2 s against 3.9 s with 2; from the page cache it made no difference.
fn reading_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).clamp(16, 64)
}

/// A thread pool of [`reading_threads`] for reading and hashing the source, or `None` (the
/// global pool is used) when it cannot be made.
fn reading_pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(reading_threads())
        .thread_name(|k| format!("butcher-read-{k}"))
        .build()
        .ok()
}

fn hash_files(
    src: &Path,
    entries: &mut Vec<Entry>,
    summary: &mut IngestSummary,
    progress: &dyn Progress,
) {
    let (total_bytes, total_files) = entries
        .iter()
        .filter(|e| e.kind == Kind::File && e.sha256.is_none())
        .fold((0u64, 0u64), |(b, n), e| (b + e.size, n + 1));
    progress.start(Stage::Hash, total_bytes, total_files);
    let hash_all = || -> Vec<(usize, std::result::Result<hash::Hashed, String>)> {
        entries
            .par_iter()
            .enumerate()
            .filter(|(_, e)| e.kind == Kind::File && e.sha256.is_none())
            .map(|(i, e)| {
                let path = crate::fsutil::join_rel(src, &e.path);
                (
                    i,
                    hash::hash_stable(&path, progress).map_err(|err| err.to_string()),
                )
            })
            .collect()
    };
    let results = match reading_pool() {
        Some(pool) => pool.install(hash_all),
        None => hash_all(),
    };
    progress.finish();
    let mut drop_idx = Vec::new();
    for (i, r) in results {
        match r {
            Ok(h) => {
                let e = &mut entries[i];
                summary.hashed_files += 1;
                summary.hashed_bytes += h.size;
                if h.unstable {
                    let msg = format!(
                        "{}: changed while it was read; the last read is backed up",
                        crate::fsutil::join_rel(src, &e.path).display()
                    );
                    progress.warn(&msg);
                    summary.skipped.push(msg);
                }
                e.size = h.size;
                e.mtime_ns = h.mtime_ns;
                e.sha256 = Sha256::from_hex(&h.sha256);
            }
            Err(msg) => {
                progress.warn(&format!("skipped {msg}"));
                summary.skipped.push(msg);
                drop_idx.push(i);
            }
        }
    }
    for i in drop_idx.into_iter().rev() {
        entries.remove(i);
    }
}

fn find_silent_changes(
    entries: &[Entry],
    prev: &Recorder,
    summary: &mut IngestSummary,
    progress: &dyn Progress,
) {
    for e in entries.iter().filter(|e| e.kind == Kind::File) {
        if let Some(p) = prev.known(&e.path).filter(|p| p.kind == Kind::File) {
            if p.size == e.size && p.mtime_ns == e.mtime_ns && p.sha256 != e.sha256.map(|s| s.0) {
                let msg = format!(
                    "{}: content changed but size and mtime did not (silent corruption?)",
                    String::from_utf8_lossy(&e.path)
                );
                progress.warn(&msg);
                summary.silent_changes.push(msg);
            }
        }
    }
}
