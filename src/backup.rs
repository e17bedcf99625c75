//! The backup operation: ingest, pack, close discs, in that order, against the working
//! catalogue in DEST.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue::{Catalogue, SnapshotId};
use crate::dest;
use crate::diff::DiffSummary;
use crate::disc::group::GroupContext;
use crate::disc::{DiscSize, DiscSizes, DiscWriter, Parity};
use crate::encryption::check_keys;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::path_bytes;
use crate::ingest::{ingest, IngestOptions, IngestSummary};
use crate::keys::Keys;
use crate::layout::{self, disc_dir_name, MIN_ARCHIVE_BYTES, MIN_DISC_BYTES};
use crate::pack::{pack, PackOptions, PackSummary};
use crate::progress::Progress;

/// Everything a backup run needs.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// The tree to back up.
    pub source: PathBuf,
    /// The folder that holds the working catalogue and the disc directories.
    pub dest: PathBuf,
    /// The working catalogue; default `DEST/catalogue.db`.
    pub catalogue: Option<PathBuf>,
    /// The passphrase and recipients to encrypt with; `None` writes unencrypted archives.
    pub keys: Option<Keys>,
    /// Encrypt to the recipients of `keys` from this run on, instead of the set's.
    pub change_recipients: bool,
    /// Archive size and compression.
    pub pack: PackOptions,
    /// Capacity of one disc.
    pub disc_size: DiscSize,
    /// Recovery data on every disc.
    pub parity: Parity,
    /// Data discs per parity disc (`None`: what the set has; 0: none).
    pub parity_discs: Option<u32>,
    /// Hashing options.
    pub ingest: IngestOptions,
    /// Work out what the run would write, and write nothing.
    pub dry_run: bool,
    /// Leave the run's last disc open (no catalogue copy, no SHA256SUMS yet), so that the
    /// next run goes on filling it; `butcher close` finishes it.
    pub keep_open: bool,
}

/// What a backup run did.
#[derive(Debug, Clone, Default)]
pub struct BackupSummary {
    /// The snapshot id of this run.
    pub snapshot: i64,
    /// What ingest found.
    pub ingest: IngestSummary,
    /// What pack wrote.
    pub pack: PackSummary,
    /// Disc numbers written in this run.
    pub discs: Vec<u32>,
    /// What changed since the previous complete snapshot (its id and the summary), if any.
    pub changes: Option<(i64, DiffSummary)>,
    /// Parity discs of the set: which discs are protected, which group is open.
    pub groups: Option<GroupStatus>,
    /// Wall time.
    pub duration: Duration,
    /// A dry run: `pack` holds estimates (content bytes before compression) and `discs` the
    /// numbers the run would write; nothing was written.
    pub dry_run: bool,
}

/// Where the set's parity discs stand after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStatus {
    /// Data discs per parity disc.
    pub size: u32,
    /// Every parity disc: (its number, first and last data disc it protects).
    pub parity_discs: Vec<(u32, u32, u32)>,
    /// The data discs of the open group, not yet protected.
    pub open: Vec<u32>,
}

impl GroupStatus {
    /// The set's parity discs as the catalogue records them; `None` for a set without.
    pub(crate) fn of(cat: &Catalogue, size: u32) -> Result<Option<GroupStatus>> {
        if size == 0 {
            return Ok(None);
        }
        Ok(Some(GroupStatus {
            size,
            parity_discs: cat
                .parity_groups()?
                .into_iter()
                .map(|g| (g.parity_disc, g.first, g.last))
                .collect(),
            open: crate::disc::group::open_members(cat)?,
        }))
    }
}

/// The number of data discs per parity disc of the set in `cat`: recorded by its first run
/// (`asked`, or 0), and never changed after.
pub(crate) fn settle_group_size(cat: &Catalogue, asked: Option<u32>) -> Result<u32> {
    if asked == Some(1) {
        return Err(Error::Usage(
            "--parity-discs must be 0 (no parity discs) or at least 2".to_string(),
        ));
    }
    let recorded =
        match cat.meta("parity_discs")? {
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                Error::Damaged(format!("the catalogue records parity_discs = {v:?}"))
            })?),
            // A set begun before format 5 has none.
            None if !cat.discs()?.is_empty() => Some(0),
            None => None,
        };
    match (recorded, asked) {
        (Some(r), Some(k)) if r != k && r == 0 => Err(Error::Usage(format!(
            "this backup set was begun without parity discs; they cannot be added to it              (--parity-discs {k}): begin a new set in a new DEST"
        ))),
        (Some(r), Some(k)) if r != k => Err(Error::Usage(format!(
            "this backup set writes a parity disc after every {r} data discs, as its first              run chose; --parity-discs {k} cannot change that"
        ))),
        (Some(r), _) => {
            if cat.meta("parity_discs")?.is_none() {
                cat.set_meta("parity_discs", &r.to_string())?;
            }
            Ok(r)
        }
        (None, k) => {
            let k = k.unwrap_or(0);
            cat.set_meta("parity_discs", &k.to_string())?;
            Ok(k)
        }
    }
}

impl BackupSummary {
    /// True when some path could not be backed up.
    pub fn incomplete(&self) -> bool {
        !self.ingest.skipped.is_empty() || !self.pack.changed.is_empty()
    }
}

/// Backs up `opts.source` into `opts.dest`.
pub fn backup(opts: &BackupOptions, progress: &dyn Progress) -> Result<BackupSummary> {
    let started = Instant::now();
    check_sizes(opts)?;
    dest::check_usable(&opts.dest)?;
    // Bad exclusion rules are refused before DEST is touched.
    crate::ingest::exclusions(
        &opts.source,
        &opts.ingest.exclude,
        &opts.ingest.exclude_from,
    )?;
    if opts.dry_run {
        return dry_run(opts, progress, started);
    }
    let (src, cat_path) = source_and_catalogue(opts)?;
    if !cat_path.exists() {
        // A new set: sizes that leave no room for one archive are refused before DEST is
        // created, with the catalogue as it starts.
        let fresh = Catalogue::create_in_memory()?.size_bytes()?;
        check_fits(opts, fresh, opts.parity_discs.unwrap_or(0))?;
    }
    let cat = dest::open_or_create(&opts.dest, &cat_path)?;
    let _lock = dest::lock(&opts.dest)?;
    dest::remove_partials(&opts.dest)?;
    check_keys(&cat, opts.keys.as_ref(), opts.change_recipients)?;
    let cat = up_to_date(cat, &cat_path, progress)?;
    let group_size = settle_group_size(&cat, opts.parity_discs)?;

    let ctx = GroupContext {
        dest: &opts.dest,
        disc_size: opts.disc_size,
        passphrase: opts.keys.as_ref(),
        parity: opts.parity.percent(),
        progress,
    };
    let caught_up = finish_interrupted(&cat, group_size, ctx)?;
    let own = own_files_inside(&src, &opts.dest, &cat_path, progress);
    let previous = cat.latest_complete()?.map(|s| s.id);
    note_interrupted(&cat, progress)?;
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let run = Run {
        opts,
        src: &src,
        own: &own,
        cat: &cat,
        snapshot,
        group_size,
        progress,
    };
    let Stored {
        ingest: ingest_summary,
        changes,
        pack: pack_summary,
        mut discs,
    } = match run.store(previous) {
        Ok(stored) => stored,
        Err(e) => {
            // Said now rather than by the next run; a failure to say it changes nothing the
            // next run does not mend.
            let _ = cat.mark_interrupted(snapshot);
            return Err(e);
        }
    };
    if !opts.keep_open {
        discs.close_current()?;
    }
    discs.finish_folding()?;
    let mut written = caught_up;
    written.extend(discs.closed());
    Ok(BackupSummary {
        snapshot: snapshot.0,
        ingest: ingest_summary,
        pack: pack_summary,
        discs: written,
        groups: GroupStatus::of(&cat, group_size)?,
        duration: started.elapsed(),
        changes,
        dry_run: false,
    })
}

/// The snapshot a backup run stores, and what storing it needs.
struct Run<'a> {
    opts: &'a BackupOptions,
    src: &'a Path,
    own: &'a [PathBuf],
    cat: &'a Catalogue,
    snapshot: SnapshotId,
    group_size: u32,
    progress: &'a dyn Progress,
}

/// What storing a snapshot gave; the run's last disc is still open in `discs`.
struct Stored<'a> {
    ingest: IngestSummary,
    changes: Option<(i64, DiffSummary)>,
    pack: PackSummary,
    discs: DiscWriter<'a>,
}

impl<'a> Run<'a> {
    /// Ingests the source, packs what is new onto discs and marks the snapshot complete.
    fn store(&self, previous: Option<SnapshotId>) -> Result<Stored<'a>> {
        let (opts, cat, snapshot, progress) = (self.opts, self.cat, self.snapshot, self.progress);
        let ingest_summary = ingest(self.src, self.own, cat, snapshot, &opts.ingest, progress)?;
        let changes = changes_since(cat, previous, snapshot)?;
        let mut discs = DiscWriter::new(
            &opts.dest,
            cat,
            snapshot,
            DiscSizes {
                disc: opts.disc_size,
                archive: opts.pack.archive_size,
                parity: opts.parity.percent(),
                group: self.group_size,
            },
            opts.keys.as_ref(),
            progress,
        );
        if let Some(n) = discs.resume_open_disc()? {
            progress.note(&format!(
                "continuing {}, left open by the last run (--keep-open, or interrupted)",
                disc_dir_name(n)
            ));
        }
        let pack_summary = pack(
            self.src,
            cat,
            snapshot,
            &mut discs,
            &opts.pack,
            opts.keys.as_ref(),
            progress,
        )?;
        cat.finish_snapshot(
            snapshot,
            ingest_summary.files,
            ingest_summary.bytes,
            pack_summary.input_bytes,
        )?;
        Ok(Stored {
            ingest: ingest_summary,
            changes,
            pack: pack_summary,
            discs,
        })
    }
}

/// Marks the snapshots whose run was interrupted (still `running` while no run is under
/// way), saying so.
fn note_interrupted(cat: &Catalogue, progress: &dyn Progress) -> Result<()> {
    for id in cat.mark_running_interrupted()? {
        progress.note(&format!(
            "snapshot {} was interrupted before it was complete: it stays incomplete (restore \
             does not offer it), and this run stores what it had not",
            id.0
        ));
    }
    Ok(())
}

/// What `butcher close DEST` needs.
#[derive(Debug, Clone, Default)]
pub struct CloseOptions {
    /// The folder that holds the working catalogue and the disc directories.
    pub dest: PathBuf,
    /// The working catalogue; default `DEST/catalogue.db`.
    pub catalogue: Option<PathBuf>,
    /// Keys of the set (`None` for an unencrypted set).
    pub keys: Option<Keys>,
    /// Capacity of one disc.
    pub disc_size: DiscSize,
    /// Recovery data on the parity disc.
    pub parity: Parity,
}

/// What `butcher close` did.
#[derive(Debug, Clone, Default)]
pub struct CloseSummary {
    /// The data disc finished (left open by `backup --keep-open` or an interrupted run).
    pub disc: Option<u32>,
    /// Parity discs written.
    pub parity: Vec<u32>,
    /// Where the set's parity groups stand (sets with parity discs).
    pub groups: Option<GroupStatus>,
}

/// Finishes what is open in a set: the open data disc (catalogue copy, README, recovery
/// files, SHA256SUMS), then, in a set with parity discs, the open group early (its parity
/// disc is written for the data discs it has).
pub fn close(opts: &CloseOptions, progress: &dyn Progress) -> Result<CloseSummary> {
    let cat_path = dest::require_backup(&opts.dest, opts.catalogue.as_deref())?;
    let cat = Catalogue::open(&cat_path)?;
    let _lock = dest::lock(&opts.dest)?;
    dest::remove_partials(&opts.dest)?;
    check_keys(&cat, opts.keys.as_ref(), false)?;
    let cat = up_to_date(cat, &cat_path, progress)?;
    let group_size = settle_group_size(&cat, None)?;
    note_interrupted(&cat, progress)?;
    let open_disc = cat.discs()?.iter().any(|d| !d.closed);
    if group_size == 0 && !open_disc {
        return Err(Error::Usage(
            "nothing to close: no disc is open, and the set has no parity discs".to_string(),
        ));
    }
    let ctx = GroupContext {
        dest: &opts.dest,
        disc_size: opts.disc_size,
        passphrase: opts.keys.as_ref(),
        parity: opts.parity.percent(),
        progress,
    };
    let mut summary = CloseSummary {
        parity: finish_interrupted(&cat, group_size, ctx)?,
        ..CloseSummary::default()
    };
    let Some(snapshot) = cat.latest_snapshot_id()? else {
        return Ok(summary);
    };
    if open_disc {
        let mut discs = DiscWriter::new(
            &opts.dest,
            &cat,
            snapshot,
            DiscSizes {
                disc: opts.disc_size,
                archive: PackOptions::DEFAULT_ARCHIVE_BYTES,
                parity: opts.parity.percent(),
                group: group_size,
            },
            opts.keys.as_ref(),
            progress,
        );
        if discs.resume_open_disc()?.is_some() {
            summary.disc = discs.close_current()?;
        }
        discs.finish_folding()?;
        // Closing the disc may have filled its group, whose parity disc is then written.
        summary
            .parity
            .extend(discs.closed().iter().filter(|&&n| Some(n) != summary.disc));
    }
    if group_size > 0 {
        if let Some(p) = crate::disc::group::close_group(&cat, snapshot, ctx)? {
            summary.parity.push(p);
        }
        summary.groups = GroupStatus::of(&cat, group_size)?;
    }
    Ok(summary)
}

/// Finishes what an interrupted run left in DEST, saying so: discs marked closed without
/// their closing files, then the parity of a set with parity discs (group::catch_up).
/// Returns the parity discs written.
fn finish_interrupted(cat: &Catalogue, group_size: u32, ctx: GroupContext) -> Result<Vec<u32>> {
    for n in crate::disc::finish_interrupted_closing(
        ctx.dest,
        cat,
        ctx.disc_size,
        ctx.passphrase,
        ctx.parity,
        ctx.progress,
    )? {
        ctx.progress.note(&format!(
            "finished closing {}, interrupted last time",
            disc_dir_name(n)
        ));
    }
    let caught_up = crate::disc::group::catch_up(cat, group_size, None, ctx)?;
    for n in &caught_up {
        ctx.progress.note(&format!(
            "finished parity disc {}, interrupted last time",
            disc_dir_name(*n)
        ));
    }
    Ok(caught_up)
}

/// The working catalogue in the current format: one of an older format is upgraded first
/// (crash-safe: built beside it and renamed over it), and the run says so.
fn up_to_date(cat: Catalogue, path: &Path, progress: &dyn Progress) -> Result<Catalogue> {
    if !cat.is_older_format() {
        return Ok(cat);
    }
    let from = cat.format_version();
    progress.note(&format!(
        "upgrading the working catalogue from format {from} to format {}; discs already \
         written keep their copies of format {from}, which restore as before",
        crate::catalogue::FORMAT_VERSION
    ));
    let cat = crate::catalogue::upgrade(cat, path)?;
    progress.note(&format!(
        "upgraded the working catalogue to format {}",
        crate::catalogue::FORMAT_VERSION
    ));
    Ok(cat)
}

/// Ingests into an in-memory copy of the catalogue and estimates what packing would write.
fn dry_run(
    opts: &BackupOptions,
    progress: &dyn Progress,
    started: Instant,
) -> Result<BackupSummary> {
    let (src, cat_path) = source_and_catalogue(opts)?;
    let cat = if cat_path.exists() {
        let bytes = fs::read(&cat_path).ctx("read", &cat_path)?;
        let cat = Catalogue::from_bytes_writable(&bytes, &cat_path.display().to_string())?;
        if cat.is_older_format() {
            crate::catalogue::upgraded_in_memory(&cat_path, cat.format_version())?
        } else {
            cat
        }
    } else {
        if !crate::fsutil::is_missing_or_empty(&opts.dest)
            .ctx("read the destination", &opts.dest)?
        {
            return Err(dest::not_a_backup(&opts.dest));
        }
        Catalogue::create_in_memory()?
    };
    check_keys(&cat, opts.keys.as_ref(), opts.change_recipients)?;
    let group_size = settle_group_size(&cat, opts.parity_discs)?;
    let own = own_files_inside(&src, &opts.dest, &cat_path, progress);
    let previous = cat.latest_complete()?.map(|s| s.id);
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let ingest_summary = ingest(&src, &own, &cat, snapshot, &opts.ingest, progress)?;
    let changes = changes_since(&cat, previous, snapshot)?;
    let pending = cat.pending_contents(snapshot)?;
    let bytes: u64 = pending.iter().map(|p| p.size - p.bytes_done).sum();
    let archive_size = opts.pack.archive_size;
    let archives = bytes
        .div_ceil(archive_size)
        .max(pending.len().min(1) as u64);
    let cat_bytes = cat.size_bytes()?;
    let disc_count = layout::estimate_discs(
        bytes,
        archive_size,
        opts.disc_size.bytes(),
        cat_bytes,
        opts.parity.percent(),
        group_size,
    )
    .ok_or_else(|| {
        layout::disc_too_small(
            opts.disc_size.bytes(),
            archive_size,
            cat_bytes,
            opts.parity.percent(),
            group_size,
        )
    })?;
    // The parity discs of the groups these discs fill.
    let open = crate::disc::group::open_members(&cat)?.len() as u32;
    let disc_count = match group_size {
        0 => disc_count,
        k => disc_count + (open + disc_count) / k,
    };
    let first = cat.next_disc_number()?;
    Ok(BackupSummary {
        snapshot: snapshot.0,
        ingest: ingest_summary,
        pack: PackSummary {
            archives,
            input_bytes: bytes,
            output_bytes: bytes,
            changed: Vec::new(),
        },
        discs: (first..first + disc_count).collect(),
        groups: GroupStatus::of(&cat, group_size)?,
        duration: started.elapsed(),
        changes,
        dry_run: true,
    })
}

/// DEST and the working catalogue, when they lie inside the source (`butcher backup ~ ~/backup`):
/// the walk leaves them out, or every run would store the earlier runs' archives again. Says
/// so in one note line.
fn own_files_inside(
    src: &Path,
    dest: &Path,
    catalogue: &Path,
    progress: &dyn Progress,
) -> Vec<PathBuf> {
    let mut own = Vec::new();
    for (what, path) in [("DEST", dest), ("the working catalogue", catalogue)] {
        let Ok(abs) = fs::canonicalize(path) else {
            continue; // not there yet (a dry run): nothing of it to leave out
        };
        if abs.starts_with(src) && abs != src && !own.iter().any(|o| abs.starts_with(o)) {
            progress.note(&format!(
                "{what} {} is inside the source: leaving it out of the backup",
                path.display()
            ));
            if what != "DEST" {
                // SQLite's journal appears beside the catalogue while a transaction is open.
                own.push(dest::with_suffix(&abs, "-journal"));
            }
            own.push(abs);
        }
    }
    own
}

/// The diff of the previous complete snapshot against this one.
fn changes_since(
    cat: &Catalogue,
    previous: Option<SnapshotId>,
    snapshot: SnapshotId,
) -> Result<Option<(i64, DiffSummary)>> {
    let Some(prev) = previous else {
        return Ok(None);
    };
    let d = crate::query::snapshot_diff(cat, prev, snapshot)?;
    Ok(Some((prev.0, d.summary)))
}

/// The source as an absolute path, and where the working catalogue is.
fn source_and_catalogue(opts: &BackupOptions) -> Result<(PathBuf, PathBuf)> {
    let src = fs::canonicalize(&opts.source).map_err(|e| {
        Error::named(
            "read the source",
            &opts.source,
            e,
            "give the folder to back up",
        )
    })?;
    let cat_path = dest::catalogue_path(&opts.dest, opts.catalogue.as_deref());
    Ok((src, cat_path))
}

/// Refuses a disc size with no room for one archive of the size asked, beside a catalogue of
/// `catalogue_bytes` in a set of `group` data discs per parity disc.
fn check_fits(opts: &BackupOptions, catalogue_bytes: u64, group: u32) -> Result<()> {
    layout::check_one_archive_fits(
        opts.disc_size.bytes(),
        opts.pack.archive_size,
        catalogue_bytes,
        opts.parity.percent(),
        group,
    )
}

fn check_sizes(opts: &BackupOptions) -> Result<()> {
    if opts.parity_discs == Some(1) {
        return Err(Error::Usage(
            "--parity-discs must be 0 (no parity discs) or at least 2".to_string(),
        ));
    }
    if opts.disc_size.bytes() < MIN_DISC_BYTES {
        return Err(Error::Usage(format!(
            "the disc size ({} bytes) is too small: use at least {MIN_DISC_BYTES} bytes",
            opts.disc_size.bytes()
        )));
    }
    if opts.pack.archive_size < MIN_ARCHIVE_BYTES {
        return Err(Error::Usage(
            "the archive size is too small: use at least 4K".to_string(),
        ));
    }
    Ok(())
}
