//! Finding discs and opening a catalogue: the disc directories reachable from what the user
//! named (a folder of disc directories, a single disc, a mounted disc, extra folders), which
//! disc is which, which catalogue copy to trust ([`open`]), and where the read-only commands
//! find a catalogue. Restore, verify and the query commands all read through here.

mod open;

pub use open::{open_any, open_catalogue, open_working, CatalogueOrigin};

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::catalogue::Archive;
use crate::error::{Error, IoContext, Result};
use crate::layout::{catalogue_copy_name, find_disc_dirs, is_archive_name, README_NAME, SUMS_NAME};

/// A directory that looks like one disc: it holds a catalogue copy.
#[derive(Debug, Clone)]
pub struct DiscDir {
    /// Disc number from its README (or the directory name `disc-NNNN`).
    pub number: Option<u32>,
    /// Backup set id from its README.
    pub set_id: Option<String>,
    /// The directory.
    pub path: PathBuf,
    /// The number in the directory's name `disc-NNNN`, if it has one.
    pub named: Option<u32>,
}

impl DiscDir {
    /// How new the disc looks before a catalogue says which disc it is: the higher of its
    /// README's number and its directory name's, so that one edited README line does not
    /// make the newest disc look like the oldest.
    fn apparent_number(&self) -> u32 {
        self.number.max(self.named).unwrap_or(0)
    }
}

/// What to give instead of a path that holds no discs.
const DISCS_HINT: &str = "give a folder holding disc-NNNN directories, one disc, or DEST";

/// Every disc directory reachable from `roots`: each root is a disc itself or a folder of
/// `disc-NNNN` directories.
pub fn disc_dirs(roots: &[PathBuf]) -> Result<Vec<DiscDir>> {
    let mut out = Vec::new();
    for root in roots {
        let md = fs::metadata(root).map_err(|e| Error::named("read", root, e, DISCS_HINT))?;
        if !md.is_dir() {
            return Err(Error::Usage(format!(
                "{} is not a directory; {DISCS_HINT}",
                root.display()
            )));
        }
        if is_disc(root, false) {
            out.push(describe(root, None));
        }
        for (n, p) in find_disc_dirs(root)? {
            if is_disc(&p, true) {
                out.push(describe(&p, Some(n)));
            }
        }
    }
    Ok(out)
}

/// The discs that the directories of `dirs` hold now. A drive's mount point read earlier may
/// hold another disc by now (the user swapped it), so each directory is read again; one that
/// is gone or holds no disc any more is left out.
pub fn rescan(dirs: &[DiscDir]) -> Vec<DiscDir> {
    let mut paths: Vec<&PathBuf> = dirs.iter().map(|d| &d.path).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| is_disc(p, true))
        .map(|p| describe(p, None))
        .collect()
}

/// Reads a disc's number and set id from its README, falling back on the directory name.
fn describe(dir: &Path, named: Option<u32>) -> DiscDir {
    let named = named.or_else(|| {
        dir.file_name()
            .and_then(|n| n.to_str())
            .and_then(crate::layout::disc_number_of)
    });
    // Only the first two lines matter: a few KiB are plenty, whatever the file's size.
    let header = crate::fsutil::read_head(&dir.join(README_NAME), 4096)
        .ok()
        .and_then(|t| crate::disc::readme::parse_header(&String::from_utf8_lossy(&t)));
    DiscDir {
        number: header.as_ref().map(|h| h.number).or(named),
        set_id: header.map(|h| h.set_id),
        path: dir.to_path_buf(),
        named,
    }
}

/// Gives each disc its identity from what is authenticated: the catalogue's records of the
/// archives (names and sizes) that its directory holds. A README that disagrees is reported
/// through `warn`, not obeyed. A disc holding no archive the catalogue knows keeps what its
/// README says, and is left out when that names another backup set.
pub fn identify(
    dirs: Vec<DiscDir>,
    archives: &[Archive],
    set_id: &str,
    warn: &dyn Fn(&str),
) -> Vec<DiscDir> {
    let by_name: HashMap<&str, &Archive> = archives.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut out = Vec::new();
    for mut d in dirs {
        // A README that its SHA256SUMS vouches for is the disc's word on its set: another set's
        // disc keeps out, however alike its archives' names and sizes.
        let trusted = readme_matches_sums(&d.path);
        if trusted && d.set_id.as_deref().is_some_and(|s| s != set_id) {
            out.extend(same_set(vec![d], set_id, warn));
            continue;
        }
        match disc_of_archives(&d.path, &by_name) {
            Some(n) => {
                let readme_set = d.set_id.as_deref().unwrap_or(set_id);
                if d.number != Some(n) || readme_set != set_id {
                    warn(&format!(
                        "{}: its README.txt says disc {} of set {readme_set}, its archives are \
                         those of disc {n:04} of this backup; going by the archives",
                        d.path.display(),
                        d.number.map_or("?".to_string(), |n| format!("{n:04}")),
                    ));
                }
                d.number = Some(n);
                d.set_id = Some(set_id.to_string());
                out.push(d);
            }
            // Nothing of it is needed from this catalogue: what its README says will do.
            None if !trusted => out.push(d),
            None => out.extend(same_set(vec![d], set_id, warn)),
        }
    }
    out
}

/// Whether a disc's README.txt is the one its SHA256SUMS lists (not damaged, not edited).
fn readme_matches_sums(dir: &Path) -> bool {
    let Some(listed) = listed_sha256(dir, README_NAME) else {
        return false;
    };
    crate::fsutil::hash_file(&dir.join(README_NAME)).is_ok_and(|(got, _)| got == listed)
}

/// The disc that most archive files of `dir` belong to by the catalogue's records (names and
/// sizes), if it holds any the catalogue knows.
pub fn disc_by_archives(dir: &Path, archives: &[Archive]) -> Option<u32> {
    let by_name: HashMap<&str, &Archive> = archives.iter().map(|a| (a.name.as_str(), a)).collect();
    disc_of_archives(dir, &by_name)
}

/// The disc that most archive files of `dir` belong to, by name and size.
fn disc_of_archives(dir: &Path, by_name: &HashMap<&str, &Archive>) -> Option<u32> {
    let mut votes: HashMap<u32, usize> = HashMap::new();
    for ent in fs::read_dir(dir).ok()?.flatten() {
        let name = ent.file_name();
        let Some(a) = name.to_str().and_then(|n| by_name.get(n)) else {
            continue;
        };
        if ent.metadata().is_ok_and(|m| m.len() == a.size) {
            *votes.entry(a.disc).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .max_by_key(|&(n, c)| (c, n))
        .map(|(n, _)| n)
}

/// Keeps the discs of backup set `set_id`, reporting the others through `warn`.
pub fn same_set(dirs: Vec<DiscDir>, set_id: &str, warn: &dyn Fn(&str)) -> Vec<DiscDir> {
    dirs.into_iter()
        .filter(|d| match &d.set_id {
            Some(s) if s != set_id => {
                warn(&format!(
                    "{} belongs to another backup set ({s}); ignoring it",
                    d.path.display()
                ));
                false
            }
            _ => true,
        })
        .collect()
}

/// The sha256 that a disc's `SHA256SUMS` lists for file `name`, if it lists one.
pub(crate) fn listed_sha256(dir: &Path, name: &str) -> Option<String> {
    crate::sums::entries(dir)
        .into_iter()
        .find_map(|(sha, listed)| (listed == name).then_some(sha))
}

/// Whether `dir` holds a disc: any of the files a disc carries, so that a disc that lost its
/// catalogue copy or `SHA256SUMS` still gives up its archives. A plain `catalogue.db` counts
/// only for a `disc-NNNN` directory (`named`): DEST holds its working catalogue under that name
/// and is never taken for a disc.
fn is_disc(dir: &Path, named: bool) -> bool {
    if dir.join(SUMS_NAME).is_file()
        || dir.join(catalogue_copy_name(true)).is_file()
        || (named && dir.join(catalogue_copy_name(false)).is_file())
    {
        return true;
    }
    let readme = crate::fsutil::read_head(&dir.join(README_NAME), 4096).ok();
    if readme
        .is_some_and(|t| crate::disc::readme::parse_header(&String::from_utf8_lossy(&t)).is_some())
    {
        return true;
    }
    fs::read_dir(dir).is_ok_and(|it| {
        it.flatten()
            .any(|e| e.file_name().to_str().is_some_and(is_archive_name))
    })
}

/// Whether the discs reachable from `roots` (as [`disc_dirs`] finds them) are encrypted;
/// `None` when none of them holds a catalogue copy.
pub fn discs_encrypted(roots: &[PathBuf]) -> Result<Option<bool>> {
    Ok(encrypted(&disc_dirs(roots)?))
}

/// Whether the discs in `dirs` are encrypted (their catalogue copy is; for a disc without
/// one, an open disc, its archives are).
pub fn encrypted(dirs: &[DiscDir]) -> Option<bool> {
    let by_copy = dirs.iter().find_map(|d| {
        if d.path.join(catalogue_copy_name(true)).is_file() {
            Some(true)
        } else if d.path.join(catalogue_copy_name(false)).is_file() {
            Some(false)
        } else {
            None
        }
    });
    by_copy.or_else(|| {
        dirs.iter().find_map(|d| {
            let names = fs::read_dir(&d.path).ok()?;
            names
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .find(|n| is_archive_name(n))
                .map(|n| n.ends_with(".gpg"))
        })
    })
}

/// Archive file name -> path, over every disc directory.
pub fn archive_files(dirs: &[DiscDir]) -> Result<HashMap<String, PathBuf>> {
    let mut out = HashMap::new();
    for d in dirs {
        for ent in fs::read_dir(&d.path).ctx("read", &d.path)? {
            let ent = ent.ctx("read", &d.path)?;
            if let Some(name) = ent.file_name().to_str() {
                if is_archive_name(name) {
                    out.entry(name.to_string()).or_insert(ent.path());
                }
            }
        }
    }
    Ok(out)
}
