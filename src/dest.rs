//! DEST's lifecycle around a backup run: open the working catalogue or create DEST and a new
//! one, take the run's lock, and remove what a killed run left half-written. Nothing here
//! decides what a run stores; [`crate::backup`] does that.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::catalogue::Catalogue;
use crate::error::{Error, IoContext, Result};
use crate::layout::{find_disc_dirs, probe_name, LOCK_NAME, TMP_SUFFIX, WORKING_CATALOGUE};

/// The error for a DEST that holds other things than a backup.
pub(crate) fn not_a_backup(dest: &Path) -> Error {
    Error::Usage(format!(
        "{} is not empty and holds no butcher catalogue ({WORKING_CATALOGUE}): \
         it is not a butcher backup; choose an empty or new folder",
        dest.display()
    ))
}

/// The error for a DEST given to a command that needs a backup there (close, status, the
/// record of a read-back) when it holds none: it does not exist, or has no working catalogue.
pub(crate) fn no_backup_here(dest: &Path, cat_path: &Path) -> Error {
    const HINT: &str = "give the DEST a backup was written to";
    if !dest.exists() {
        return Error::Usage(format!("{} does not exist; {HINT}", dest.display()));
    }
    Error::Usage(format!(
        "{} holds no butcher catalogue ({}): it is not a butcher backup; {HINT}",
        dest.display(),
        cat_path.display()
    ))
}

/// Refuses a DEST that holds no backup, for the commands that need one (before they ask for
/// a passphrase).
pub(crate) fn require_backup(dest: &Path, catalogue: Option<&Path>) -> Result<PathBuf> {
    let cat_path = catalogue_path(dest, catalogue);
    if !cat_path.is_file() {
        return Err(no_backup_here(dest, &cat_path));
    }
    Ok(cat_path)
}

/// What to give as DEST instead of a path that is not usable.
const DEST_HINT: &str = "give a folder for the backup: a new or empty one, or a backup's DEST";

/// Refuses a DEST that is not a directory (a file, or a path below one) or cannot be read,
/// before anything is written; a DEST that does not exist yet is fine.
pub(crate) fn check_usable(dest: &Path) -> Result<()> {
    match fs::metadata(dest) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(Error::Usage(format!(
            "{} is not a directory; {DEST_HINT}",
            dest.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::named("read the destination", dest, e, DEST_HINT)),
    }
}

/// Where the working catalogue of DEST is: `catalogue` when given, else `DEST/catalogue.db`.
pub(crate) fn catalogue_path(dest: &Path, catalogue: Option<&Path>) -> PathBuf {
    catalogue
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dest.join(WORKING_CATALOGUE))
}

/// Opens the working catalogue, or creates DEST and a new catalogue. Refuses a DEST that holds
/// other things.
pub(crate) fn open_or_create(dest: &Path, cat_path: &Path) -> Result<Catalogue> {
    if cat_path.exists() {
        return Catalogue::open(cat_path);
    }
    // What a first run killed before its catalogue was in place leaves behind does not make
    // DEST "not empty".
    let tmp = with_suffix(cat_path, TMP_SUFFIX);
    let journal = with_suffix(&tmp, "-journal");
    for leftover in [dest.join(probe_name()), tmp.clone(), journal] {
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
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dest).ctx("create the destination", dest)?;
        }
        Err(e) => return Err(Error::named("read the destination", dest, e, DEST_HINT)),
    }
    probe_writable(dest)?;
    create_catalogue(cat_path, &tmp)
}

/// `path` with `suffix` added to its file name (`catalogue.db` -> `catalogue.db-journal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
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
    let probe = dest.join(probe_name());
    fs::write(&probe, b"").ctx("write to the destination", dest)?;
    fs::remove_file(&probe).ctx("write to the destination", dest)
}

/// An exclusive lock on DEST for the length of the run; released when the file is dropped.
pub(crate) fn lock(dest: &Path) -> Result<fs::File> {
    let path = dest.join(LOCK_NAME);
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
pub(crate) fn remove_partials(dest: &Path) -> Result<()> {
    let discs = find_disc_dirs(dest)?.into_iter().map(|(_, p)| p);
    for dir in std::iter::once(dest.to_path_buf()).chain(discs) {
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
