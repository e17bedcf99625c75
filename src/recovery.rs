//! A disc's recovery data (docs/format.md section 3.4): checking a disc with it, repairing a
//! disc directory in place, and rebuilding one damaged file elsewhere for a restore.

use std::fs;
use std::path::{Path, PathBuf};

use butcher_par2::{check, load, rebuild, RecoverySet, RepairError, Report};

use crate::error::{Error, IoContext, Result};
use crate::layout::{self, recovery_files, SUMS_NAME, TMP_SUFFIX};
use crate::progress::{NoProgress, Progress, Stage};

/// The most memory rebuilding takes for the slices it computes at once.
const REPAIR_MEMORY: usize = 256 << 20;

/// What a disc's recovery data says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryState {
    /// The disc has no recovery files (format 3 and older, or `--parity 0`).
    None,
    /// The recovery files could not be read as a set.
    Unreadable(String),
    /// The protected files are whole.
    Whole {
        /// Recovery slices intact, and how many the disc was written with.
        intact: usize,
        written: usize,
    },
    /// Slices of the protected files are damaged.
    Damaged {
        /// Damaged slices (each needs one recovery slice).
        needed: usize,
        /// Recovery slices intact.
        intact: usize,
        /// How many the disc was written with.
        written: usize,
        /// The damaged files.
        files: Vec<String>,
    },
}

impl RecoveryState {
    /// Whether what is damaged can be repaired.
    pub fn repairable(&self) -> bool {
        match self {
            RecoveryState::Whole { .. } => true,
            RecoveryState::Damaged { needed, intact, .. } => needed <= intact,
            _ => false,
        }
    }

    /// Whether recovery slices the disc was written with are missing or damaged.
    pub fn recovery_damaged(&self) -> bool {
        match self {
            RecoveryState::Whole { intact, written } => intact < written,
            RecoveryState::Damaged {
                intact, written, ..
            } => intact < written,
            _ => false,
        }
    }
}

/// How many recovery slices the disc was written with, told by the names of its volume
/// files (`BASE.volFFF+CCC.par2` holds slices FFF to FFF+CCC-1): the largest count whose
/// volume names, by the writer's rule, include every volume file lying in the directory.
/// Names only `SHA256SUMS` lists count when they fit that rule, so that a damaged
/// `SHA256SUMS` cannot make up a count.
fn written_slices(dir: &Path, names: &[String]) -> usize {
    let present = recovery_files(dir);
    let vol = |n: &str| -> Option<(String, u32, u32)> {
        let (base, rest) = n.rsplit_once(".vol")?;
        let (first, count) = rest.strip_suffix(".par2")?.split_once('+')?;
        Some((base.to_string(), first.parse().ok()?, count.parse().ok()?))
    };
    let present_vols: Vec<&String> = present.iter().filter(|n| vol(n).is_some()).collect();
    let mut best = 0u32;
    for (base, first, count) in names.iter().filter_map(|n| vol(n)) {
        let r = first.saturating_add(count);
        let mut expected = Vec::new();
        let mut at = 0;
        for c in butcher_par2::rule::volume_counts(r) {
            expected.push(butcher_par2::rule::volume_name(&base, at, c, r));
            at += c;
        }
        let fits = expected.contains(&butcher_par2::rule::volume_name(&base, first, count, r))
            && present_vols.iter().all(|p| expected.contains(p));
        if fits && r > best {
            best = r;
        }
    }
    best as usize
}

/// The recovery files a disc should have: those `SHA256SUMS` lists (so that a missing one is
/// seen), and those lying in the directory.
fn expected_files(dir: &Path) -> Vec<String> {
    let mut names = recovery_files(dir);
    for (_, name) in crate::sums::entries(dir) {
        if layout::is_recovery_name(&name) && !names.contains(&name) {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Reads a disc's recovery set and checks its protected files with it.
fn load_and_check(
    dir: &Path,
    progress: &dyn Progress,
) -> std::result::Result<Option<(RecoverySet, Report, usize)>, String> {
    let names = expected_files(dir);
    if names.is_empty() {
        return Ok(None);
    }
    let written = written_slices(dir, &names);
    let set = load(dir, &names).map_err(|e| e.to_string())?;
    vet(dir, &set)?;
    let total: u64 = set.files.iter().map(|f| f.len).sum();
    progress.start(Stage::Check, total, set.files.len() as u64);
    let report = check(dir, &set, &|n| progress.advance(n, 0));
    progress.finish();
    let report = report.map_err(|e| e.to_string())?;
    Ok(Some((set, report, written)))
}

/// Whether the set read from the recovery files of the disc in `dir` may be used. The files
/// are not authenticated and a crafted set could name any path, so every file it protects must
/// be a plain file name that the disc's `SHA256SUMS` lists, or that the format gives a
/// protected file (`SHA256SUMS` may be lost itself); never a recovery file or `SHA256SUMS`.
/// Its slice size must be the one the format gives its files (docs/format.md section 3.4),
/// which bounds the slices and what checking and repair allocate for them.
fn vet(dir: &Path, set: &RecoverySet) -> std::result::Result<(), String> {
    let listed: std::collections::HashSet<String> = crate::sums::entries(dir)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    for f in &set.files {
        let n = f.name.as_str();
        let format_name = layout::is_archive_name(n)
            || n == layout::catalogue_copy_name(true)
            || n == layout::catalogue_copy_name(false)
            || n == layout::README_NAME
            || n == layout::FORMAT_NAME;
        let ours = n == SUMS_NAME || layout::is_recovery_name(n);
        if ours || !(format_name || listed.contains(n)) || n.contains(['/', '\0']) {
            return Err(format!(
                "they name {n:?}, which is not a file of the disc: not used"
            ));
        }
    }
    let lengths: Vec<u64> = set.files.iter().map(|f| f.len).filter(|l| *l > 0).collect();
    let want = butcher_par2::rule::slice_size(&lengths);
    if set.slice_size != want {
        return Err(format!(
            "their slices are of {} bytes, not the {want} the format gives the files they \
             protect: not used",
            set.slice_size
        ));
    }
    Ok(())
}

/// A problem of the recovery data of the disc in `dir` that a check against `SHA256SUMS`
/// does not show: a set that cannot be read, or that [`vet`] refuses. `None` when the disc
/// has no recovery files or its set may be used.
pub(crate) fn refused_set(dir: &Path) -> Option<String> {
    let names = expected_files(dir);
    if names.is_empty() {
        return None;
    }
    match load(dir, &names) {
        Ok(set) => vet(dir, &set).err(),
        Err(e) => Some(e.to_string()),
    }
}

/// Checks a disc with its recovery data.
pub(crate) fn check_disc(dir: &Path) -> RecoveryState {
    match load_and_check(dir, &NoProgress) {
        Ok(None) => RecoveryState::None,
        Err(e) => RecoveryState::Unreadable(e),
        Ok(Some((set, report, written))) => {
            let written = written.max(set.recovery.len());
            if report.data_whole(&set) {
                RecoveryState::Whole {
                    intact: set.recovery.len(),
                    written,
                }
            } else {
                RecoveryState::Damaged {
                    needed: report.bad_slices,
                    intact: set.recovery.len(),
                    written,
                    files: report
                        .files
                        .iter()
                        .zip(&set.files)
                        .filter(|(st, f)| !st.whole(f.len))
                        .map(|(st, _)| st.name.clone())
                        .collect(),
                }
            }
        }
    }
}

/// Whether the recovery data of the disc in `dir` vouches for its file `name` as it is: the
/// file is one it protects, and every slice matches.
pub(crate) fn vouches_for(dir: &Path, name: &str) -> bool {
    let names = expected_files(dir);
    if names.is_empty() {
        return false;
    }
    let Ok(mut set) = load(dir, &names) else {
        return false;
    };
    if vet(dir, &set).is_err() {
        return false;
    }
    set.files.retain(|f| f.name == name);
    if set.files.is_empty() {
        return false;
    }
    check(dir, &set, &|_| {}).is_ok_and(|r| r.data_whole(&set))
}

/// Files rebuilt from a disc's recovery data.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rebuilt {
    /// Where each rebuilt file is, by its name on the disc.
    pub files: Vec<(String, PathBuf)>,
    /// Slices computed.
    pub slices: usize,
}

/// Rebuilds the damaged or missing files among `names` of the disc in `dir` into `out_dir`
/// (as `repaired-NAME`, outside the disc), reading the disc only: one check of the disc and
/// one pass over its intact slices for all of them. Files that are whole, or not protected,
/// are left out.
pub(crate) fn rebuild_files(dir: &Path, names: &[String], out_dir: &Path) -> Result<Rebuilt> {
    let Some((set, report, _)) = load_and_check(dir, &NoProgress).map_err(Error::Damaged)? else {
        return Ok(Rebuilt::default());
    };
    let wanted: Vec<usize> = (0..set.files.len())
        .filter(|k| names.contains(&set.files[*k].name))
        .filter(|k| !report.files[*k].whole(set.files[*k].len))
        .collect();
    if wanted.is_empty() {
        return Ok(Rebuilt::default());
    }
    let out = |k: usize| out_dir.join(format!("repaired-{}", set.files[k].name));
    let slices = rebuild(dir, &set, &report, &wanted, &out, REPAIR_MEMORY).map_err(|e| {
        for k in &wanted {
            let _ = fs::remove_file(out(*k));
        }
        repair_error(dir, e)
    })?;
    Ok(Rebuilt {
        files: wanted
            .iter()
            .map(|k| (set.files[*k].name.clone(), out(*k)))
            .collect(),
        slices: slices.max(1),
    })
}

fn repair_error(dir: &Path, e: RepairError) -> Error {
    match e {
        RepairError::Io(e) => Error::Io {
            op: "repair",
            path: dir.to_path_buf(),
            source: e,
        },
        RepairError::NotEnough { needed, available } => Error::Damaged(format!(
            "{}: the disc is damaged beyond its recovery data ({needed} slices damaged, \
             {available} recovery slices intact)",
            dir.display()
        )),
        RepairError::Failed(why) => Error::Damaged(format!("{}: {why}", dir.display())),
    }
}

/// What `butcher repair` did to a disc directory.
#[derive(Debug, Clone, Default)]
pub struct RepairSummary {
    /// Files rebuilt from the recovery data.
    pub rebuilt: Vec<String>,
    /// Slices computed.
    pub slices: usize,
    /// The recovery files were written again.
    pub recovery_rewritten: bool,
    /// SHA256SUMS was written again.
    pub sums_rewritten: bool,
    /// What is still wrong against SHA256SUMS after the repair; empty when the disc is whole.
    pub still_damaged: Vec<String>,
}

/// Repairs the disc directory `dir` in place: damaged or missing protected files are rebuilt
/// (each written beside itself as `NAME.partial`, checked, then renamed over it), damaged or
/// missing recovery files are written again (the same bytes), and a damaged `SHA256SUMS` is
/// written again from the files it lists. Then the disc is checked against `SHA256SUMS`.
/// `progress` hears of the check of the disc, the longest part.
pub fn repair_disc(dir: &Path, progress: &dyn Progress) -> Result<RepairSummary> {
    let mut summary = RepairSummary::default();
    let (set, report, written) = match load_and_check(dir, progress) {
        Ok(Some(x)) => x,
        Ok(None) => {
            return Err(Error::Usage(format!(
                "{} has no recovery files (written with --parity 0, or by butcher before \
                 format 4): nothing to repair with",
                dir.display()
            )))
        }
        Err(e) => {
            return Err(Error::Damaged(format!(
                "{}: its recovery files cannot be read: {e}",
                dir.display()
            )))
        }
    };
    let damaged: Vec<usize> = (0..set.files.len())
        .filter(|k| !report.files[*k].whole(set.files[*k].len))
        .collect();
    if !damaged.is_empty() {
        let tmp = |k: usize| dir.join(format!("{}{TMP_SUFFIX}", set.files[k].name));
        summary.slices =
            rebuild(dir, &set, &report, &damaged, &tmp, REPAIR_MEMORY).map_err(|e| {
                for k in &damaged {
                    let _ = fs::remove_file(tmp(*k));
                }
                repair_error(dir, e)
            })?;
        for k in damaged {
            let name = &set.files[k].name;
            fs::rename(tmp(k), dir.join(name)).ctx("rename", &tmp(k))?;
            summary.rebuilt.push(name.clone());
        }
        crate::fsutil::sync_dir(dir)?;
    }
    let whole_recovery = set.set_files.iter().all(|f| f.whole()) && set.recovery.len() >= written;
    if !whole_recovery {
        rewrite_recovery(dir, &set, written)?;
        summary.recovery_rewritten = true;
    }
    // SHA256SUMS says what the disc held; one that does not match the now whole disc is
    // damaged itself, and written again from the files it lists.
    let mut problems = crate::sums::check(dir, &mut |_| {})?;
    if !problems.is_empty() {
        let want = expected_sums(dir, &set)?;
        crate::fsutil::write_atomic(dir, SUMS_NAME, want.as_bytes())?;
        summary.sums_rewritten = true;
        problems = crate::sums::check(dir, &mut |_| {})?;
    }
    summary.still_damaged = problems;
    Ok(summary)
}

/// Writes a disc's recovery files again, from its (whole) protected files: the same files
/// as the closing wrote, as the set's slice count, share and creator are kept.
fn rewrite_recovery(dir: &Path, set: &RecoverySet, written: usize) -> Result<()> {
    let files: Vec<String> = set.files.iter().map(|f| f.name.clone()).collect();
    let input: u64 = set.files.iter().map(|f| f.slices.len() as u64).sum();
    // Told from the names before the files go; and a count no share gives (a crafted
    // SHA256SUMS) is refused before anything is removed.
    let base = base_of(dir)?;
    share_for(dir, input, written)?;
    for name in recovery_files(dir) {
        fs::remove_file(dir.join(&name)).ctx("remove", &dir.join(&name))?;
    }
    let creator = set
        .creator
        .clone()
        .unwrap_or_else(|| layout::RECOVERY_CREATOR.into());
    write_recovery_files(dir, &base, &files, input, written, &creator)
}

/// The name the recovery files of the disc in `dir` start with, or why it cannot be told.
fn base_of(dir: &Path) -> Result<String> {
    dir_base(dir).ok_or_else(|| {
        Error::Damaged(format!(
            "{}: the names of its recovery files cannot be told",
            dir.display()
        ))
    })
}

/// Writes the recovery files `BASE...` of `files` (`input` slices in all) with `written`
/// recovery slices, at the share that gives that many, and creator packet `creator`: byte
/// for byte what the closing of the disc wrote.
fn write_recovery_files(
    dir: &Path,
    base: &str,
    files: &[String],
    input: u64,
    written: usize,
    creator: &str,
) -> Result<()> {
    let percent = share_for(dir, input, written)?;
    let opts = butcher_par2::CreateOptions {
        dir,
        files,
        base,
        percent,
        creator,
        tmp_suffix: TMP_SUFFIX,
        memory: REPAIR_MEMORY,
    };
    butcher_par2::create(&opts, &|_, _| {}).ctx("write the recovery files of", dir)?;
    Ok(())
}

/// The share (percent) that gives `written` recovery slices for `input` slices.
fn share_for(dir: &Path, input: u64, written: usize) -> Result<u32> {
    (1..=100)
        .find(|p| butcher_par2::rule::recovery_slices(input, *p) as usize == written)
        .ok_or_else(|| {
            Error::Damaged(format!(
                "{}: its {written} recovery slices match no share of its {input} slices",
                dir.display()
            ))
        })
}

/// The name the recovery files of the disc in `dir` start with, from those it has or lists.
fn dir_base(dir: &Path) -> Option<String> {
    let names = expected_files(dir);
    let first = names.first()?;
    let base = first
        .strip_suffix(".par2")?
        .split(".vol")
        .next()?
        .to_string();
    Some(base)
}

/// What `SHA256SUMS` of a disc should say: the protected files in the writer's order
/// (archives by name, the catalogue copy, README.txt, FORMAT.txt), then the recovery files.
fn expected_sums(dir: &Path, set: &RecoverySet) -> Result<String> {
    let mut names: Vec<String> = set.files.iter().map(|f| f.name.clone()).collect();
    let rank = |n: &str| match n {
        _ if layout::is_archive_name(n) => 0,
        "catalogue.db.gpg" | "catalogue.db" => 1,
        layout::README_NAME => 2,
        layout::FORMAT_NAME => 3,
        _ => 4,
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names.extend(recovery_files(dir));
    let mut sums = String::new();
    for n in names {
        let (sha, _) = crate::fsutil::hash_file(&dir.join(&n)).ctx("read", &dir.join(&n))?;
        sums.push_str(&format!("{sha}  {n}\n"));
    }
    Ok(sums)
}

/// Writes the recovery files of a disc rebuilt in `dir` again, as its `SHA256SUMS` names
/// them: over the files it lists but the recovery files and itself, with the recovery slice
/// count the volume names give and creator packet `creator`. The slice size and everything
/// else follow from the files (docs/format.md section 3.4), so the files come out byte for
/// byte as first written.
pub(crate) fn regenerate(dir: &Path, creator: &str) -> Result<()> {
    let names: Vec<String> = crate::sums::entries(dir)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    if !names.iter().any(|n| layout::is_recovery_name(n)) {
        return Ok(());
    }
    let files: Vec<String> = names
        .iter()
        .filter(|n| !layout::is_recovery_name(n) && n.as_str() != SUMS_NAME)
        .cloned()
        .collect();
    // SHA256SUMS is not authenticated: a name in it that is no plain file name of the disc
    // is never read.
    if let Some(bad) = files
        .iter()
        .find(|n| n.is_empty() || n.contains(['/', '\0']) || *n == "." || *n == "..")
    {
        return Err(Error::Damaged(format!(
            "{}: {SUMS_NAME} names {bad:?}, which is not a file of the disc",
            dir.display()
        )));
    }
    let mut lengths = Vec::new();
    for f in &files {
        let p = dir.join(f);
        let len = fs::metadata(&p).ctx("read", &p)?.len();
        if len > 0 {
            lengths.push(len);
        }
    }
    let s = butcher_par2::rule::slice_size(&lengths);
    let input = butcher_par2::rule::input_slices(&lengths, s);
    let written = written_slices(dir, &names);
    write_recovery_files(dir, &base_of(dir)?, &files, input, written, creator)
}
