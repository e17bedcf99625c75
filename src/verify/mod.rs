//! Verify stage: checks the discs at hand without restoring anything. Reads disc directories
//! (and the working catalogue when DEST is given); writes nothing.
//!
//! Without the passphrase: every file listed in a disc's SHA256SUMS exists and has that
//! sha256, nothing unlisted lies on the disc, and, when a catalogue is readable (the working
//! one, or an unencrypted copy), every archive it places on a disc at hand is there with the
//! recorded size and sha256. With the passphrase the newest catalogue copy is decrypted and
//! checked too; `deep` also decrypts and unpacks every archive and checks every content's sha256.

mod deep;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::catalogue::{Archive, Catalogue, Kind};
use crate::encryption::check_keys_open;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::layout::{catalogue_copy_name, is_archive_name, README_NAME};
use crate::progress::{Progress, Stage};
use crate::recovery::RecoveryState;
use crate::source::{self, CatalogueOrigin, DiscDir};
pub use crate::sums::FileProblem;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// DEST, a folder of discs, or one disc.
    pub source: PathBuf,
    /// Needed for an encrypted catalogue copy and for `deep`.
    pub keys: Option<Keys>,
    /// Decrypt and unpack every archive and check every content.
    pub deep: bool,
}

/// The findings for one disc.
#[derive(Debug, Clone, Default)]
pub struct DiscReport {
    /// Disc number, when known.
    pub number: Option<u32>,
    /// Its directory.
    pub path: PathBuf,
    /// Files checked against SHA256SUMS.
    pub files_checked: u64,
    /// Bytes read to check them.
    pub bytes_checked: u64,
    /// Problems, one line each; empty when all is well.
    pub problems: Vec<String>,
    /// The disc's files that do not match its SHA256SUMS (each also a line of `problems`).
    pub files: Vec<FileProblem>,
    /// The archives the catalogue places on this disc that are missing or damaged, each with
    /// the files whose content it holds (each finding also a line of `problems`).
    pub archives: Vec<ArchiveProblem>,
    /// The working catalogue says an interrupted run left this disc open: it is not finished
    /// (the next run finishes it), so what it lacks is not damage.
    pub unfinished: bool,
    /// What the disc's recovery data says, for a damaged disc; `None` when not looked at.
    pub recovery: Option<RecoveryState>,
}

/// A missing or damaged archive of a disc.
#[derive(Debug, Clone, Default)]
pub struct ArchiveProblem {
    /// The archive's file name on the disc.
    pub name: String,
    /// What is wrong with it, one finding each (the shallow and the deep check may both find
    /// something).
    pub problems: Vec<String>,
    /// The paths (raw bytes, as the catalogue has them) whose content it holds, in byte
    /// order: the files a restore loses with it.
    pub files: Vec<Vec<u8>>,
}

impl DiscReport {
    /// Records that archive `name` is missing or damaged (`problem`), with the paths whose
    /// content it holds.
    pub(crate) fn archive_problem(&mut self, name: &str, problem: String, files: &[Vec<u8>]) {
        let shown: Vec<std::borrow::Cow<'_, str>> =
            files.iter().map(|f| String::from_utf8_lossy(f)).collect();
        self.problems.push(format!(
            "{name}: {problem}; files in it: {}",
            shown.join(", ")
        ));
        match self.archives.iter_mut().find(|a| a.name == name) {
            Some(a) => a.problems.push(problem),
            None => self.archives.push(ArchiveProblem {
                name: name.to_string(),
                problems: vec![problem],
                files: files.to_vec(),
            }),
        }
    }
}

/// The findings of a verify run.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// One report per disc at hand.
    pub discs: Vec<DiscReport>,
    /// Problems not tied to one disc (the catalogue), one line each.
    pub problems: Vec<String>,
    /// Whether a catalogue could be read (archives then checked against it).
    pub catalogue_checked: bool,
    /// Whether the archives were unpacked and every content checked.
    pub deep_checked: bool,
}

impl VerifyReport {
    /// True when no damage was found.
    pub fn all_well(&self) -> bool {
        self.problems.is_empty()
            && self
                .discs
                .iter()
                .all(|d| d.unfinished || d.problems.is_empty())
    }
}

/// What to do when the catalogue verify reads holds something it cannot read.
const HINT: &str = "verify reads DEST's working catalogue, else the copy of the highest-numbered \
                    disc: name an earlier disc to check against its copy";

/// Verifies the discs reachable from `opts.source`.
pub fn verify(opts: &VerifyOptions, progress: &dyn Progress) -> Result<VerifyReport> {
    let dirs = source::disc_dirs(std::slice::from_ref(&opts.source))?;
    if dirs.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no finished butcher disc (no disc directory with SHA256SUMS and a \
             catalogue copy)",
            opts.source.display()
        )));
    }
    let mut report = VerifyReport::default();
    let total: u64 = dirs.iter().map(|d| dir_bytes(&d.path)).sum();
    progress.start(Stage::Check, total, 0);
    for d in &dirs {
        report.discs.push(check_sums(d, progress)?);
    }
    progress.finish();
    let pass = opts.keys.as_ref();
    let cat = open_catalogue(&opts.source, &dirs, pass, &mut report, progress)?;
    if let Some((cat, origin)) = &cat {
        report.catalogue_checked = true;
        let explain = |e| origin.explain(e, HINT);
        check_identity(cat, &dirs, &mut report).map_err(explain)?;
        check_archives(cat, &dirs, &mut report).map_err(explain)?;
        check_entries(cat, &mut report).map_err(explain)?;
        if opts.deep {
            // A wrong passphrase would make every archive look damaged: refuse it first.
            if let Some(k) = pass {
                check_keys_open(cat, k).map_err(explain)?;
            }
            report.deep_checked = true;
            deep::check(cat, &dirs, pass, &mut report, progress).map_err(explain)?;
        }
    }
    // DEST's running parity: each piece against the checksum recorded when it was written.
    let bad = crate::disc::running_parity_problems(&opts.source, cat.as_ref().map(|c| &c.0))?;
    report.problems.extend(bad);
    // A damaged disc is checked with its recovery data: repairable or not. The recovery data
    // of a disc that matches its SHA256SUMS must still be usable: a crafted set that repair
    // would refuse is damage too.
    for d in report.discs.iter_mut().filter(|d| !d.unfinished) {
        if !d.problems.is_empty() {
            d.recovery = Some(crate::recovery::check_disc(&d.path));
        } else if let Some(why) = crate::recovery::refused_set(&d.path) {
            d.problems
                .push(format!("its recovery files cannot be used: {why}"));
            d.recovery = Some(RecoveryState::Unreadable(why));
        }
    }
    Ok(report)
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Checks one disc against its SHA256SUMS.
fn check_sums(d: &DiscDir, progress: &dyn Progress) -> Result<DiscReport> {
    let mut r = DiscReport {
        number: d.number,
        path: d.path.clone(),
        ..Default::default()
    };
    let (mut files, mut bytes) = (0, 0);
    r.files = crate::sums::check_files(&d.path, &mut |len| {
        files += 1;
        bytes += len;
        progress.advance(len, 1);
    })?;
    r.problems = r.files.iter().map(|p| p.line.clone()).collect();
    r.files_checked = files;
    r.bytes_checked = bytes;
    if !d.path.join(catalogue_copy_name(true)).is_file()
        && !d.path.join(catalogue_copy_name(false)).is_file()
    {
        r.problems.push("no catalogue copy".to_string());
    }
    Ok(r)
}

/// The working catalogue when `source` is DEST, else the newest copy on the discs (needs the
/// passphrase when encrypted). A copy that cannot be read is a problem in the report.
fn open_catalogue(
    source: &Path,
    dirs: &[DiscDir],
    passphrase: Option<&Keys>,
    report: &mut VerifyReport,
    progress: &dyn Progress,
) -> Result<Option<(Catalogue, CatalogueOrigin)>> {
    let copies_readable = passphrase.is_some() || source::encrypted(dirs) == Some(false);
    let mut disc_copy = None;
    if copies_readable {
        let problems = std::cell::RefCell::new(Vec::new());
        let warn = |m: &str| problems.borrow_mut().push(m.to_string());
        match source::open_catalogue(dirs, None, passphrase, None, &warn) {
            Ok(opened) => disc_copy = Some(opened),
            // Not damage: the passphrase given is not the set's.
            Err(e @ Error::WrongKey(..)) => return Err(e),
            Err(e) => problems.borrow_mut().push(e.to_string()),
        }
        report.problems.extend(problems.into_inner());
    }
    let warn = |m: &str| progress.warn(m);
    if let Some(opened) = source::open_working(source, &warn) {
        return Ok(Some(opened));
    }
    Ok(disc_copy)
}

/// Each disc's identity: the disc its archives belong to by the catalogue's records must be the
/// one its README names, and a disc number must be one of the catalogue's discs. A disc the
/// working catalogue records as open is unfinished, not damaged.
fn check_identity(cat: &Catalogue, dirs: &[DiscDir], report: &mut VerifyReport) -> Result<()> {
    let discs = cat.discs()?;
    let archives = cat.archives_lenient()?.0;
    let known = discs.iter().map(|d| d.number).max().unwrap_or(0);
    for (i, d) in dirs.iter().enumerate() {
        let r = &mut report.discs[i];
        if let Some(n) = source::disc_by_archives(&d.path, &archives) {
            if d.number != Some(n) {
                r.problems.push(format!(
                    "{README_NAME} names disc {}, but its archives are those of disc {n:04}",
                    d.number.map_or("?".to_string(), |m| format!("{m:04}"))
                ));
            }
            r.number = Some(n);
        }
        match r.number {
            Some(n) if discs.iter().any(|x| x.number == n && !x.closed) => r.unfinished = true,
            Some(n) if !discs.iter().any(|x| x.number == n) && n <= known => r
                .problems
                .push(format!("disc {n:04} is not a disc of the catalogue")),
            Some(n) if n > known => r.problems.push(format!(
                "disc {n:04} is newer than every disc the catalogue read knows (up to {known:04})"
            )),
            _ => {}
        }
    }
    Ok(())
}

/// Entries of the catalogue that restore would refuse: rows it cannot read, unsafe paths,
/// paths it cannot write. Each is a problem of the catalogue.
fn check_entries(cat: &Catalogue, report: &mut VerifyReport) -> Result<()> {
    for snap in cat.snapshots()? {
        let (rows, unreadable) = cat.entries_lenient(snap.id)?;
        let (_, refused) = crate::select::select(rows, None);
        for (path, why) in unreadable.into_iter().chain(refused) {
            report.problems.push(format!(
                "snapshot {}: {}: {why}",
                snap.id.0,
                String::from_utf8_lossy(&path)
            ));
        }
    }
    Ok(())
}

/// Archives the catalogue places on the discs at hand: present, with the recorded size and
/// sha256 (the SHA256SUMS check covers bytes; this covers deleted archives and their files).
fn check_archives(cat: &Catalogue, dirs: &[DiscDir], report: &mut VerifyReport) -> Result<()> {
    let files = files_by_archive(cat)?;
    let (archives, unreadable) = cat.archives_lenient()?;
    for (id, why) in unreadable {
        report.problems.push(format!(
            "archive {id}: its catalogue row cannot be read ({why})"
        ));
    }
    for a in &archives {
        if !is_archive_name(&a.name) {
            report.problems.push(format!(
                "archive {} of disc {:04} is named {:?}, which is not an archive name of the \
                 format; not opened",
                a.id.0, a.disc, a.name
            ));
        }
    }
    for (i, d) in dirs.iter().enumerate() {
        let Some(number) = d.number else { continue };
        for a in archives
            .iter()
            .filter(|a| a.disc == number && is_archive_name(&a.name))
        {
            if let Some(problem) = check_archive_file(&d.path, a) {
                let who = files.get(&a.id.0).map(Vec::as_slice).unwrap_or_default();
                report.discs[i].archive_problem(&a.name, problem, who);
            }
        }
    }
    Ok(())
}

fn check_archive_file(dir: &Path, a: &Archive) -> Option<String> {
    let path = dir.join(&a.name);
    let Ok(md) = fs::metadata(&path) else {
        return Some("missing".to_string());
    };
    if md.len() != a.size {
        return Some(format!(
            "{} bytes, {} recorded (truncated or damaged)",
            md.len(),
            a.size
        ));
    }
    match crate::fsutil::hash_file(&path) {
        Ok((sha, _)) if sha == a.sha256 => None,
        Ok(_) => Some("sha256 differs from the catalogue (damaged)".to_string()),
        Err(e) => Some(format!("unreadable: {e}")),
    }
}

/// Archive id -> the paths (raw bytes, in byte order) whose content lives in it; a content
/// is named by its path in the newest snapshot that has it.
pub(crate) fn files_by_archive(cat: &Catalogue) -> Result<HashMap<i64, Vec<Vec<u8>>>> {
    let mut by_sha: HashMap<String, Vec<u8>> = HashMap::new();
    for s in cat.snapshots()?.into_iter().rev() {
        // Rows that cannot be read are reported by check_entries.
        for e in cat
            .entries_lenient(s.id)?
            .0
            .into_iter()
            .filter(|e| e.kind == Kind::File)
        {
            if let Some(sha) = e.sha256 {
                by_sha.entry(sha.hex()).or_insert(e.path);
            }
        }
    }
    let mut out: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
    for (sha, path) in by_sha {
        for p in cat.pieces(&sha)? {
            out.entry(p.archive.0).or_default().push(path.clone());
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(out)
}
