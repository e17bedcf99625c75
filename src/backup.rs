//! The backup operation: ingest, pack, close discs, in that order, against the working
//! catalogue in DEST.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue::{Catalogue, SnapshotId};
use crate::crypt::Passphrase;
use crate::dest;
use crate::diff::DiffSummary;
use crate::disc::{DiscSize, DiscSizes, DiscWriter, Parity};
use crate::encryption::check_passphrase;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::path_bytes;
use crate::ingest::{ingest, IngestOptions, IngestSummary};
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
    /// Passphrase; `None` writes unencrypted archives.
    pub passphrase: Option<Passphrase>,
    /// Archive size and compression.
    pub pack: PackOptions,
    /// Capacity of one disc.
    pub disc_size: DiscSize,
    /// Recovery data on every disc.
    pub parity: Parity,
    /// Hashing options.
    pub ingest: IngestOptions,
    /// Work out what the run would write, and write nothing.
    pub dry_run: bool,
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
    /// Wall time.
    pub duration: Duration,
    /// A dry run: `pack` holds estimates (content bytes before compression) and `discs` the
    /// numbers the run would write; nothing was written.
    pub dry_run: bool,
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
    let cat = dest::open_or_create(&opts.dest, &cat_path)?;
    let _lock = dest::lock(&opts.dest)?;
    dest::remove_partials(&opts.dest)?;
    check_passphrase(&cat, opts.passphrase.as_ref())?;
    cat.mark_current_format()?;

    for n in crate::disc::finish_interrupted_closing(
        &opts.dest,
        &cat,
        opts.disc_size,
        opts.passphrase.as_ref(),
        opts.parity.percent(),
        progress,
    )? {
        progress.note(&format!(
            "finished closing {}, interrupted last time",
            disc_dir_name(n)
        ));
    }
    let own = own_files_inside(&src, &opts.dest, &cat_path, progress);
    let previous = cat.latest_complete()?.map(|s| s.id);
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let ingest_summary = ingest(&src, &own, &cat, snapshot, previous, &opts.ingest, progress)?;
    let changes = changes_since(&cat, previous, snapshot)?;
    let mut discs = DiscWriter::new(
        &opts.dest,
        &cat,
        snapshot,
        DiscSizes {
            disc: opts.disc_size,
            archive: opts.pack.archive_size,
            parity: opts.parity.percent(),
        },
        opts.passphrase.as_ref(),
        progress,
    );
    if let Some(n) = discs.resume_open_disc()? {
        progress.note(&format!(
            "continuing {}, left open by an interrupted run",
            disc_dir_name(n)
        ));
    }
    let pack_summary = pack(
        &src,
        &cat,
        snapshot,
        &mut discs,
        &opts.pack,
        opts.passphrase.as_ref(),
        progress,
    )?;
    cat.finish_snapshot(
        snapshot,
        ingest_summary.files,
        ingest_summary.bytes,
        pack_summary.input_bytes,
    )?;
    discs.close_current()?;
    Ok(BackupSummary {
        snapshot: snapshot.0,
        ingest: ingest_summary,
        pack: pack_summary,
        discs: discs.closed().to_vec(),
        duration: started.elapsed(),
        changes,
        dry_run: false,
    })
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
        Catalogue::from_bytes_writable(&bytes, &cat_path.display().to_string())?
    } else {
        if !crate::fsutil::is_missing_or_empty(&opts.dest)
            .ctx("read the destination", &opts.dest)?
        {
            return Err(dest::not_a_backup(&opts.dest));
        }
        Catalogue::create_in_memory()?
    };
    check_passphrase(&cat, opts.passphrase.as_ref())?;
    let own = own_files_inside(&src, &opts.dest, &cat_path, progress);
    let previous = cat.latest_complete()?.map(|s| s.id);
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let ingest_summary = ingest(&src, &own, &cat, snapshot, previous, &opts.ingest, progress)?;
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
    )
    .ok_or_else(|| layout::disc_too_small(opts.disc_size.bytes(), archive_size, cat_bytes))?;
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
    let d = crate::diff::diff(&cat.entries(prev)?, &cat.entries(snapshot)?);
    Ok(Some((prev.0, d.summary)))
}

/// The source as an absolute path, and where the working catalogue is.
fn source_and_catalogue(opts: &BackupOptions) -> Result<(PathBuf, PathBuf)> {
    let src = fs::canonicalize(&opts.source)
        .map_err(|e| Error::io("read the source", &opts.source, e))?;
    let cat_path = dest::catalogue_path(&opts.dest, opts.catalogue.as_deref());
    Ok((src, cat_path))
}

fn check_sizes(opts: &BackupOptions) -> Result<()> {
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
