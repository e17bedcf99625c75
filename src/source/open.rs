//! Opening a catalogue: DEST's working catalogue, or the newest catalogue copy of the discs
//! that passes its checks (its line in `SHA256SUMS`, decryption, `integrity_check`), spilled
//! into a private file or held in memory; and where the read-only commands find one.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{disc_dirs, encrypted, listed_sha256, DiscDir};
use crate::catalogue::Catalogue;
use crate::crypt::{decrypt_file, DecryptReader};
use crate::error::{Error, IoContext, Result};
use crate::keys::Keys;
use crate::layout::{catalogue_copy_name, SUMS_NAME, WORKING_CATALOGUE};

/// Which catalogue was opened, for messages that must say which file is damaged.
#[derive(Debug, Clone)]
pub struct CatalogueOrigin {
    /// The file read.
    pub path: PathBuf,
    /// The disc it is on, for a copy on a disc.
    pub disc: Option<u32>,
}

impl CatalogueOrigin {
    /// A catalogue file that is not on a disc (DEST's working catalogue, a file named directly).
    pub(crate) fn file(path: &Path) -> Self {
        CatalogueOrigin {
            path: path.to_path_buf(),
            disc: None,
        }
    }

    /// `catalogue copy on disc 0003 (PATH)`, or `catalogue PATH`.
    pub fn describe(&self) -> String {
        match self.disc {
            Some(n) => format!("catalogue copy on disc {n:04} ({})", self.path.display()),
            None => format!("catalogue {}", self.path.display()),
        }
    }

    /// Turns an error reading the catalogue into one that names this file and says what to
    /// do (`hint`); other errors pass unchanged.
    pub(crate) fn explain(&self, e: Error, hint: &str) -> Error {
        match e {
            Error::Catalogue(detail) => Error::CatalogueDamaged {
                what: self.describe(),
                detail,
                hint: hint.to_string(),
            },
            e => e,
        }
    }
}

/// Opens the newest readable catalogue copy among `dirs` (highest disc number first). A copy
/// that cannot be read is reported through `warn` and the next one is tried; a wrong
/// passphrase stops at once.
///
/// With `spill`, a directory the user named (restore's staging directory inside TARGET), the
/// copy is decrypted into a file there and read from it, so memory stays flat however many
/// files the catalogue lists; without it, the copy is held in memory.
///
/// With `prefer` (restore's SOURCE), the copies of the discs below it are tried first: a disc
/// found through `--discs` never decides which backup set is restored while SOURCE has a
/// usable copy.
pub fn open_catalogue(
    dirs: &[DiscDir],
    prefer: Option<&Path>,
    passphrase: Option<&Keys>,
    spill: Option<&Path>,
    warn: &dyn Fn(&str),
) -> Result<(Catalogue, CatalogueOrigin)> {
    let mut order: Vec<&DiscDir> = dirs.iter().collect();
    order.sort_by_key(|d| {
        let elsewhere = prefer.is_some_and(|p| !d.path.starts_with(p));
        (elsewhere, std::cmp::Reverse(d.apparent_number()))
    });
    let mut last_err = None;
    // A copy the passphrase does not open may just be damaged (its key packet); a second one
    // means the passphrase is wrong.
    let mut refused: Option<(PathBuf, Error)> = None;
    for d in order {
        // A copy its disc lists but lacks can still come back from the recovery data, where
        // there is somewhere to put it.
        let Some((path, encrypted)) = copy_on(d, passphrase, spill.is_some())? else {
            continue;
        };
        let what = path.display().to_string();
        let pass = passphrase.filter(|_| encrypted);
        // A copy SHA256SUMS does not vouch for (SHA256SUMS itself may be what is damaged) is
        // still used when the disc's recovery data vouches for it.
        let vouched = matches_sums(d, &path).or_else(|e| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if crate::recovery::vouches_for(&d.path, name) {
                warn(&format!(
                    "{}: SHA256SUMS does not match it, but its disc's recovery data does",
                    path.display()
                ));
                Ok(())
            } else {
                Err(e)
            }
        });
        let mut opened = if path.is_file() {
            vouched.and_then(|_| {
                load_copy(&path, pass, spill, &what).and_then(|c| check_sound(c, &what))
            })
        } else {
            Err(Error::Damaged(format!(
                "{}: missing, though its disc's {SUMS_NAME} lists it",
                path.display()
            )))
        };
        if let Err(Error::Damaged(_) | Error::Catalogue(_) | Error::Io { .. }) = &opened {
            // A damaged copy may come back whole from its disc's recovery data.
            if let Some(fixed) = repair_copy(d, &path, spill, warn) {
                opened = load_copy(&fixed, pass, spill, &what).and_then(|c| check_sound(c, &what));
                let _ = fs::remove_file(&fixed);
            }
        }
        match opened {
            Ok(c) => {
                if let Some((damaged, _)) = &refused {
                    warn(&format!(
                        "{}: the passphrase opens {} but not this copy; it is damaged",
                        damaged.display(),
                        path.display()
                    ));
                }
                // The copy says which disc it is on: the highest disc it lists.
                let disc = c.discs()?.iter().map(|x| x.number).max().or(d.number);
                return Ok((c, CatalogueOrigin { path, disc }));
            }
            Err(e @ Error::WrongKey(..)) => match refused {
                Some((_, first)) => return Err(first),
                None => refused = Some((path, e)),
            },
            Err(e @ Error::Usage(_)) => return Err(e),
            Err(e) => {
                warn(&format!("{e}; trying another disc's copy"));
                last_err = Some(e);
            }
        }
    }
    Err(refused.map(|(_, e)| e).or(last_err).unwrap_or_else(|| {
        Error::Usage("no butcher disc found (no catalogue.db.gpg or catalogue.db)".to_string())
    }))
}

/// Rebuilds the damaged catalogue copy `copy` of disc `d` from the disc's recovery data into
/// `spill` (a directory the user named), never on the disc; says so through `warn`.
fn repair_copy(
    d: &DiscDir,
    copy: &Path,
    spill: Option<&Path>,
    warn: &dyn Fn(&str),
) -> Option<PathBuf> {
    let spill = spill?;
    let name = copy.file_name()?.to_str()?.to_string();
    let state = if copy.is_file() { "damaged" } else { "missing" };
    match crate::recovery::rebuild_files(&d.path, std::slice::from_ref(&name), spill) {
        Ok(r) => {
            let (_, path) = r.files.into_iter().next()?;
            warn(&format!(
                "{}: {state}; repaired with its disc's recovery data ({} slices rebuilt)",
                copy.display(),
                r.slices
            ));
            Some(path)
        }
        Err(e) => {
            warn(&e.to_string());
            None
        }
    }
}

/// A catalogue copy whose sha256 differs from what its disc's `SHA256SUMS` lists (damaged,
/// or replaced by another disc's copy) is not used. A disc without `SHA256SUMS`, or whose
/// `SHA256SUMS` does not list the copy, has only the copy's own checks (decryption, MDC,
/// integrity check).
fn matches_sums(d: &DiscDir, copy: &Path) -> Result<()> {
    let Some(name) = copy.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let Some(listed) = listed_sha256(&d.path, name) else {
        return Ok(());
    };
    let (got, _) = crate::fsutil::hash_file(copy).ctx("read", copy)?;
    if got == listed {
        Ok(())
    } else {
        Err(Error::Damaged(format!(
            "{}: its sha256 differs from {SUMS_NAME}",
            copy.display()
        )))
    }
}

/// The catalogue copy on disc `d` and whether it is encrypted; `None` when it has none. With
/// `listed`, a copy the disc's `SHA256SUMS` lists counts even when the file is missing (the
/// disc's recovery data may rebuild it). An encrypted copy without a passphrase is a usage
/// error.
fn copy_on(
    d: &DiscDir,
    passphrase: Option<&Keys>,
    listed: bool,
) -> Result<Option<(PathBuf, bool)>> {
    let sealed = d.path.join(catalogue_copy_name(true));
    let plain = d.path.join(catalogue_copy_name(false));
    let is_listed = |p: &Path| {
        listed
            && !p.exists()
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| listed_sha256(&d.path, n).is_some())
    };
    if sealed.is_file() || (!plain.is_file() && is_listed(&sealed)) {
        if passphrase.is_none() {
            return Err(Error::Usage(
                "the backup is encrypted: give the passphrase".to_string(),
            ));
        }
        return Ok(Some((sealed, true)));
    }
    Ok((plain.is_file() || is_listed(&plain)).then_some((plain, false)))
}

/// DEST's working catalogue, when `dir` is DEST (it holds `catalogue.db` and no
/// `SHA256SUMS`), opened read-only and found sound: the master record of the set, newer than
/// any copy on a disc. `None` when `dir` is not DEST; a working catalogue that cannot be used
/// is reported through `warn`.
pub fn open_working(dir: &Path, warn: &dyn Fn(&str)) -> Option<(Catalogue, CatalogueOrigin)> {
    let working = dir.join(WORKING_CATALOGUE);
    if !working.is_file() || dir.join(SUMS_NAME).exists() {
        return None;
    }
    let what = working.display().to_string();
    match Catalogue::open_read_only_as(&working, &what).and_then(|c| check_sound(c, &what)) {
        Ok(c) => Some((c, CatalogueOrigin::file(&working))),
        Err(e) => {
            warn(&format!("{e}; reading the discs' catalogue copies instead"));
            None
        }
    }
}

/// The name of the decrypted catalogue copy inside a spill directory.
const SPILLED: &str = "catalogue.db";

/// Reads one catalogue copy: decrypted with `passphrase` when given, into a file in `spill`
/// when given, else into memory.
fn load_copy(
    path: &Path,
    passphrase: Option<&Keys>,
    spill: Option<&Path>,
    what: &str,
) -> Result<Catalogue> {
    let Some(dir) = spill else {
        let bytes = match passphrase {
            Some(p) => decrypt_file(path, p)?,
            None => read_regular(path)?,
        };
        return Catalogue::from_bytes(&bytes, what);
    };
    let src = std::io::BufReader::new(crate::fsutil::open_regular(path).ctx("open", path)?);
    // The passphrase is checked here, before anything is written.
    let mut reader: Box<dyn std::io::Read + '_> = match passphrase {
        Some(p) => Box::new(DecryptReader::new(src, p, path)?),
        None => Box::new(src),
    };
    let file = dir.join(SPILLED);
    // A connection to an earlier copy keeps its own file: never write over it in place.
    match fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("remove", &file, e))
        }
        _ => {}
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .ctx("create", &file)?;
    let copied = std::io::copy(&mut reader, &mut out);
    drop(out);
    let opened = match copied {
        Err(e) if passphrase.is_some() => Err(Error::Damaged(format!("{what}: {e}"))),
        Err(e) => Err(Error::io("read", path, e)),
        Ok(_) => Catalogue::open_read_only_as(&file, what),
    };
    if opened.is_err() {
        let _ = fs::remove_file(&file);
    }
    opened
}

/// The whole of a regular file (a catalogue copy is not trusted to be one).
fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut f = crate::fsutil::open_regular(path).ctx("read", path)?;
    std::io::Read::read_to_end(&mut f, &mut out).ctx("read", path)?;
    Ok(out)
}

fn check_sound(c: Catalogue, what: &str) -> Result<Catalogue> {
    if c.integrity_ok()? {
        Ok(c)
    } else {
        Err(Error::Damaged(format!("{what} fails its integrity check")))
    }
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Where a command that only reads the catalogue (`snapshots`, `ls`, `diff`, `where`) finds it.
#[derive(Debug, Clone)]
pub enum CatalogueSource {
    /// A catalogue file: DEST's working catalogue, `--catalogue FILE`, or a copy named
    /// directly (`catalogue.db`, or `catalogue.db.gpg` when `encrypted`).
    File {
        /// The file.
        path: PathBuf,
        /// It is an OpenPGP message, not an SQLite file.
        encrypted: bool,
    },
    /// Disc directories: the newest readable catalogue copy among them.
    Discs(Vec<DiscDir>),
}

/// What to give instead of a path that holds no catalogue.
const LOCATE_HINT: &str =
    "give DEST (holding catalogue.db), a disc, a folder of disc-NNNN directories, or a \
     catalogue file";

impl CatalogueSource {
    /// Works out where to read: `catalogue` when given; `path` itself when it is a file; the
    /// working catalogue when `path` is DEST (it holds `catalogue.db` and no `SHA256SUMS`);
    /// otherwise the discs at or directly below `path`.
    pub fn locate(path: &Path, catalogue: Option<&Path>) -> Result<Self> {
        if let Some(file) = catalogue {
            return Self::file(file);
        }
        let md = fs::metadata(path).map_err(|e| Error::named("read", path, e, LOCATE_HINT))?;
        if md.is_file() {
            return Self::file(path);
        }
        let working = path.join(WORKING_CATALOGUE);
        if working.is_file() && !path.join(SUMS_NAME).exists() {
            return Self::file(&working);
        }
        let dirs = disc_dirs(&[path.to_path_buf()])?;
        if dirs.is_empty() {
            return Err(Error::Usage(format!(
                "{} holds no butcher catalogue; {LOCATE_HINT}",
                path.display()
            )));
        }
        Ok(CatalogueSource::Discs(dirs))
    }

    fn file(path: &Path) -> Result<Self> {
        let mut head = [0u8; 16];
        let mut f = crate::fsutil::open_regular(path)
            .map_err(|e| Error::named("open", path, e, "give a catalogue file"))?;
        let n = std::io::Read::read(&mut f, &mut head).ctx("read", path)?;
        Ok(CatalogueSource::File {
            path: path.to_path_buf(),
            encrypted: n < head.len() || &head != SQLITE_MAGIC,
        })
    }

    /// Whether reading it needs the passphrase.
    pub fn encrypted(&self) -> bool {
        match self {
            CatalogueSource::File { encrypted, .. } => *encrypted,
            CatalogueSource::Discs(dirs) => encrypted(dirs).unwrap_or(false),
        }
    }

    /// Opens it for reading; returns the catalogue and the file it was read from.
    pub fn open(
        &self,
        passphrase: Option<&Keys>,
        warn: &dyn Fn(&str),
    ) -> Result<(Catalogue, CatalogueOrigin)> {
        match self {
            CatalogueSource::File {
                path,
                encrypted: false,
            } => Ok((
                Catalogue::open_read_only(path)?,
                CatalogueOrigin::file(path),
            )),
            CatalogueSource::File {
                path,
                encrypted: true,
            } => {
                let p = passphrase.ok_or_else(|| {
                    Error::Usage(format!(
                        "{} is encrypted: give the passphrase",
                        path.display()
                    ))
                })?;
                let what = path.display().to_string();
                let cat = check_sound(load_copy(path, Some(p), None, &what)?, &what)?;
                Ok((cat, CatalogueOrigin::file(path)))
            }
            CatalogueSource::Discs(dirs) => open_catalogue(dirs, None, passphrase, None, warn),
        }
    }
}

/// Opens a catalogue for reading from DEST, a catalogue file, a disc or a folder of discs (see
/// [`CatalogueSource::locate`]). `passphrase` is called only when what is read is encrypted.
/// Returns the catalogue and the file it was read from.
pub fn open_any(
    path: &Path,
    catalogue: Option<&Path>,
    passphrase: &dyn Fn() -> Result<Keys>,
    warn: &dyn Fn(&str),
) -> Result<(Catalogue, CatalogueOrigin)> {
    let source = CatalogueSource::locate(path, catalogue)?;
    let pass = if source.encrypted() {
        Some(passphrase()?)
    } else {
        None
    };
    source.open(pass.as_ref(), warn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::encrypt_bytes;
    use std::os::unix::fs::PermissionsExt;

    fn disc_with_copy(root: &Path, number: u32, copy: &[u8]) -> DiscDir {
        let dir = root.join(crate::layout::disc_dir_name(number));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(SUMS_NAME), "").unwrap();
        fs::write(dir.join(catalogue_copy_name(true)), copy).unwrap();
        DiscDir {
            number: Some(number),
            set_id: None,
            path: dir,
            named: Some(number),
        }
    }

    /// With a spill directory the copy is decrypted into a private file there and read from
    /// it; a damaged newer copy leaves no file behind and the older copy is used; a wrong
    /// passphrase writes nothing.
    #[test]
    fn a_spilled_copy_is_a_private_file_and_damage_leaves_none() {
        let tmp = tempfile::tempdir().unwrap();
        let pass = Keys::from(crate::crypt::Passphrase::new("correct horse").unwrap());
        let cat = Catalogue::create_in_memory().unwrap();
        cat.set_meta("marker", "from disc 1").unwrap();
        let good = encrypt_bytes(&cat.to_bytes().unwrap(), &pass).unwrap();
        let mut damaged = good.clone();
        let n = damaged.len();
        damaged[n / 2] ^= 0x55;
        let dirs = vec![
            disc_with_copy(tmp.path(), 1, &good),
            disc_with_copy(tmp.path(), 2, &damaged),
        ];
        let spill = tmp.path().join("spill");
        fs::create_dir(&spill).unwrap();

        let wrong = Keys::from(crate::crypt::Passphrase::new("battery staple").unwrap());
        let warned = std::cell::RefCell::new(Vec::new());
        let warn = |m: &str| warned.borrow_mut().push(m.to_string());
        match open_catalogue(&dirs, None, Some(&wrong), Some(&spill), &warn) {
            Err(Error::WrongKey(..)) => {}
            other => panic!(
                "expected a wrong passphrase, got {:?}",
                other.map(|r| r.1.path)
            ),
        }
        assert_eq!(fs::read_dir(&spill).unwrap().count(), 0);

        let (opened, from) = open_catalogue(&dirs, None, Some(&pass), Some(&spill), &warn).unwrap();
        assert_eq!(from.path, dirs[0].path.join(catalogue_copy_name(true)));
        assert_eq!(from.disc, Some(1));
        assert_eq!(
            opened.meta("marker").unwrap().as_deref(),
            Some("from disc 1")
        );
        assert!(
            warned.borrow().iter().any(|w| w.contains("disc-0002")),
            "the damaged copy is reported: {:?}",
            warned.borrow()
        );
        let names: Vec<_> = fs::read_dir(&spill)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SPILLED]);
        let mode = fs::metadata(spill.join(SPILLED))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // The same copy opened in memory reads the same.
        let (in_memory, _) = open_catalogue(&dirs, None, Some(&pass), None, &warn).unwrap();
        assert_eq!(
            in_memory.meta("marker").unwrap(),
            opened.meta("marker").unwrap()
        );
    }
}
