//! Restore stage: reads the catalogue copy of the newest disc at hand, works out which archives
//! hold the requested snapshot's contents, reads them into a staging directory inside TARGET,
//! checks every content's sha256, then puts files, directories and symlinks in place with their
//! modes and mtimes. A file only ever appears under its real name whole and checked.

mod bzread;
pub(crate) mod extract;
mod select;
pub mod source;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::catalogue::{Archive, Catalogue, Entry, Kind, SnapshotId};
use crate::crypt::Passphrase;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{bytes_path, is_missing_or_empty, join_rel, set_mtime};
use crate::progress::{Progress, Stage};
use extract::{read_archive, stage_path, Wanted};
pub use select::{globs, is_safe, matches_or_below};

/// Asks for a disc that is not at hand; returns a directory holding it, or `None` to give up
/// on that disc.
pub trait DiscPrompt {
    /// Disc `number` is needed.
    fn ask(&mut self, number: u32) -> Option<PathBuf>;
    /// The catalogue copy of disc `seen` was written in the middle of a backup run, so it does
    /// not describe that run's snapshot whole: the last disc of the set is needed.
    fn ask_newest(&mut self, seen: u32) -> Option<PathBuf>;
}

/// Never finds a disc.
pub struct NoPrompt;
impl DiscPrompt for NoPrompt {
    fn ask(&mut self, _number: u32) -> Option<PathBuf> {
        None
    }
    fn ask_newest(&mut self, _seen: u32) -> Option<PathBuf> {
        None
    }
}

/// What to restore, from where, to where.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// A folder of disc directories, or one disc.
    pub source: PathBuf,
    /// More folders holding disc directories.
    pub more_discs: Vec<PathBuf>,
    /// Where to restore; must not exist or be empty.
    pub target: PathBuf,
    /// Passphrase for an encrypted backup.
    pub passphrase: Option<Passphrase>,
    /// Snapshot id; default the newest complete one.
    pub snapshot: Option<i64>,
    /// Globs selecting paths (and everything below them); empty means everything.
    pub paths: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreSummary {
    /// The snapshot restored.
    pub snapshot: i64,
    /// Files restored and checked.
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Bytes of restored files.
    pub bytes: u64,
    /// Paths not restored, with the reason.
    pub not_restored: Vec<(String, String)>,
    /// Discs that were needed but not at hand.
    pub missing_discs: Vec<u32>,
    /// Problems with archives (damage), one line each.
    pub damaged: Vec<String>,
}

/// Restores a snapshot into `opts.target`.
pub fn restore(
    opts: &RestoreOptions,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
) -> Result<RestoreSummary> {
    check_target(&opts.target)?;
    let mut roots = vec![opts.source.clone()];
    roots.extend(opts.more_discs.iter().cloned());
    let dirs = source::disc_dirs(&roots)?;
    if dirs.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no butcher disc (no disc-NNNN directory and no catalogue copy)",
            opts.source.display()
        )));
    }
    let dirs = source::set_of_source(dirs, &opts.source, &|m| progress.warn(m));

    let created = !opts.target.exists();
    fs::create_dir_all(&opts.target).ctx("create the target", &opts.target)?;
    let stage = opts
        .target
        .join(format!(".butcher-restore-{}", std::process::id()));
    if let Err(e) = fs::create_dir(&stage).ctx("create", &stage) {
        if created {
            let _ = fs::remove_dir(&opts.target);
        }
        return Err(e);
    }
    let mut summary = RestoreSummary::default();
    let staged = restore_staged(dirs, opts, &stage, progress, prompt, &mut summary);
    // The staging directory holds only the catalogue copy and unchecked or partial data:
    // never leave it behind. A restore that failed before writing anything leaves no target.
    let cleaned = fs::remove_dir_all(&stage).ctx("remove", &stage);
    if staged.is_err() && created {
        let _ = fs::remove_dir(&opts.target);
    }
    let (entries, plan) = staged?;
    cleaned?;
    make_symlinks(&opts.target, &entries, &mut summary)?;
    finish_dirs(&opts.target, &entries, &mut summary)?;
    check_restored(&opts.target, &entries, &plan, &mut summary, progress);
    Ok(summary)
}

/// The part of a restore that works in the staging directory `stage`: opens the catalogue
/// (decrypted into `stage`), reads the archives into it and puts the checked files in place.
fn restore_staged(
    dirs: Vec<source::DiscDir>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
    summary: &mut RestoreSummary,
) -> Result<(Vec<Entry>, Plan)> {
    let (cat, dirs) = open_newest(dirs, opts, stage, progress, prompt)?;
    let set_id = cat.backup_set_id()?;
    let dirs = source::same_set(dirs, &set_id, &|m| progress.warn(m));
    let snapshot = pick_snapshot(&cat, opts.snapshot)?;
    summary.snapshot = snapshot.0;
    let globs = select::globs(&opts.paths)?;
    let entries = select::select(cat.entries(snapshot)?, globs.as_ref())?;
    if entries.is_empty() && !opts.paths.is_empty() {
        return Err(Error::Usage(
            "no path of the snapshot matches --path".into(),
        ));
    }
    if entries
        .iter()
        .any(|e| join_rel(&opts.target, &e.path).starts_with(stage))
    {
        return Err(Error::Usage(
            "the snapshot holds the staging directory's name".into(),
        ));
    }
    let mut plan = Plan::new(&cat, &entries)?;
    drop(cat);

    create_dirs(&opts.target, &entries)?;
    progress.start(Stage::Restore, plan.total_bytes, plan.contents.len() as u64);
    let r = read_archives(
        &mut plan, &dirs, &set_id, opts, stage, progress, prompt, summary,
    );
    progress.finish();
    r?;
    place_files(&opts.target, stage, &entries, &plan, summary, progress)?;
    Ok((entries, plan))
}

/// Opens the newest catalogue copy at hand. When it was written in the middle of a backup run
/// (its newest snapshot is still running) and that snapshot is wanted, asks for the last disc.
fn open_newest(
    mut dirs: Vec<source::DiscDir>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
) -> Result<(Catalogue, Vec<source::DiscDir>)> {
    loop {
        let warn = |m: &str| progress.warn(m);
        let (cat, _) = source::open_catalogue(&dirs, opts.passphrase.as_ref(), Some(stage), &warn)?;
        let newest = cat.snapshots()?.into_iter().next_back();
        let partial = match (&newest, opts.snapshot) {
            (Some(s), None) => !s.complete,
            (Some(s), Some(id)) => !s.complete && s.id.0 == id,
            (None, _) => false,
        };
        let seen = cat.discs()?.iter().map(|d| d.number).max().unwrap_or(0);
        if !partial {
            return Ok((cat, dirs));
        }
        let Some(dir) = prompt.ask_newest(seen) else {
            if opts.snapshot.is_none() && cat.latest_complete()?.is_some() {
                progress.warn(&format!(
                    "the catalogue of disc {seen:04} was written during a backup run that \
                     later discs finish; restoring the newest snapshot it knows whole"
                ));
            }
            return Ok((cat, dirs));
        };
        let more = source::disc_dirs(&[dir])?;
        if !more.iter().any(|d| d.number.unwrap_or(0) > seen) {
            progress.warn("that is not a later disc of this backup");
        }
        dirs.extend(more);
    }
}

fn check_target(target: &Path) -> Result<()> {
    match is_missing_or_empty(target) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Usage(format!(
            "the target {} is not empty: restore into a new or empty directory",
            target.display()
        ))),
        Err(e) => Err(Error::io("read the target", target, e)),
    }
}

fn pick_snapshot(cat: &Catalogue, wanted: Option<i64>) -> Result<SnapshotId> {
    let snaps = cat.snapshots()?;
    match wanted {
        Some(id) => snaps
            .iter()
            .find(|s| s.id.0 == id && s.complete)
            .map(|s| s.id)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no complete snapshot {id} in this catalogue (see `butcher snapshots`)"
                ))
            }),
        None => snaps
            .iter()
            .rev()
            .find(|s| s.complete)
            .map(|s| s.id)
            .ok_or_else(|| Error::Usage("the catalogue holds no complete snapshot".into())),
    }
}

/// The contents to restore and where their pieces are.
struct Plan {
    /// sha256 -> number of pieces still to read, and whether it is stored at all.
    contents: HashMap<String, ContentState>,
    /// archive id -> (archive, wanted members).
    archives: BTreeMap<i64, (Archive, HashMap<Vec<u8>, Wanted>)>,
    total_bytes: u64,
}

#[derive(Debug)]
struct ContentState {
    pieces_left: u32,
    pieces_total: u32,
    problem: Option<String>,
}

impl Plan {
    fn new(cat: &Catalogue, entries: &[Entry]) -> Result<Self> {
        let archives: HashMap<i64, Archive> =
            cat.archives()?.into_iter().map(|a| (a.id.0, a)).collect();
        let mut plan = Plan {
            contents: HashMap::new(),
            archives: BTreeMap::new(),
            total_bytes: 0,
        };
        for e in entries.iter().filter(|e| e.kind == Kind::File) {
            let sha = e
                .sha256
                .clone()
                .ok_or_else(|| Error::Damaged("a file entry has no sha256".into()))?;
            if plan.contents.contains_key(&sha) {
                continue;
            }
            let pieces = cat.pieces(&sha)?;
            let complete = cat.content_complete(&sha)?;
            let mut state = ContentState {
                pieces_left: pieces.len() as u32,
                pieces_total: pieces.len() as u32,
                problem: None,
            };
            if !complete {
                state.problem =
                    Some("its content was not stored (it changed during the backup)".into());
            }
            for p in &pieces {
                let a = archives.get(&p.archive.0).ok_or_else(|| {
                    Error::Damaged(format!("archive {} is not in the catalogue", p.archive.0))
                })?;
                let slot = plan
                    .archives
                    .entry(a.id.0)
                    .or_insert_with(|| (a.clone(), HashMap::new()));
                slot.1.insert(
                    p.member.clone(),
                    Wanted {
                        sha256: sha.clone(),
                        offset: p.offset,
                        length: p.length,
                        whole: pieces.len() == 1,
                    },
                );
                plan.total_bytes += p.length;
            }
            plan.contents.insert(sha, state);
        }
        Ok(plan)
    }
}

/// Reads every archive the plan needs: first those on the discs at hand, then, disc by disc
/// in order, those on discs that `prompt` brings. Damage to one archive never stops the rest.
#[allow(clippy::too_many_arguments)]
fn read_archives(
    plan: &mut Plan,
    dirs: &[source::DiscDir],
    set_id: &str,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
    summary: &mut RestoreSummary,
) -> Result<()> {
    let mut left: BTreeSet<i64> = plan.archives.keys().copied().collect();
    let at_hand = source::archive_files(dirs)?;
    read_found(plan, &mut left, &at_hand, opts, stage, progress, summary)?;
    let present: HashSet<u32> = dirs.iter().filter_map(|d| d.number).collect();
    let discs: BTreeSet<u32> = left.iter().map(|id| plan.archives[id].0.disc).collect();
    for disc in discs {
        while left.iter().any(|id| plan.archives[id].0.disc == disc) {
            let asked = if present.contains(&disc) {
                None
            } else {
                prompt.ask(disc)
            };
            let Some(dir) = asked else {
                give_up_disc(plan, &mut left, disc, present.contains(&disc), summary);
                break;
            };
            let found_dirs =
                source::same_set(source::disc_dirs(&[dir])?, set_id, &|m| progress.warn(m));
            let found = source::archive_files(&found_dirs)?;
            let before = left.len();
            read_found(plan, &mut left, &found, opts, stage, progress, summary)?;
            if left.len() == before {
                progress.warn(&format!("that is not disc {disc:04} of this backup"));
            }
        }
    }
    Ok(())
}

/// Gives up the archives of `disc` still to read, saying why for their files.
fn give_up_disc(
    plan: &mut Plan,
    left: &mut BTreeSet<i64>,
    disc: u32,
    disc_present: bool,
    summary: &mut RestoreSummary,
) {
    if !disc_present {
        summary.missing_discs.push(disc);
    }
    let ids: Vec<i64> = left
        .iter()
        .copied()
        .filter(|id| plan.archives[id].0.disc == disc)
        .collect();
    for id in ids {
        left.remove(&id);
        let (archive, wanted) = plan.archives[&id].clone();
        let why = if disc_present {
            format!("archive {} is missing from disc {disc:04}", archive.name)
        } else {
            format!("disc {disc:04} ({}) was not at hand", archive.name)
        };
        if disc_present {
            summary.damaged.push(why.clone());
        }
        fail_contents(plan, &wanted, &why);
    }
}

/// Reads the archives still `left` whose files are in `found`.
fn read_found(
    plan: &mut Plan,
    left: &mut BTreeSet<i64>,
    found: &HashMap<String, PathBuf>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    summary: &mut RestoreSummary,
) -> Result<()> {
    let ids: Vec<i64> = left
        .iter()
        .copied()
        .filter(|id| found.contains_key(&plan.archives[id].0.name))
        .collect();
    for id in &ids {
        left.remove(id);
    }
    // Archives are independent: read them in parallel. Each writes only its own members' byte
    // ranges into the staging files, so no two threads write the same bytes.
    let results: Vec<(i64, Result<extract::Got>)> = ids
        .par_iter()
        .map(|id| {
            let (archive, wanted) = &plan.archives[id];
            let path = &found[&archive.name];
            let pass = opts.passphrase.as_ref();
            (
                *id,
                read_archive(path, archive, pass, wanted, stage, progress),
            )
        })
        .collect();
    for (id, result) in results {
        let (archive, wanted) = plan.archives[&id].clone();
        let path = &found[&archive.name];
        match result {
            Ok(got) => {
                for m in &got.members {
                    if let Some(st) = plan.contents.get_mut(&wanted[m].sha256) {
                        st.pieces_left = st.pieces_left.saturating_sub(1);
                    }
                }
                for sha in &got.bad {
                    if let Some(st) = plan.contents.get_mut(sha) {
                        st.problem = Some(format!("its content in {} is damaged", archive.name));
                    }
                }
                if got.file_changed {
                    let m = format!("{}: the file differs from what was written", path.display());
                    progress.warn(&m);
                    summary.damaged.push(m);
                }
                if let Some(e) = got.error {
                    let m = e.to_string();
                    progress.warn(&m);
                    summary.damaged.push(m.clone());
                    let read: HashSet<&Vec<u8>> = got.members.iter().collect();
                    let unread: HashMap<Vec<u8>, Wanted> = wanted
                        .iter()
                        .filter(|(k, _)| !read.contains(k))
                        .map(|(k, w)| (k.clone(), w.clone()))
                        .collect();
                    fail_contents(plan, &unread, &m);
                }
            }
            Err(e) => {
                let m = match e {
                    // The passphrase opened the catalogue copy and a set has one passphrase:
                    // an archive it does not open is damaged (its key packet), not a reason
                    // to stop the whole restore.
                    Error::WrongPassphrase(p) => format!(
                        "{}: the passphrase of the backup does not open it; it is damaged",
                        p.display()
                    ),
                    e => e.to_string(),
                };
                progress.warn(&m);
                summary.damaged.push(m.clone());
                fail_contents(plan, &wanted, &m);
            }
        }
    }
    Ok(())
}

fn fail_contents(plan: &mut Plan, wanted: &HashMap<Vec<u8>, Wanted>, reason: &str) {
    for w in wanted.values() {
        if let Some(st) = plan.contents.get_mut(&w.sha256) {
            if st.problem.is_none() {
                st.problem = Some(reason.to_string());
            }
        }
    }
}

fn create_dirs(target: &Path, entries: &[Entry]) -> Result<()> {
    for e in entries.iter().filter(|e| e.kind == Kind::Dir) {
        let p = join_rel(target, &e.path);
        fs::create_dir_all(&p).ctx("create", &p)?;
    }
    // Parents of files whose directory entry is not in the selection.
    for e in entries.iter().filter(|e| e.kind != Kind::Dir) {
        if let Some(parent) = join_rel(target, &e.path).parent() {
            fs::create_dir_all(parent).ctx("create", parent)?;
        }
    }
    Ok(())
}

fn display(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// Moves each complete, checked content into place under every path that has it.
fn place_files(
    target: &Path,
    stage: &Path,
    entries: &[Entry],
    plan: &Plan,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let mut placed: HashMap<&str, PathBuf> = HashMap::new();
    for e in entries.iter().filter(|e| e.kind == Kind::File) {
        let sha = e
            .sha256
            .as_deref()
            .expect("invariant: checked in Plan::new");
        let st = &plan.contents[sha];
        if let Some(problem) = &st.problem {
            summary
                .not_restored
                .push((display(&e.path), problem.clone()));
            continue;
        }
        if st.pieces_left > 0 {
            summary
                .not_restored
                .push((display(&e.path), "some of its pieces were not read".into()));
            continue;
        }
        let dst = join_rel(target, &e.path);
        let staged = stage_path(stage, sha);
        match placed.get(sha) {
            None => {
                if st.pieces_total == 0 {
                    fs::write(&staged, b"").ctx("create", &staged)?;
                } else if st.pieces_total > 1 && !staged_hash_ok(&staged, sha)? {
                    let m = "its joined pieces do not match its sha256".to_string();
                    progress.warn(&format!("{}: {m}", dst.display()));
                    summary.not_restored.push((display(&e.path), m));
                    continue;
                }
                fs::rename(&staged, &dst).ctx("move into place", &dst)?;
                placed.insert(sha, dst.clone());
            }
            Some(first) => {
                fs::copy(first, &staged).ctx("copy", first)?;
                fs::rename(&staged, &dst).ctx("move into place", &dst)?;
            }
        }
        set_mtime(&dst, e.mtime_ns)?;
        fs::set_permissions(&dst, fs::Permissions::from_mode(e.mode))
            .ctx("set the mode of", &dst)?;
        summary.files += 1;
        summary.bytes += e.size;
    }
    Ok(())
}

fn staged_hash_ok(path: &Path, sha: &str) -> Result<bool> {
    let (h, _) = crate::ingest::hash_file(path).ctx("read", path)?;
    Ok(h == sha)
}

fn make_symlinks(target: &Path, entries: &[Entry], summary: &mut RestoreSummary) -> Result<()> {
    for e in entries.iter().filter(|e| e.kind == Kind::Symlink) {
        let dst = join_rel(target, &e.path);
        let to = e.link_target.as_deref().unwrap_or_default();
        std::os::unix::fs::symlink(bytes_path(to), &dst).ctx("create the symlink", &dst)?;
        summary.symlinks += 1;
    }
    Ok(())
}

/// Sets directory modes and mtimes, deepest first, after everything inside them is in place.
fn finish_dirs(target: &Path, entries: &[Entry], summary: &mut RestoreSummary) -> Result<()> {
    let mut dirs: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Dir).collect();
    dirs.sort_by_key(|e| std::cmp::Reverse(e.path.iter().filter(|&&b| b == b'/').count()));
    for e in dirs {
        let p = join_rel(target, &e.path);
        set_mtime(&p, e.mtime_ns)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(e.mode)).ctx("set the mode of", &p)?;
        summary.dirs += 1;
    }
    Ok(())
}

/// Reads every restored file back and checks its sha256 against the catalogue.
fn check_restored(
    target: &Path,
    entries: &[Entry],
    plan: &Plan,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) {
    let failed: HashSet<&str> = summary
        .not_restored
        .iter()
        .map(|(p, _)| p.as_str())
        .collect();
    let todo: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == Kind::File && !failed.contains(display(&e.path).as_str()))
        .collect();
    let _ = plan;
    progress.start(
        Stage::Check,
        todo.iter().map(|e| e.size).sum(),
        todo.len() as u64,
    );
    let bad: Vec<(String, String)> = todo
        .par_iter()
        .filter_map(|e| {
            let p = join_rel(target, &e.path);
            let ok = crate::ingest::hash_file(&p).map(|(h, _)| Some(h) == e.sha256);
            progress.advance(e.size, 1);
            match ok {
                Ok(true) => None,
                Ok(false) => Some((
                    display(&e.path),
                    "restored content does not match its sha256".into(),
                )),
                Err(err) => Some((display(&e.path), format!("cannot read it back: {err}"))),
            }
        })
        .collect();
    progress.finish();
    summary.files -= bad.len() as u64;
    summary.not_restored.extend(bad);
}
