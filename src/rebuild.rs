//! Rebuilding files of a lost data disc from its group's parity disc and the group's other
//! data discs (docs/format.md section 3.5): for restore (the archives it needs) and for
//! `butcher rebuild-disc` (every file of the disc).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, ParityFile, ParityGroup};
use crate::disc::group::xor_stream_from;
use crate::error::{Error, IoContext, Result};
use crate::layout::{disc_dir_name, parity_piece_name};

/// Bytes combined at once.
const CHUNK: u64 = 8 << 20;

/// The parity discs of a set and the streams of the discs they protect.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParityMap {
    groups: Vec<ParityGroup>,
    files: HashMap<u32, Vec<ParityFile>>,
    /// Why the records of a data disc cannot be used to rebuild it (a damaged or crafted
    /// copy), by disc: it is lost as a disc without parity is, with this reason.
    damaged: HashMap<u32, String>,
}

/// The most pieces a parity disc has (`parity-NNNN.bin`).
const MAX_PIECES: u64 = 9999;

impl ParityMap {
    /// What the catalogue records (nothing for a set without parity discs).
    /// What the catalogue records (nothing for a set without parity discs). A file name that
    /// is not a plain name of a disc's directory makes the catalogue damaged: nothing is ever
    /// read or written outside the directories named.
    pub(crate) fn of(cat: &Catalogue) -> Result<ParityMap> {
        let groups = cat.parity_groups()?;
        let mut files = HashMap::new();
        let mut damaged = HashMap::new();
        for m in cat.parity_members()? {
            if m.parity_disc.is_some() {
                let list = cat.parity_files(m.disc)?;
                if let Some(bad) = list.iter().find(|f| !plain_name(&f.name)) {
                    return Err(Error::Damaged(format!(
                        "the catalogue's parity_files names {:?} on {}, not a file name",
                        bad.name,
                        disc_dir_name(m.disc)
                    )));
                }
                let group = groups.iter().find(|g| (g.first..=g.last).contains(&m.disc));
                if let Some(why) = group.and_then(|g| group_damage(g).or(files_damage(g, &list))) {
                    damaged.insert(m.disc, why);
                }
                files.insert(m.disc, list);
            }
        }
        Ok(ParityMap {
            groups,
            files,
            damaged,
        })
    }

    /// The group whose parity disc protects data disc `disc`, if one does.
    pub(crate) fn group_of(&self, disc: u32) -> Option<&ParityGroup> {
        if !self.files.contains_key(&disc) {
            return None;
        }
        self.groups
            .iter()
            .find(|g| (g.first..=g.last).contains(&disc))
    }

    /// Whether `disc` is a parity disc.
    pub(crate) fn is_parity_disc(&self, disc: u32) -> bool {
        self.groups.iter().any(|g| g.parity_disc == disc)
    }

    /// The discs needed to rebuild data disc `lost`: the other data discs of its group, then
    /// its parity disc. `None` when no parity disc protects it.
    pub(crate) fn needed_for(&self, lost: u32) -> Option<Vec<u32>> {
        let g = self.group_of(lost)?;
        let mut discs: Vec<u32> = self.members(g).into_iter().filter(|d| *d != lost).collect();
        discs.push(g.parity_disc);
        Some(discs)
    }

    /// The data discs of group `g`.
    fn members(&self, g: &ParityGroup) -> Vec<u32> {
        let mut m: Vec<u32> = self
            .files
            .keys()
            .copied()
            .filter(|d| (g.first..=g.last).contains(d))
            .collect();
        m.sort_unstable();
        m
    }

    /// The files of data disc `disc`'s stream.
    pub(crate) fn files_of(&self, disc: u32) -> &[ParityFile] {
        self.files.get(&disc).map_or(&[], |f| f.as_slice())
    }
}

/// Why the catalogue's record of parity group `g` cannot be right, if it cannot: every
/// size is checked before it sizes a division, a vector or a file.
fn group_damage(g: &ParityGroup) -> Option<String> {
    let what = if g.piece_size == 0 {
        "a piece size of 0".to_string()
    } else if g.length.div_ceil(g.piece_size) > MAX_PIECES {
        format!(
            "a parity stream of {} bytes in pieces of {}: more than {MAX_PIECES} pieces",
            g.length, g.piece_size
        )
    } else if g.first > g.last || (g.first..=g.last).contains(&g.parity_disc) {
        format!("data discs {} to {}", g.first, g.last)
    } else {
        return None;
    };
    Some(format!(
        "the catalogue copy's record of parity disc {} is damaged: it records {what} \
         (piece size {}, length {})",
        g.parity_disc, g.piece_size, g.length
    ))
}

/// Why the files `list` of a data disc of group `g` cannot be where the catalogue says, if
/// they cannot: each lies inside the group's parity stream.
fn files_damage(g: &ParityGroup, list: &[ParityFile]) -> Option<String> {
    let bad = list.iter().find(|f| {
        f.offset
            .checked_add(f.size)
            .is_none_or(|end| end > g.length)
    })?;
    Some(format!(
        "the catalogue copy's parity record of {} is damaged: {} at byte {} of {} bytes lies \
         beyond the parity stream of {} ({} bytes)",
        disc_dir_name(bad.disc),
        bad.name,
        bad.offset,
        bad.size,
        disc_dir_name(g.parity_disc),
        g.length
    ))
}

/// A plain file name: not empty, no `/`, no NUL, not `.` or `..`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\0']) && name != "." && name != ".."
}

/// The parity stream of `g` as the files of its parity disc.
fn parity_pieces(g: &ParityGroup) -> Vec<ParityFile> {
    let count = g.length.div_ceil(g.piece_size) as u32;
    (1..=count)
        .map(|k| {
            let offset = u64::from(k - 1) * g.piece_size;
            ParityFile {
                disc: g.parity_disc,
                name: parity_piece_name(k),
                offset,
                size: g.piece_size.min(g.length - offset),
                sha256: String::new(),
            }
        })
        .collect()
}

/// Checks that parity disc `dir` of group `g` holds the pieces the catalogue records, each
/// of its recorded size, before lost disc `lost` is rebuilt from it.
fn check_pieces(dir: &Path, g: &ParityGroup, pieces: &[ParityFile], lost: u32) -> Result<()> {
    for p in pieces {
        let path = dir.join(&p.name);
        let real = fs::metadata(&path).map(|m| m.len()).ok();
        if real != Some(p.size) {
            let real = real.map_or("missing".to_string(), |n| format!("{n} bytes"));
            return Err(Error::Damaged(format!(
                "{} cannot be rebuilt: {} does not hold the parity its catalogue copy records \
                 ({} is {real}, recorded {} bytes)",
                disc_dir_name(lost),
                disc_dir_name(g.parity_disc),
                p.name,
                p.size
            )));
        }
    }
    Ok(())
}

/// What a rebuild gave.
#[derive(Debug, Default)]
pub(crate) struct Rebuilt {
    /// Name -> path of every file rebuilt whose sha256 is the recorded one.
    pub files: HashMap<String, PathBuf>,
    /// Files rebuilt wrong (a disc of the group is damaged beyond its recovery data), by name.
    pub wrong: Vec<String>,
    /// What of the group's other discs was repaired with their recovery data (outside the
    /// discs) to rebuild the files, one line each.
    pub repaired: Vec<String>,
    /// Why a disc of the group whose files came out wrong could not be repaired, one line each.
    pub not_repaired: Vec<String>,
}

/// The lost disc's files to rebuild, each with its output file.
struct Target<'a> {
    file: &'a ParityFile,
    path: PathBuf,
    out: fs::File,
}

/// Rebuilds the files `names` of lost data disc `lost` into `out_dir` from the other discs of
/// its group, which `dir_of` finds (or asks for) one at a time, in order. Each file is
/// written as `NAME` in `out_dir` and checked against its recorded sha256; a wrong one is
/// removed. Fails when a disc of the group is not at hand.
///
/// The discs are read as they are first. Damage on one of them (within its recovery data)
/// shows as a file rebuilt wrong, or one that cannot be read: those files are rebuilt again,
/// each disc's files they are made from first repaired with its recovery data into
/// `out_dir` (never on the disc); discs not at hand are asked for again. So an undamaged
/// group is read once, as fast as it can be.
pub(crate) fn rebuild_files(
    map: &ParityMap,
    lost: u32,
    names: &[String],
    dir_of: &mut dyn FnMut(u32) -> Option<PathBuf>,
    out_dir: &Path,
    advance: &dyn Fn(u64),
) -> Result<Rebuilt> {
    let Some(g) = map.group_of(lost) else {
        return Err(Error::Damaged(format!(
            "no parity disc protects {}",
            disc_dir_name(lost)
        )));
    };
    if let Some(why) = map.damaged.get(&lost) {
        return Err(Error::Damaged(format!(
            "{} cannot be rebuilt: {why}",
            disc_dir_name(lost)
        )));
    }
    let pieces = parity_pieces(g);
    // The parity disc first: its pieces are what bounds every size the catalogue records,
    // so they are checked before any file is made that big (the order of the discs does not
    // change what their XOR gives).
    let Some(parity_dir) = dir_of(g.parity_disc) else {
        return Err(Error::Damaged(format!(
            "{} cannot be rebuilt: {} of its group is not at hand",
            disc_dir_name(lost),
            disc_dir_name(g.parity_disc)
        )));
    };
    check_pieces(&parity_dir, g, &pieces, lost)?;
    let wanted = map
        .files_of(lost)
        .iter()
        .filter(|f| names.contains(&f.name));
    let targets = open_targets(wanted, out_dir)?;
    let group = Group {
        map,
        g,
        lost,
        pieces,
        parity_dir: std::cell::RefCell::new(Some(parity_dir)),
    };
    let paths: Vec<PathBuf> = targets.iter().map(|t| t.path.clone()).collect();
    let result = group.rebuild(targets, dir_of, out_dir, advance);
    if result.is_err() {
        for p in paths {
            let _ = fs::remove_file(p);
        }
    }
    result
}

/// Creates the output file `NAME` in `out_dir` of each of `files`, at its size (all zeros);
/// none is left when one cannot be created.
fn open_targets<'a>(
    files: impl Iterator<Item = &'a ParityFile>,
    out_dir: &Path,
) -> Result<Vec<Target<'a>>> {
    let mut targets: Vec<Target<'a>> = Vec::new();
    for f in files {
        let path = out_dir.join(&f.name);
        let out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .ctx("create", &path)
            .and_then(|out| out.set_len(f.size).ctx("write", &path).map(|_| out));
        match out {
            Ok(out) => targets.push(Target { file: f, path, out }),
            Err(e) => {
                for t in &targets {
                    let _ = fs::remove_file(&t.path);
                }
                return Err(e);
            }
        }
    }
    Ok(targets)
}

/// Whether the rebuilt file of `t` has its recorded sha256.
fn is_right(t: &Target<'_>) -> Result<bool> {
    let (sha, _) = crate::fsutil::hash_file(&t.path).ctx("read", &t.path)?;
    Ok(sha == t.file.sha256)
}

/// A lost disc's group, for rebuilding the disc's files.
struct Group<'a> {
    map: &'a ParityMap,
    g: &'a ParityGroup,
    lost: u32,
    /// The parity stream as the files of the parity disc.
    pieces: Vec<ParityFile>,
    /// The parity disc's directory, found (and its pieces checked) before the first pass.
    parity_dir: std::cell::RefCell<Option<PathBuf>>,
}

impl Group<'_> {
    /// Rebuilds `targets` (first from the discs as they are, then again, repairing, what came
    /// out wrong) and checks each against its sha256.
    fn rebuild(
        &self,
        targets: Vec<Target<'_>>,
        dir_of: &mut dyn FnMut(u32) -> Option<PathBuf>,
        out_dir: &Path,
        advance: &dyn Fn(u64),
    ) -> Result<Rebuilt> {
        let mut got = Rebuilt::default();
        let unreadable = self.combine(&targets, dir_of, None, &mut got, advance)?;
        let mut redo = Vec::new();
        for t in targets {
            if unreadable.is_none() && is_right(&t)? {
                got.files.insert(t.file.name.clone(), t.path);
                continue;
            }
            // Made again from zeros.
            t.out.set_len(0).ctx("write", &t.path)?;
            t.out.set_len(t.file.size).ctx("write", &t.path)?;
            redo.push(t);
        }
        if redo.is_empty() {
            return Ok(got);
        }
        if let Some(e) = self.combine(&redo, dir_of, Some(out_dir), &mut got, advance)? {
            return Err(e);
        }
        for t in redo {
            if is_right(&t)? {
                got.files.insert(t.file.name.clone(), t.path);
            } else {
                let _ = fs::remove_file(&t.path);
                got.wrong.push(t.file.name.clone());
            }
        }
        Ok(got)
    }

    /// XORs into `targets` the matching bytes of every other disc of the group, found by
    /// `dir_of`. With `repair` (a directory outside the discs), the files of each disc that
    /// are read are first checked with the disc's recovery data, and those damaged are
    /// repaired into it and read from there. Returns the error of a disc's file that could
    /// not be read (damage), having stopped there.
    fn combine(
        &self,
        targets: &[Target<'_>],
        dir_of: &mut dyn FnMut(u32) -> Option<PathBuf>,
        repair: Option<&Path>,
        got: &mut Rebuilt,
        advance: &dyn Fn(u64),
    ) -> Result<Option<Error>> {
        let mut buf = Vec::new();
        // The parity disc first, as it was found first.
        let mut order = self.map.needed_for(self.lost).unwrap_or_default();
        order.rotate_right(1);
        for disc in order {
            let found = match self.parity_dir.borrow_mut().take() {
                Some(d) if disc == self.g.parity_disc => Some(d),
                _ => dir_of(disc),
            };
            let Some(dir) = found else {
                return Err(Error::Damaged(format!(
                    "{} cannot be rebuilt: {} of its group is not at hand",
                    disc_dir_name(self.lost),
                    disc_dir_name(disc)
                )));
            };
            let files = if disc == self.g.parity_disc {
                self.pieces.as_slice()
            } else {
                self.map.files_of(disc)
            };
            let scratch = match repair {
                Some(root) => Some(self.repair_disc(disc, &dir, files, targets, root, got)?),
                None => None,
            };
            let repaired = scratch.as_ref().map(|(_, r)| r);
            let path_of = |name: &str| match repaired.and_then(|r| r.get(name)) {
                Some(p) => p.clone(),
                None => dir.join(name),
            };
            let combined = combine_disc(targets, files, &path_of, &mut buf, advance);
            if let Some((s, _)) = &scratch {
                let _ = fs::remove_dir_all(s);
            }
            if let Some(e) = combined? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Repairs, with the recovery data of disc `disc` (in `dir`), those of `files` that bytes
    /// of `targets` are made from, into a directory of their own inside `root`. Returns that
    /// directory and where each repaired file is, by name; says what it did in `got`.
    fn repair_disc(
        &self,
        disc: u32,
        dir: &Path,
        files: &[ParityFile],
        targets: &[Target<'_>],
        root: &Path,
        got: &mut Rebuilt,
    ) -> Result<(PathBuf, HashMap<String, PathBuf>)> {
        let overlaps = |f: &ParityFile| {
            targets.iter().any(|t| {
                let (a, b) = (t.file.offset, t.file.offset + t.file.size);
                f.offset < b && a < f.offset + f.size
            })
        };
        let names: Vec<String> = files
            .iter()
            .filter(|f| overlaps(f))
            .map(|f| f.name.clone())
            .collect();
        let scratch = root.join(format!("repaired-{}", disc_dir_name(disc)));
        fs::create_dir_all(&scratch).ctx("create", &scratch)?;
        let why = format!("to rebuild {}", disc_dir_name(self.lost));
        match crate::recovery::rebuild_files(dir, &names, &scratch) {
            Ok(r) if r.files.is_empty() => Ok((scratch, HashMap::new())),
            Ok(r) => {
                let which: Vec<&str> = r.files.iter().map(|(n, _)| n.as_str()).collect();
                got.repaired.push(format!(
                    "{}: {} repaired with its recovery data {why} ({} slices rebuilt)",
                    dir.display(),
                    which.join(", "),
                    r.slices
                ));
                Ok((scratch, r.files.into_iter().collect()))
            }
            Err(e) => {
                let e = match e {
                    Error::Damaged(m) => m,
                    e => e.to_string(),
                };
                got.not_repaired
                    .push(format!("{}: cannot be repaired {why}: {e}", dir.display()));
                Ok((scratch, HashMap::new()))
            }
        }
    }
}

/// XORs into each of `targets` the matching bytes of one disc's stream (`files`, each read
/// from `path_of` its name). Returns the error of a file of the disc that could not be read.
fn combine_disc(
    targets: &[Target<'_>],
    files: &[ParityFile],
    path_of: &dyn Fn(&str) -> PathBuf,
    buf: &mut Vec<u8>,
    advance: &dyn Fn(u64),
) -> Result<Option<Error>> {
    for t in targets {
        let f = t.file;
        let mut o = 0u64;
        while o < f.size {
            let n = CHUNK.min(f.size - o) as usize;
            buf.resize(n, 0);
            t.out.read_exact_at(buf, o).ctx("read", &t.path)?;
            if let Err(e) = xor_stream_from(path_of, files, f.offset + o, buf) {
                return Ok(Some(e));
            }
            t.out.write_all_at(buf, o).ctx("write", &t.path)?;
            o += n as u64;
            advance(n as u64);
        }
    }
    Ok(None)
}

pub(crate) fn disc_at_hand_or_asked(
    n: u32,
    dirs: &[crate::source::DiscDir],
    archives: &[crate::catalogue::Archive],
    set_id: &str,
    prompt: &mut dyn crate::restore::DiscPrompt,
    warn: &dyn Fn(&str),
) -> Option<PathBuf> {
    use crate::source;
    let at_hand = source::identify(source::rescan(dirs), archives, set_id, warn);
    if let Some(d) = at_hand.into_iter().find(|d| d.number == Some(n)) {
        return Some(d.path);
    }
    loop {
        let dir = prompt.ask(n)?;
        let found = source::disc_dirs(&[dir]).ok()?;
        let found = source::identify(found, archives, set_id, warn);
        if let Some(d) = found.into_iter().find(|d| d.number == Some(n)) {
            return Some(d.path);
        }
        warn(&format!("that is not disc {n:04} of this backup"));
    }
}

/// What `butcher rebuild-disc` needs.
#[derive(Debug, Clone, Default)]
pub struct RebuildDiscOptions {
    /// A folder of disc directories, or one disc (directory or mount point).
    pub source: PathBuf,
    /// More folders holding disc directories.
    pub more_discs: Vec<PathBuf>,
    /// The lost data disc.
    pub number: u32,
    /// Where its directory is written; must not exist, be empty, or hold only what an
    /// interrupted rebuild left.
    pub out: PathBuf,
    /// Keys of an encrypted set (to read its catalogue copy).
    pub keys: Option<crate::keys::Keys>,
}

/// What `butcher rebuild-disc` did.
#[derive(Debug, Clone, Default)]
pub struct RebuildDiscSummary {
    /// The disc's files rebuilt from the parity, each checked against the catalogue.
    pub files: Vec<String>,
    /// Its recovery files, written again.
    pub recovery: Vec<String>,
    /// The parity disc and the other data discs read.
    pub parity_disc: u32,
    pub others: Vec<u32>,
}

/// Writes the directory of lost data disc `opts.number` into `opts.out`, identical file by
/// file to the original: its files from the parity disc and the other data discs of its group
/// (at hand in SOURCE, or asked for one at a time), checked against the catalogue, then its
/// recovery files written again and every file checked against its `SHA256SUMS`. The files
/// are written into a staging directory inside OUT_DIR and moved into place when all are
/// right, `SHA256SUMS` last.
pub fn rebuild_disc(
    opts: &RebuildDiscOptions,
    progress: &dyn crate::progress::Progress,
    prompt: &mut dyn crate::restore::DiscPrompt,
) -> Result<RebuildDiscSummary> {
    use crate::layout::{is_recovery_name, SUMS_NAME};
    use crate::source;
    let left = leftovers(&opts.out)?;
    let warn = |m: &str| progress.warn(m);
    let pass = opts.keys.clone();
    let ask = move || {
        pass.clone()
            .ok_or_else(|| Error::Usage("the discs are encrypted: give the passphrase".into()))
    };
    let (cat, origin) = source::open_any(&opts.source, None, &ask, &warn)?;
    let explain = |e| origin.explain(e, "name a disc whose catalogue copy knows the parity disc");
    let map = ParityMap::of(&cat).map_err(explain)?;
    let set_id = cat.backup_set_id().map_err(explain)?;
    let archives = cat.archives_lenient().map_err(explain)?.0;
    let creator = cat
        .parity_member(opts.number)
        .map_err(explain)?
        .and_then(|m| m.recovery_creator);
    drop(cat);
    let Some(needed) = map.needed_for(opts.number) else {
        let what = if map.is_parity_disc(opts.number) {
            "it is a parity disc: nothing of the backup is lost with it".to_string()
        } else {
            "the catalogue copy read knows no parity disc that protects it (the set has none, \
             its group is still open, or the copy is older than the parity disc)"
                .to_string()
        };
        return Err(Error::Usage(format!(
            "disc {:04} cannot be rebuilt from parity: {what}",
            opts.number
        )));
    };
    let mut roots = vec![opts.source.clone()];
    roots.extend(opts.more_discs.iter().cloned());
    let dirs = source::disc_dirs(&roots)?;
    let mut dir_of = |n: u32| disc_at_hand_or_asked(n, &dirs, &archives, &set_id, prompt, &warn);
    take_up(&opts.out, left, map.files_of(opts.number), progress)?;
    fs::create_dir_all(&opts.out).ctx("create", &opts.out)?;
    let stage = opts.out.join(format!(
        "{STAGE_PREFIX}{}{}",
        std::process::id(),
        crate::layout::TMP_SUFFIX
    ));
    fs::create_dir(&stage).ctx("create", &stage)?;
    let result = (|| -> Result<RebuildDiscSummary> {
        let names: Vec<String> = map
            .files_of(opts.number)
            .iter()
            .map(|f| f.name.clone())
            .collect();
        // Saturating: the sizes are the catalogue copy's, checked only when rebuilding.
        let total = (map.files_of(opts.number).iter()).fold(0u64, |t, f| t.saturating_add(f.size));
        progress.start(
            crate::progress::Stage::Restore,
            total.saturating_mul(needed.len() as u64),
            0,
        );
        let got = rebuild_files(&map, opts.number, &names, &mut dir_of, &stage, &|n| {
            progress.advance(n, 0)
        });
        progress.finish();
        let got = got?;
        for m in &got.repaired {
            progress.note(m);
        }
        for m in &got.not_repaired {
            progress.warn(m);
        }
        if !got.wrong.is_empty() {
            return Err(Error::Damaged(format!(
                "{} rebuilt do not match the catalogue: a disc of the group is damaged \
                 beyond its recovery data",
                got.wrong.join(", ")
            )));
        }
        let mut recovery = Vec::new();
        if let Some(creator) = &creator {
            crate::recovery::regenerate(&stage, creator)?;
            recovery = crate::layout::recovery_files(&stage);
        }
        let bad = crate::sums::check(&stage, &mut |_| {})?;
        if !bad.is_empty() {
            return Err(Error::Damaged(format!(
                "the rebuilt disc does not match its SHA256SUMS: {}",
                bad.join(", ")
            )));
        }
        // Into place, SHA256SUMS last: a directory without it is not a finished disc.
        let mut order: Vec<String> = names.clone();
        order.extend(recovery.iter().cloned());
        order.sort_by_key(|n| n == SUMS_NAME);
        for name in &order {
            let to = opts.out.join(name);
            fs::rename(stage.join(name), &to).ctx("rename into place", &to)?;
        }
        crate::fsutil::sync_dir(&opts.out)?;
        let (parity_disc, others) = needed.split_last().expect("a parity disc");
        Ok(RebuildDiscSummary {
            files: names.into_iter().filter(|n| !is_recovery_name(n)).collect(),
            recovery,
            parity_disc: *parity_disc,
            others: others.to_vec(),
        })
    })();
    let _ = fs::remove_dir_all(&stage);
    result
}

/// The name of a rebuild's staging directory in OUT_DIR begins so (then the process id, then
/// `.partial`).
const STAGE_PREFIX: &str = ".butcher-rebuild-";

/// What an interrupted rebuild left in OUT_DIR.
#[derive(Debug, Default)]
struct Leftovers {
    /// Its staging directories.
    stages: Vec<PathBuf>,
    /// Files it had moved into place (`SHA256SUMS`, moved last, is not among them), by name.
    files: Vec<String>,
}

/// What OUT_DIR holds, when it is missing, empty, or holds only what an interrupted rebuild
/// left: its staging directories, and files of a disc but `SHA256SUMS`. Anything else
/// refuses it: OUT_DIR must be new or empty.
fn leftovers(out: &Path) -> Result<Leftovers> {
    let not_empty = || {
        Error::Usage(format!(
            "{} is not empty: give a new or empty directory",
            out.display()
        ))
    };
    let mut left = Leftovers::default();
    let entries = match fs::read_dir(out) {
        Ok(it) => it,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(left),
        Err(e) => {
            return Err(Error::named(
                "read",
                out,
                e,
                "give a new or empty directory",
            ))
        }
    };
    for ent in entries {
        let ent = ent.ctx("read", out)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            return Err(not_empty());
        };
        let kind = ent.file_type().ctx("read", &ent.path())?;
        if kind.is_dir() && is_stage_name(name) {
            left.stages.push(ent.path());
        } else if kind.is_file() && name != crate::layout::SUMS_NAME && plain_name(name) {
            left.files.push(name.to_string());
        } else {
            return Err(not_empty());
        }
    }
    Ok(left)
}

/// Whether `name` is that of a rebuild's staging directory: `.butcher-rebuild-PID.partial`.
fn is_stage_name(name: &str) -> bool {
    name.strip_prefix(STAGE_PREFIX)
        .and_then(|rest| rest.strip_suffix(crate::layout::TMP_SUFFIX))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Takes up what an interrupted rebuild of the disc whose stream is `files` left in `out`:
/// its staging directories are removed, the files it had moved into place are written again.
/// Files that are not the disc's refuse OUT_DIR.
fn take_up(
    out: &Path,
    left: Leftovers,
    files: &[ParityFile],
    progress: &dyn crate::progress::Progress,
) -> Result<()> {
    let of_disc = |n: &str| files.iter().any(|f| f.name == n) || crate::layout::is_recovery_name(n);
    if !left.files.iter().all(|n| of_disc(n)) {
        return Err(Error::Usage(format!(
            "{} is not empty: give a new or empty directory",
            out.display()
        )));
    }
    if left.stages.is_empty() && left.files.is_empty() {
        return Ok(());
    }
    progress.note(&format!(
        "{} holds what an interrupted rebuild left: starting it over",
        out.display()
    ));
    for stage in &left.stages {
        fs::remove_dir_all(stage).ctx("remove", stage)?;
    }
    for name in &left.files {
        let p = out.join(name);
        fs::remove_file(&p).ctx("remove", &p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_stage_name, plain_name};

    #[test]
    fn only_a_rebuilds_own_staging_directories_are_taken_up() {
        assert!(is_stage_name(".butcher-rebuild-1234.partial"));
        for other in [
            ".butcher-rebuild-.partial",
            ".butcher-rebuild-12x.partial",
            ".butcher-rebuild-12",
            "butcher-rebuild-12.partial",
            "disc-0001",
        ] {
            assert!(!is_stage_name(other), "{other}");
        }
    }

    #[test]
    fn only_plain_names_are_files_of_a_disc() {
        for good in ["a000001.tar.bz2.gpg", "SHA256SUMS", "..x", "catalogue.db"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\0b"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }
}
