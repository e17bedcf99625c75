//! Restore stage: reads the catalogue copy of the newest disc at hand, works out which archives
//! hold the requested snapshot's contents, reads them into a staging directory inside TARGET,
//! checks every content's sha256, then puts files, directories and symlinks in place with their
//! modes and mtimes. A file only ever appears under its real name whole and checked.

mod extract;
mod meta;
mod place;
mod plan;
mod read;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Entry, RootMeta, SnapshotId};
use crate::encryption::check_keys_open;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{is_missing_or_empty, join_rel};
use crate::keys::Keys;
use crate::progress::{Progress, Stage};
use crate::select;
use crate::source::{self, CatalogueOrigin, DiscDir};
use meta::Owners;
use place::{check_restored, create_dirs, finish_dirs, make_symlinks, place_files};
use plan::Plan;
use read::Reader;

/// What to do when the catalogue copy restore reads holds something it cannot read.
const HINT: &str = "restore reads the copy of the highest-numbered disc at hand: leave this \
                    disc out to use an earlier disc's copy";

/// Asks for a disc that is not at hand; returns a directory holding it, or `None` to give up
/// on that disc.
pub trait DiscPrompt {
    /// Whether it can ask at all (a terminal). When it cannot, restore says on stderr what it
    /// would have asked.
    fn interactive(&self) -> bool;
    /// Disc `number` is needed.
    fn ask(&mut self, number: u32) -> Option<PathBuf>;
    /// The last disc of the set is wanted, for the reason given.
    fn ask_last(&mut self, why: WhyLast) -> Option<PathBuf>;
}

/// Why restore asks for the last disc of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhyLast {
    /// The catalogue copy of disc `seen` was written in the middle of a backup run, so it does
    /// not describe that run's snapshot whole.
    MidRun {
        /// The highest disc number the copy knows.
        seen: u32,
    },
    /// The catalogue copy of disc `seen` knows snapshots up to `snapshot`; discs with higher
    /// numbers may hold newer ones. Given the same disc again, restore goes on with it.
    MaybeNewer {
        /// The highest disc number the copy knows.
        seen: u32,
        /// The newest complete snapshot it knows.
        snapshot: i64,
    },
}

/// Never finds a disc.
pub struct NoPrompt;
impl DiscPrompt for NoPrompt {
    fn interactive(&self) -> bool {
        false
    }
    fn ask(&mut self, _number: u32) -> Option<PathBuf> {
        None
    }
    fn ask_last(&mut self, _why: WhyLast) -> Option<PathBuf> {
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
    /// Keys for an encrypted backup.
    pub keys: Option<Keys>,
    /// Snapshot id; default the newest complete one.
    pub snapshot: Option<i64>,
    /// Globs selecting paths (and everything below them); empty means everything.
    pub paths: Vec<String>,
    /// Give owners back by the recorded ids, never by name.
    pub numeric_owner: bool,
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
    /// Paths restored without some of their metadata (extended attributes on a file system
    /// without them, an owner that could not be set), with what is missing.
    pub metadata: Vec<(Vec<u8>, String)>,
    /// Owners were recorded but not given back: not running as root.
    pub owners_kept: bool,
    /// Discs that were needed but not at hand.
    pub missing_discs: Vec<u32>,
    /// Problems with archives (damage), one line each.
    pub damaged: Vec<String>,
    /// Damage repaired with a disc's recovery data (nothing lost), one line each.
    pub repaired: Vec<String>,
    /// Why the snapshot restored is older than the newest the set is known to have, when it
    /// is (the newest snapshot was wanted, but the catalogue that knows it could not be used).
    pub older: Option<String>,
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

    let created = !opts.target.exists();
    fs::create_dir_all(&opts.target).ctx("create the target", &opts.target)?;
    let stage = opts
        .target
        .join(crate::layout::restore_stage_name(std::process::id()));
    // Decrypted contents wait in it until they are checked and placed: only the owner may
    // look in, whatever the umask.
    let made = fs::DirBuilder::new().mode(0o700).create(&stage);
    if let Err(e) = made.ctx("create", &stage) {
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
    let Staged {
        entries,
        plan,
        owners,
        root,
    } = staged?;
    cleaned?;
    make_symlinks(&opts.target, &entries, &owners, &mut summary, progress)?;
    finish_dirs(&opts.target, &entries, &owners, &mut summary, progress)?;
    check_restored(&opts.target, &entries, &plan, &mut summary, progress);
    summary.owners_kept = !owners.setting() && entries.iter().any(|e| e.uid.is_some());
    // The source root's own metadata, for a restore of the whole snapshot.
    if let Some(root) = root.filter(|_| opts.paths.is_empty()) {
        for m in meta::apply_root(&opts.target, &root, &owners) {
            progress.warn(&format!("{}: {m}", opts.target.display()));
            summary.metadata.push((b".".to_vec(), m));
        }
    }
    Ok(summary)
}

/// What the staged part of a restore leaves for the rest: the entries restored, what became
/// of their contents, how owners are given back and the source root's own metadata.
struct Staged {
    entries: Vec<Entry>,
    plan: Plan,
    owners: Owners,
    root: Option<RootMeta>,
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
) -> Result<Staged> {
    let (cat, origin, dirs) = open_newest(dirs, opts, stage, progress, prompt)?;
    let explain = |e| origin.explain(e, HINT);
    let warn = |m: &str| progress.warn(m);
    cat.small_cache().map_err(explain)?;
    let set_id = cat.backup_set_id().map_err(explain)?;
    // Discs swapped in the drive while the catalogue was being found count as what they are
    // now: a disc read before and taken out is asked for again when it is needed.
    let archives = cat.archives_lenient().map_err(explain)?.0;
    let dirs = source::identify(source::rescan(&dirs), &archives, &set_id, &warn);
    let snapshot = pick_snapshot(&cat, opts.snapshot, &origin).map_err(explain)?;
    summary.snapshot = snapshot.0;
    if opts.snapshot.is_none() {
        summary.older = newer_known(&cat, &origin, &dirs, snapshot).map_err(explain)?;
    }
    let (entries, refused) = selection(&cat, snapshot, opts, stage).map_err(explain)?;
    for (path, why) in &refused {
        // Quoted: a hostile path may hold anything.
        progress.warn(&format!("{:?}: {why}", String::from_utf8_lossy(path)));
    }
    summary.not_restored.extend(refused);
    let mut plan = Plan::new(&cat, &entries).map_err(explain)?;
    let parity = crate::rebuild::ParityMap::of(&cat).map_err(explain)?;
    let owners = Owners::of(&cat, opts.numeric_owner).map_err(explain)?;
    let root = cat.snapshot_root(snapshot).map_err(explain)?;
    drop(cat);

    create_dirs(&opts.target, &entries)?;
    progress.start(
        Stage::Restore,
        plan.total_bytes,
        plan.content_count() as u64,
    );
    let r = Reader::new(&mut plan, opts, stage, progress, summary, parity)
        .read_all(&dirs, &set_id, prompt);
    progress.finish();
    r?;
    place_files(
        &opts.target,
        stage,
        &entries,
        &mut plan,
        &owners,
        summary,
        progress,
    )?;
    Ok(Staged {
        entries,
        plan,
        owners,
        root,
    })
}

/// The entries of `snapshot` that `--path` selects (all without it), none of which may land
/// in the staging directory, and those restore refuses (rows it cannot read, paths it must
/// not or cannot write), each with the reason.
fn selection(
    cat: &Catalogue,
    snapshot: SnapshotId,
    opts: &RestoreOptions,
    stage: &Path,
) -> Result<(Vec<Entry>, Vec<select::Refused>)> {
    let globs = select::globs(&opts.paths)?;
    let (rows, unreadable) = cat.entries_lenient(snapshot)?;
    let (mut entries, mut refused) = select::select(rows, globs.as_ref());
    // No system call takes a path longer than PATH_MAX: such an entry is lost, alone.
    let room = select::MAX_PATH_BYTES.saturating_sub(opts.target.as_os_str().len() + 1);
    entries.retain(|e| {
        let fits = e.path.len() <= room;
        if !fits {
            let why = format!(
                "its path in the target would be longer than {} bytes",
                select::MAX_PATH_BYTES
            );
            refused.push((e.path.clone(), why));
        }
        fits
    });
    refused.extend(
        unreadable
            .into_iter()
            .filter(|(p, _)| select::selected(globs.as_ref(), p))
            .map(|(p, why)| (p, format!("its catalogue entry cannot be read ({why})"))),
    );
    if entries.is_empty() && refused.is_empty() && !opts.paths.is_empty() {
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
    Ok((entries, refused))
}

/// Opens the newest catalogue copy at hand, and asks for the last disc of the set when that
/// copy may not know the snapshot wanted: when it was written in the middle of a backup run,
/// or when only some of the discs it lists are at hand (one disc at a time) and the newest
/// snapshot is wanted, since discs with higher numbers may hold newer snapshots.
fn open_newest(
    mut dirs: Vec<DiscDir>,
    opts: &RestoreOptions,
    stage: &Path,
    progress: &dyn Progress,
    prompt: &mut dyn DiscPrompt,
) -> Result<(Catalogue, CatalogueOrigin, Vec<DiscDir>)> {
    let warn = |m: &str| progress.warn(m);
    if let Some((cat, origin)) = source::open_working(&opts.source, &warn) {
        // The working catalogue is not encrypted: check the keys against the set's record
        // before any archive is read with them.
        if let Some(k) = opts.keys.as_ref() {
            check_keys_open(&cat, k).map_err(|e| origin.explain(e, HINT))?;
        }
        return Ok((cat, origin, dirs));
    }
    let mut offered = false;
    loop {
        let pass = opts.keys.as_ref();
        let prefer = Some(opts.source.as_path());
        let (cat, origin) = source::open_catalogue(&dirs, prefer, pass, Some(stage), &warn)?;
        let explain = |e| origin.explain(e, HINT);
        let (partial, seen) = written_mid_run(&cat, opts.snapshot).map_err(explain)?;
        let why = if partial {
            WhyLast::MidRun { seen }
        } else {
            match maybe_newer(&cat, &dirs, opts, seen).map_err(explain)? {
                Some(why) if !offered => why,
                _ => return Ok((cat, origin, dirs)),
            }
        };
        offered = true;
        let Some(dir) = ask_last(why, prompt, progress) else {
            return Ok((cat, origin, dirs));
        };
        let more = source::disc_dirs(&[dir])?;
        let newer = more.iter().any(|d| d.number.unwrap_or(0) > seen);
        if !newer {
            if let WhyLast::MaybeNewer { .. } = why {
                // The same disc again, or an older one: the disc at hand is the last.
                return Ok((cat, origin, dirs));
            }
            progress.warn("that is not a later disc of this backup");
        }
        dirs.extend(more);
    }
}

/// Asks for the last disc (or, without a terminal, says on stderr what it would have asked).
fn ask_last(why: WhyLast, prompt: &mut dyn DiscPrompt, progress: &dyn Progress) -> Option<PathBuf> {
    if prompt.interactive() {
        return prompt.ask_last(why);
    }
    match why {
        // The WARNING that restore found only an older snapshot (newer_known) says it.
        WhyLast::MidRun { .. } => {}
        WhyLast::MaybeNewer { seen, snapshot } => progress.warn(&format!(
            "restoring snapshot {snapshot}, the newest the catalogue copy of disc {seen:04} \
             knows; discs with higher numbers may hold newer snapshots: to restore the newest, \
             give the last disc of the set as well (--discs DIR)"
        )),
    }
    None
}

/// When the newest snapshot is wanted and only some of the discs the copy lists are at hand,
/// the copy's disc may not be the last: the reason to offer reading the last disc.
fn maybe_newer(
    cat: &Catalogue,
    dirs: &[DiscDir],
    opts: &RestoreOptions,
    seen: u32,
) -> Result<Option<WhyLast>> {
    if opts.snapshot.is_some() {
        return Ok(None);
    }
    let at_hand: std::collections::HashSet<u32> = dirs.iter().filter_map(|d| d.number).collect();
    let all_at_hand = cat.discs()?.iter().all(|d| at_hand.contains(&d.number));
    let newest = cat.latest_complete()?;
    Ok(match newest {
        Some(s) if !all_at_hand => Some(WhyLast::MaybeNewer {
            seen,
            snapshot: s.id.0,
        }),
        _ => None,
    })
}

/// Why the snapshot restored (the newest `cat` knows whole) is older than the newest the set is
/// known to have: a disc at hand is newer than every disc `cat` knows, or a disc's copy knows
/// a newer snapshot that is not complete in it (written in the middle of that run).
fn newer_known(
    cat: &Catalogue,
    origin: &CatalogueOrigin,
    dirs: &[DiscDir],
    restored: SnapshotId,
) -> Result<Option<String>> {
    if origin.disc.is_none() {
        return Ok(None); // DEST's working catalogue: the master record
    }
    let known = cat.discs()?.iter().map(|d| d.number).max().unwrap_or(0);
    let at_hand = dirs.iter().filter_map(|d| d.number).max().unwrap_or(0);
    if at_hand > known {
        return Ok(Some(format!(
            "restored snapshot {}, the newest that the {} knows; disc {at_hand:04} at hand is \
             newer, so the set has newer snapshots, but no catalogue copy that knows them could \
             be used",
            restored.0,
            origin.describe()
        )));
    }
    let newest = cat.snapshots()?.into_iter().map(|s| s.id).max();
    Ok(newest.filter(|&n| n > restored).map(|n| {
        format!(
            "restored snapshot {}, but the set has a newer snapshot {} that the {} does not \
             know whole: give the last disc of the set to restore it",
            restored.0,
            n.0,
            origin.describe()
        )
    }))
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

fn pick_snapshot(
    cat: &Catalogue,
    wanted: Option<i64>,
    origin: &CatalogueOrigin,
) -> Result<SnapshotId> {
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
            .ok_or_else(|| no_complete_snapshot(origin)),
    }
}

/// The error for a catalogue copy that knows no complete snapshot, saying what to do.
fn no_complete_snapshot(origin: &CatalogueOrigin) -> Error {
    match origin.disc {
        Some(n) => Error::Usage(format!(
            "the catalogue holds no complete snapshot: the copy on disc {n:04} was written \
             during the set's first backup run, which later discs finish; give the last disc \
             of the set as well (--discs DIR), or restore on a terminal to be asked for it"
        )),
        None => Error::Usage("the catalogue holds no complete snapshot".into()),
    }
}
