//! Restore stage: reads the catalogue copy of the newest disc at hand, works out which archives
//! hold the requested snapshot's contents, reads them into a staging directory inside TARGET,
//! checks every content's sha256, then puts files, directories and symlinks in place with their
//! modes and mtimes. A file only ever appears under its real name whole and checked.

mod extract;
mod place;
mod plan;
mod read;

use std::fs;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Entry, SnapshotId};
use crate::crypt::Passphrase;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{is_missing_or_empty, join_rel};
use crate::progress::{Progress, Stage};
use crate::select;
use crate::source::{self, CatalogueOrigin, DiscDir};
use place::{check_restored, create_dirs, finish_dirs, make_symlinks, place_files};
use plan::Plan;
use read::Reader;

/// What to do when the catalogue copy restore reads holds something it cannot read.
const HINT: &str = "restore reads the copy of the highest-numbered disc at hand: leave this \
                    disc out to use an earlier disc's copy";

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
    /// Paths not restored (raw bytes, as the catalogue has them), with the reason.
    pub not_restored: Vec<(Vec<u8>, String)>,
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
        .join(crate::layout::restore_stage_name(std::process::id()));
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
    dirs: Vec<DiscDir>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
    summary: &mut RestoreSummary,
) -> Result<(Vec<Entry>, Plan)> {
    let (cat, origin, dirs) = open_newest(dirs, opts, stage, progress, prompt)?;
    let explain = |e| origin.explain(e, HINT);
    let set_id = cat.backup_set_id().map_err(explain)?;
    let dirs = source::same_set(dirs, &set_id, &|m| progress.warn(m));
    let snapshot = pick_snapshot(&cat, opts.snapshot).map_err(explain)?;
    summary.snapshot = snapshot.0;
    let entries = selection(&cat, snapshot, opts, stage).map_err(explain)?;
    let mut plan = Plan::new(&cat, &entries).map_err(explain)?;
    drop(cat);

    create_dirs(&opts.target, &entries)?;
    progress.start(Stage::Restore, plan.total_bytes, plan.contents.len() as u64);
    let r = Reader::new(&mut plan, opts, stage, progress, summary).read_all(&dirs, &set_id, prompt);
    progress.finish();
    r?;
    place_files(&opts.target, stage, &entries, &plan, summary, progress)?;
    Ok((entries, plan))
}

/// The entries of `snapshot` that `--path` selects (all without it), none of which may land
/// in the staging directory.
fn selection(
    cat: &Catalogue,
    snapshot: SnapshotId,
    opts: &RestoreOptions,
    stage: &Path,
) -> Result<Vec<Entry>> {
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
    Ok(entries)
}

/// Opens the newest catalogue copy at hand. When it was written in the middle of a backup run
/// (its newest snapshot is still running) and that snapshot is wanted, asks for the last disc.
fn open_newest(
    mut dirs: Vec<DiscDir>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
) -> Result<(Catalogue, CatalogueOrigin, Vec<DiscDir>)> {
    loop {
        let warn = |m: &str| progress.warn(m);
        let pass = opts.passphrase.as_ref();
        let (cat, origin) = source::open_catalogue(&dirs, pass, Some(stage), &warn)?;
        let (partial, seen) =
            written_mid_run(&cat, opts.snapshot).map_err(|e| origin.explain(e, HINT))?;
        if !partial {
            return Ok((cat, origin, dirs));
        }
        let Some(dir) = prompt.ask_newest(seen) else {
            let whole = cat.latest_complete().map_err(|e| origin.explain(e, HINT))?;
            if opts.snapshot.is_none() && whole.is_some() {
                progress.warn(&format!(
                    "the catalogue of disc {seen:04} was written during a backup run that \
                     later discs finish; restoring the newest snapshot it knows whole"
                ));
            }
            return Ok((cat, origin, dirs));
        };
        let more = source::disc_dirs(&[dir])?;
        if !more.iter().any(|d| d.number.unwrap_or(0) > seen) {
            progress.warn("that is not a later disc of this backup");
        }
        dirs.extend(more);
    }
}

/// Whether the catalogue copy `cat` was written in the middle of the run of the snapshot
/// wanted (the newest when `wanted` is `None`), and the highest disc number it knows.
fn written_mid_run(cat: &Catalogue, wanted: Option<i64>) -> Result<(bool, u32)> {
    let newest = cat.snapshots()?.into_iter().next_back();
    let partial = match (&newest, wanted) {
        (Some(s), None) => !s.complete,
        (Some(s), Some(id)) => !s.complete && s.id.0 == id,
        (None, _) => false,
    };
    let seen = cat.discs()?.iter().map(|d| d.number).max().unwrap_or(0);
    Ok((partial, seen))
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
