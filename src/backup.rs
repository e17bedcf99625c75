//! The backup operation: ingest, pack, close discs, in that order, against the working
//! catalogue in DEST.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue::Catalogue;
use crate::crypt::Passphrase;
use crate::disc::{DiscSize, DiscWriter};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{hex, path_bytes, unhex, TMP_SUFFIX};
use crate::ingest::{ingest, IngestOptions, IngestSummary};
use crate::pack::{pack, PackOptions, PackSummary};
use crate::progress::Progress;

/// The name of the working catalogue inside DEST.
pub const WORKING_CATALOGUE: &str = "catalogue.db";

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
    pub changes: Option<(i64, crate::diff::DiffSummary)>,
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
    if opts.dry_run {
        return dry_run(opts, progress, started);
    }
    let (src, cat_path) = source_and_catalogue(opts)?;
    let cat = open_dest(&opts.dest, &cat_path, opts.passphrase.is_some())?;
    let _lock = lock_dest(&opts.dest)?;
    remove_partials(&opts.dest)?;
    check_passphrase(&cat, opts.passphrase.as_ref())?;
    cat.mark_current_format()?;

    for n in crate::disc::finish_interrupted_closing(&opts.dest, &cat, opts.passphrase.as_ref())? {
        progress.note(&format!(
            "finished closing disc-{n:04}, interrupted last time"
        ));
    }
    let previous = cat.latest_complete()?.map(|s| s.id);
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let ingest_summary = ingest(&src, &cat, snapshot, previous, &opts.ingest, progress)?;
    let changes = changes_since(&cat, previous, snapshot)?;
    let mut discs = DiscWriter::new(
        &opts.dest,
        &cat,
        snapshot,
        opts.disc_size,
        opts.pack.archive_size,
        opts.passphrase.as_ref(),
    );
    if let Some(n) = discs.resume_open_disc()? {
        progress.note(&format!(
            "continuing disc-{n:04}, left open by an interrupted run"
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
            return Err(not_a_backup(&opts.dest));
        }
        Catalogue::create_in_memory()?
    };
    check_passphrase(&cat, opts.passphrase.as_ref())?;
    let previous = cat.latest_complete()?.map(|s| s.id);
    let snapshot = cat.begin_snapshot(path_bytes(&src))?;
    let ingest_summary = ingest(&src, &cat, snapshot, previous, &opts.ingest, progress)?;
    let changes = changes_since(&cat, previous, snapshot)?;
    let pending = cat.pending_contents(snapshot)?;
    let bytes: u64 = pending.iter().map(|p| p.size - p.bytes_done).sum();
    let archive_size = opts.pack.archive_size;
    let archives = bytes
        .div_ceil(archive_size)
        .max(pending.len().min(1) as u64);
    // A disc holds its capacity less about 3 % for its catalogue copy and closing reserve.
    let per_disc = opts.disc_size.bytes() / 200 * 194;
    let disc_count = if bytes == 0 {
        0
    } else {
        bytes.div_ceil(per_disc.max(1)) as u32
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
        duration: started.elapsed(),
        changes,
        dry_run: true,
    })
}

fn not_a_backup(dest: &Path) -> Error {
    Error::Usage(format!(
        "{} is not empty and holds no butcher catalogue ({WORKING_CATALOGUE}): \
         it is not a butcher backup; choose an empty or new folder",
        dest.display()
    ))
}

/// The diff of the previous complete snapshot against this one.
fn changes_since(
    cat: &Catalogue,
    previous: Option<crate::catalogue::SnapshotId>,
    snapshot: crate::catalogue::SnapshotId,
) -> Result<Option<(i64, crate::diff::DiffSummary)>> {
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
    let cat_path = opts
        .catalogue
        .clone()
        .unwrap_or_else(|| opts.dest.join(WORKING_CATALOGUE));
    Ok((src, cat_path))
}

/// The smallest disc size accepted: room for a catalogue copy, a README and some archives.
pub const MIN_DISC_BYTES: u64 = 256 * 1024;

fn check_sizes(opts: &BackupOptions) -> Result<()> {
    if opts.disc_size.bytes() < MIN_DISC_BYTES {
        return Err(Error::Usage(format!(
            "the disc size ({} bytes) is too small: use at least {MIN_DISC_BYTES} bytes",
            opts.disc_size.bytes()
        )));
    }
    if opts.pack.archive_size < 4096 {
        return Err(Error::Usage(
            "the archive size is too small: use at least 4K".to_string(),
        ));
    }
    Ok(())
}

/// Opens the working catalogue, or creates DEST and a new catalogue. Refuses a DEST that holds
/// other things.
fn open_dest(dest: &Path, cat_path: &Path, _encrypted: bool) -> Result<Catalogue> {
    if cat_path.exists() {
        return Catalogue::open(cat_path);
    }
    // What a first run killed before its catalogue was in place leaves behind does not make
    // DEST "not empty".
    let tmp = with_suffix(cat_path, TMP_SUFFIX);
    let journal = with_suffix(&tmp, "-journal");
    for leftover in [
        dest.join(format!(".butcher-probe{TMP_SUFFIX}")),
        tmp.clone(),
        journal,
    ] {
        match fs::remove_file(&leftover) {
            Ok(()) => {}
            // No such file, or no such directory yet: nothing was left.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
            Err(e) => return Err(Error::io("remove the partial file", &leftover, e)),
        }
    }
    match fs::read_dir(dest) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(not_a_backup(dest));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).ctx("create the destination", dest)?;
        }
        Err(e) => return Err(Error::io("read the destination", dest, e)),
    }
    probe_writable(dest)?;
    create_catalogue(cat_path, &tmp)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates the working catalogue under its `.partial` name and renames it into place, so a run
/// killed while creating it never leaves an empty database under the real name.
fn create_catalogue(cat_path: &Path, tmp: &Path) -> Result<Catalogue> {
    drop(Catalogue::create(tmp)?);
    fs::rename(tmp, cat_path).ctx("rename into place", cat_path)?;
    let dir = match cat_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::fsutil::sync_dir(dir)?;
    Catalogue::open(cat_path)
}

fn probe_writable(dest: &Path) -> Result<()> {
    let probe = dest.join(format!(".butcher-probe{TMP_SUFFIX}"));
    fs::write(&probe, b"").ctx("write to the destination", dest)?;
    fs::remove_file(&probe).ctx("write to the destination", dest)
}

/// An exclusive lock on DEST for the length of the run.
fn lock_dest(dest: &Path) -> Result<fs::File> {
    let path = dest.join(".butcher.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx("create the lock file", &path)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(_) => Err(Error::Usage(format!(
            "another butcher run is using {}",
            dest.display()
        ))),
    }
}

/// Removes files a killed run left half-written (`*.partial`) in DEST and its disc directories.
fn remove_partials(dest: &Path) -> Result<()> {
    for dir in std::iter::once(dest.to_path_buf()).chain(
        crate::disc::find_disc_dirs(dest)?
            .into_iter()
            .map(|(_, p)| p),
    ) {
        for ent in fs::read_dir(&dir).ctx("read", &dir)? {
            let ent = ent.ctx("read", &dir)?;
            if ent
                .file_name()
                .as_encoded_bytes()
                .ends_with(TMP_SUFFIX.as_bytes())
            {
                fs::remove_file(ent.path()).ctx("remove the partial file", &ent.path())?;
            }
        }
    }
    Ok(())
}

/// Text encrypted into the meta key `passphrase_check` to recognise the passphrase later.
const CHECK_TEXT: &[u8] = b"butcher passphrase check";

/// A backup set is encrypted or not, with one passphrase, from its first run on: the first run
/// records which (meta keys `encrypted` and `passphrase_check`), later runs must match.
fn check_passphrase(cat: &Catalogue, passphrase: Option<&Passphrase>) -> Result<()> {
    let recorded = match cat.meta("encrypted")? {
        Some(v) => v == "1",
        None => {
            // The check first: a run killed between the two writes then leaves no
            // `encrypted` key, and the next run records both again.
            if let Some(p) = passphrase {
                let check = crate::crypt::encrypt_bytes(CHECK_TEXT, p)?;
                cat.set_meta("passphrase_check", &hex(&check))?;
            }
            cat.set_meta("encrypted", if passphrase.is_some() { "1" } else { "0" })?;
            return Ok(());
        }
    };
    match (recorded, passphrase) {
        (true, None) => Err(Error::Usage(
            "this backup set is encrypted: give its passphrase".to_string(),
        )),
        (false, Some(_)) => Err(Error::Usage(
            "this backup set is not encrypted: use --no-encryption".to_string(),
        )),
        (false, None) => Ok(()),
        (true, Some(p)) => {
            let stored = cat.meta("passphrase_check")?.unwrap_or_default();
            let bytes = unhex(&stored).ok_or_else(|| {
                Error::Damaged("catalogue meta passphrase_check is not hex".into())
            })?;
            match crate::crypt::decrypt_bytes(&bytes, p) {
                Ok(plain) if plain == CHECK_TEXT => Ok(()),
                Ok(_) | Err(Error::WrongPassphrase(_)) => Err(Error::Usage(
                    "wrong passphrase: it is not the passphrase of this backup set".to_string(),
                )),
                Err(e) => Err(e),
            }
        }
    }
}
