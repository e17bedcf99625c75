//! Disc stage: places archives into `DEST/disc-NNNN` directories no larger than a disc, and
//! closes each disc with an encrypted copy of the catalogue, a README for a stranger,
//! FORMAT.txt, PAR2 recovery files over all of these, and `SHA256SUMS` (written last: a disc
//! directory without it is not finished).

pub mod group;
pub mod parity;
mod piece_sums;
pub mod readme;
pub mod size;

use std::fs;
use std::path::{Path, PathBuf};

pub use parity::Parity;
pub use size::DiscSize;

use crate::catalogue::{Catalogue, SnapshotId};
use crate::crypt::EncryptWriter;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{sync_dir, write_atomic, write_atomic_with};
use crate::keys::Keys;
use crate::layout::{
    self, catalogue_copy_name, disc_dir_name, sectors, FORMAT_NAME, FORMAT_TEXT, README_NAME,
    SUMS_NAME, TMP_SUFFIX,
};
use crate::progress::Progress;

/// What is wrong with the running parity in `dest` (`DEST/parity-open`), one line each:
/// every piece that does not match the checksum recorded when it was written, with what to
/// do (from `cat`, the working catalogue). Reads only.
pub(crate) fn running_parity_problems(dest: &Path, cat: Option<&Catalogue>) -> Result<Vec<String>> {
    let bad = piece_sums::check_all(&dest.join(layout::RUNNING_PARITY_DIR))?;
    if bad.is_empty() {
        return Ok(bad);
    }
    let hint = match cat {
        Some(c) => piece_sums::remake_hint(dest, c)?,
        None => "it is made again from the open group's data discs: remove it and run the \
                 backup again"
            .to_string(),
    };
    Ok(bad
        .into_iter()
        .map(|b| format!("running parity: {b}; {hint}"))
        .collect())
}

struct OpenDisc {
    number: u32,
    dir: PathBuf,
    /// Bytes of the archives, each rounded up to whole sectors.
    used: u64,
    /// Length of every archive on it.
    sizes: Vec<u64>,
    /// (file name, sha256) of every archive on it.
    files: Vec<(String, String)>,
}

/// How big discs and archives are, and how much recovery data each disc carries.
#[derive(Debug, Clone, Copy)]
pub struct DiscSizes {
    pub disc: DiscSize,
    /// Input bytes per archive.
    pub archive: u64,
    /// Recovery data in percent.
    pub parity: u32,
    /// Data discs per parity disc (0: no parity discs).
    pub group: u32,
}

/// Fills disc directories one after another.
pub struct DiscWriter<'a> {
    dest: PathBuf,
    cat: &'a Catalogue,
    snapshot: SnapshotId,
    disc_size: u64,
    archive_size: u64,
    passphrase: Option<&'a Keys>,
    parity: u32,
    group: u32,
    progress: &'a dyn Progress,
    current: Option<OpenDisc>,
    closed: Vec<u32>,
    /// A data disc's stream being added to the running parity beside the packing.
    folding: Option<(u32, std::thread::JoinHandle<Result<()>>)>,
}

impl<'a> DiscWriter<'a> {
    /// Prepares to write discs into `dest`, numbering on from the catalogue.
    pub fn new(
        dest: &Path,
        cat: &'a Catalogue,
        snapshot: SnapshotId,
        sizes: DiscSizes,
        passphrase: Option<&'a Keys>,
        progress: &'a dyn Progress,
    ) -> Self {
        DiscWriter {
            dest: dest.to_path_buf(),
            cat,
            snapshot,
            disc_size: sizes.disc.bytes(),
            archive_size: sizes.archive,
            passphrase,
            parity: sizes.parity,
            group: sizes.group,
            progress,
            current: None,
            closed: Vec::new(),
            folding: None,
        }
    }

    /// Takes up the disc an interrupted run left open: its recorded archives stay, files on it
    /// that the catalogue does not know (written just before the interruption) are removed.
    /// When its directory is gone, its archives are forgotten so their contents are packed
    /// again. Returns the number of the disc taken up, if any.
    pub fn resume_open_disc(&mut self) -> Result<Option<u32>> {
        let Some(open) = self.cat.discs()?.into_iter().find(|d| !d.closed) else {
            return Ok(None);
        };
        let dir = self.dest.join(disc_dir_name(open.number));
        let archives: Vec<_> = self
            .cat
            .archives()?
            .into_iter()
            .filter(|a| a.disc == open.number)
            .collect();
        if !dir.is_dir() {
            if archives.is_empty() {
                fs::create_dir(&dir).ctx("create the disc directory", &dir)?;
            } else {
                self.cat.forget_disc(open.number)?;
                return Ok(None);
            }
        }
        let known: std::collections::HashSet<&str> =
            archives.iter().map(|a| a.name.as_str()).collect();
        for ent in fs::read_dir(&dir).ctx("read", &dir)? {
            let ent = ent.ctx("read", &dir)?;
            let name = ent.file_name();
            if !known.contains(name.to_string_lossy().as_ref()) {
                fs::remove_file(ent.path()).ctx("remove the unrecorded file", &ent.path())?;
            }
        }
        sync_dir(&dir)?;
        self.current = Some(OpenDisc {
            number: open.number,
            used: archives.iter().map(|a| sectors(a.size)).sum(),
            sizes: archives.iter().map(|a| a.size).collect(),
            files: archives.into_iter().map(|a| (a.name, a.sha256)).collect(),
            dir,
        });
        Ok(Some(open.number))
    }

    /// Numbers of the discs closed by this writer.
    pub fn closed(&self) -> &[u32] {
        &self.closed
    }

    /// The number of the open disc.
    pub fn current_number(&self) -> Option<u32> {
        self.current.as_ref().map(|d| d.number)
    }

    /// The bytes the next archive file may take on the open disc (opening one if needed).
    /// When less than is useful remains, the open disc is closed and a new one opened.
    pub fn room_for_archive(&mut self) -> Result<u64> {
        for _ in 0..2 {
            if self.current.is_none() {
                // Refused before the disc is opened: a refused run leaves no empty disc
                // for `butcher close` to finish.
                layout::check_one_archive_fits(
                    self.disc_size,
                    self.archive_size,
                    self.cat.size_bytes()?,
                    self.parity,
                    self.group,
                )?;
                self.open_next()?;
            }
            let d = self.current.as_ref().expect("invariant: a disc was opened");
            let cat = self.cat.size_bytes()?;
            let room = layout::room_for_archive(
                self.disc_size,
                self.archive_size,
                cat,
                &d.sizes,
                self.parity,
                self.group,
            );
            if let Some(room) = room {
                return Ok(room);
            }
            if d.files.is_empty() {
                return Err(layout::disc_too_small(
                    self.disc_size,
                    self.archive_size,
                    cat,
                    self.parity,
                    self.group,
                ));
            }
            self.close_current()?;
        }
        unreachable!("a fresh disc either has room or is refused")
    }

    fn open_next(&mut self) -> Result<()> {
        let number = self.cat.next_disc_number()?;
        let dir = self.dest.join(disc_dir_name(number));
        // The row first: a crash after it leaves an open disc that the next run takes up.
        self.cat.open_disc(number, self.snapshot)?;
        fs::create_dir(&dir).ctx("create the disc directory", &dir)?;
        sync_dir(&self.dest)?;
        self.current = Some(OpenDisc {
            number,
            dir,
            used: 0,
            sizes: Vec::new(),
            files: Vec::new(),
        });
        Ok(())
    }

    /// The temporary and final path of an archive on the open disc.
    pub fn archive_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        let d = self.current.as_ref().expect("invariant: a disc is open");
        (d.dir.join(format!("{name}{TMP_SUFFIX}")), d.dir.join(name))
    }

    /// Accounts for an archive now on the open disc.
    pub fn add_archive(&mut self, name: &str, size: u64, sha256: &str) {
        let d = self.current.as_mut().expect("invariant: a disc is open");
        d.used += sectors(size);
        d.sizes.push(size);
        d.files.push((name.to_string(), sha256.to_string()));
    }

    /// Closes the open disc, if any: catalogue copy, README, FORMAT.txt, the recovery
    /// files, then SHA256SUMS.
    pub fn close_current(&mut self) -> Result<Option<u32>> {
        let Some(d) = self.current.take() else {
            return Ok(None);
        };
        self.cat.close_disc(d.number, d.used)?;
        let closing = write_closing_files(
            self.cat,
            &d.dir,
            Closing {
                disc_size: self.disc_size,
                number: d.number,
                archives: &d.files,
                used: d.used,
                passphrase: self.passphrase,
                parity: self.parity,
                progress: self.progress,
                protects: None,
            },
        )?;
        // The disc's files and what an ISO 9660 image of them adds must fit the disc.
        let files = d.files.len() as u64 + closing.files;
        let total = d.used + closing.bytes + layout::iso_overhead(files);
        if total > self.disc_size {
            return Err(Error::Damaged(format!(
                "{} holds {total} bytes, more than the disc size {}: this is a bug in butcher",
                d.dir.display(),
                self.disc_size
            )));
        }
        self.closed.push(d.number);
        if self.group > 0 {
            self.add_to_group(d.number)?;
        }
        Ok(Some(d.number))
    }

    /// Puts a data disc just closed into the parity of its group, and writes the group's
    /// parity disc when the group is full.
    fn add_to_group(&mut self, number: u32) -> Result<()> {
        self.finish_folding()?;
        let Some(job) = group::prepare_data_disc(&self.dest, self.cat, number, self.disc_size)?
        else {
            return Ok(());
        };
        // The stream is added beside the packing of the next disc; the disc counts as in the
        // running parity once that is done (finish_folding).
        let handle = std::thread::Builder::new()
            .name("parity".into())
            .spawn(move || job.run())
            .map_err(|e| Error::io("start a thread for", &self.dest, e))?;
        self.folding = Some((number, handle));
        if (group::open_members(self.cat)?.len() as u32) < self.group {
            return Ok(());
        }
        self.finish_folding()?;
        if let Some(p) = group::close_group(self.cat, self.snapshot, self.group_context())? {
            self.progress.note(&format!(
                "{}: parity disc of {} written",
                disc_dir_name(p),
                layout::disc_range(&self.closed_in_group(p)?)
            ));
            self.closed.push(p);
        }
        Ok(())
    }

    /// Waits for the data disc being added to the running parity, and records it as in.
    /// A run calls it before it ends.
    pub fn finish_folding(&mut self) -> Result<()> {
        let Some((number, handle)) = self.folding.take() else {
            return Ok(());
        };
        match handle.join() {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Damaged(format!(
                    "adding {} to the running parity failed",
                    disc_dir_name(number)
                )))
            }
        }
        self.cat.set_parity_folded(number)
    }

    /// The data discs parity disc `p` protects.
    fn closed_in_group(&self, p: u32) -> Result<Vec<u32>> {
        Ok(self
            .cat
            .parity_members()?
            .into_iter()
            .filter(|m| m.parity_disc == Some(p))
            .map(|m| m.disc)
            .collect())
    }

    /// What writing a parity disc needs.
    pub fn group_context(&self) -> group::GroupContext<'_> {
        group::GroupContext {
            dest: &self.dest,
            disc_size: DiscSize::from_bytes(self.disc_size),
            passphrase: self.passphrase,
            parity: self.parity,
            progress: self.progress,
        }
    }
}

/// What closing a disc needs to know.
pub(crate) struct Closing<'a> {
    disc_size: u64,
    number: u32,
    /// (name, sha256) of its archives.
    archives: &'a [(String, String)],
    /// Bytes its archives take, in whole sectors.
    used: u64,
    passphrase: Option<&'a Keys>,
    parity: u32,
    progress: &'a dyn Progress,
    /// For a parity disc: the first and last data disc it protects.
    protects: Option<(u32, u32)>,
}

/// What closing a disc wrote.
pub(crate) struct Closed {
    /// Bytes (in whole sectors) of the files written.
    bytes: u64,
    /// How many files.
    files: u64,
}

/// Writes what closes a disc: the catalogue copy, the README, FORMAT.txt, the recovery files
/// over them and the archives, then SHA256SUMS over all of these. Files an interrupted
/// closing left are replaced.
pub(crate) fn write_closing_files(cat: &Catalogue, dir: &Path, c: Closing) -> Result<Closed> {
    remove_unfinished_closing(dir)?;
    // Streamed from the catalogue file through encryption: memory stays small however many
    // files the catalogue lists.
    let copy_name = catalogue_copy_name(c.passphrase.is_some());
    let copy_path = dir.join(copy_name);
    let (copy_len, copy_sha) = write_atomic_with(dir, copy_name, |w| match c.passphrase {
        Some(p) => {
            let mut enc = EncryptWriter::new(&mut *w, p)?;
            cat.write_copy(&mut enc, &copy_path)?;
            enc.finish().ctx("write", &copy_path)
        }
        None => cat.write_copy(w, &copy_path).map(|_| ()),
    })?;
    let header = readme::Header {
        number: c.number,
        set_id: cat.backup_set_id()?,
        disc_size: c.disc_size,
    };
    let text = match c.protects {
        Some((first, last)) => readme::render_parity(&header, c.passphrase.is_some(), first, last),
        None => readme::render(&header, c.passphrase.is_some()),
    };
    let text_sha = write_atomic(dir, README_NAME, text.as_bytes())?;
    let format_sha = write_atomic(dir, FORMAT_NAME, FORMAT_TEXT.as_bytes())?;
    let mut listed: Vec<(String, String)> = c.archives.to_vec();
    listed.push((copy_name.to_string(), copy_sha));
    listed.push((README_NAME.to_string(), text_sha));
    listed.push((FORMAT_NAME.to_string(), format_sha));
    let mut bytes =
        sectors(copy_len) + sectors(text.len() as u64) + sectors(FORMAT_TEXT.len() as u64);
    let recovery = write_recovery(dir, &c, &listed, c.used + bytes)?;
    for (name, len) in &recovery {
        let (sha, _) = crate::fsutil::hash_file(&dir.join(name)).ctx("read", &dir.join(name))?;
        bytes += sectors(*len);
        listed.push((name.clone(), sha));
    }
    let mut sums = String::new();
    for (name, sha) in &listed {
        sums.push_str(&format!("{sha}  {name}\n"));
    }
    write_atomic(dir, SUMS_NAME, sums.as_bytes())?;
    Ok(Closed {
        bytes: bytes + sectors(sums.len() as u64),
        files: layout::CLOSING_FILES + recovery.len() as u64,
    })
}

/// Removes what an interrupted closing may have left: recovery files and files being written.
fn remove_unfinished_closing(dir: &Path) -> Result<()> {
    for ent in fs::read_dir(dir).ctx("read", dir)?.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if layout::is_recovery_name(&name) || name.ends_with(TMP_SUFFIX) {
            fs::remove_file(ent.path()).ctx("remove", &ent.path())?;
        }
    }
    Ok(())
}

/// Writes the disc's recovery files over the files `listed` (name, sha256), which take
/// `taken` bytes in whole sectors. The share is the run's, lowered (with a note) when the
/// disc was filled with a smaller share in mind by an earlier run and would not hold it.
fn write_recovery(
    dir: &Path,
    c: &Closing,
    listed: &[(String, String)],
    taken: u64,
) -> Result<Vec<(String, u64)>> {
    if c.parity == 0 {
        return Ok(Vec::new());
    }
    let mut lengths = Vec::new();
    for (name, _) in listed {
        let p = dir.join(name);
        lengths.push(fs::metadata(&p).ctx("read", &p)?.len());
    }
    let base = layout::recovery_base(c.number);
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    let fits = |parity: u32| {
        let named: Vec<(&str, u64)> = names.iter().copied().zip(lengths.iter().copied()).collect();
        let planned =
            butcher_par2::rule::planned_files(&named, parity, &base, layout::RECOVERY_CREATOR);
        let files = (listed.len() + planned.len()) as u64 + 1;
        let sums = sectors(100 * files);
        let rec: u64 = planned.iter().map(|f| sectors(f.1)).sum();
        taken + rec + sums + layout::iso_overhead(files) <= c.disc_size
    };
    let mut parity = c.parity;
    while parity > 0 && !fits(parity) {
        parity -= 1;
    }
    let name = disc_dir_name(c.number);
    if parity < c.parity {
        c.progress.note(&format!(
            "{name}: room for {parity} % of recovery data only (an earlier run filled it)"
        ));
    }
    if parity == 0 {
        return Ok(Vec::new());
    }
    c.progress
        .note(&format!("{name}: writing recovery data ({parity} %)"));
    let files: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let opts = butcher_par2::CreateOptions {
        dir,
        files: &files,
        base: &base,
        percent: parity,
        creator: layout::RECOVERY_CREATOR,
        tmp_suffix: TMP_SUFFIX,
        memory: RECOVERY_MEMORY,
    };
    // A full disc takes minutes: a line every so often says how far it is.
    let last = std::sync::Mutex::new(std::time::Instant::now());
    let report = |done: u64, total: u64| {
        let mut last = last.lock().expect("not poisoned");
        if last.elapsed() >= RECOVERY_REPORT_EVERY && total > 0 {
            *last = std::time::Instant::now();
            c.progress.note(&format!(
                "{name}: recovery data {} %",
                done.min(total) * 100 / total
            ));
        }
    };
    butcher_par2::create(&opts, &report).ctx("write the recovery files of", dir)
}

/// How often the writing of a disc's recovery data says how far it is.
const RECOVERY_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The most memory the recovery data being computed takes at once.
const RECOVERY_MEMORY: usize = 256 << 20;

/// Finishes discs that an interrupted run marked closed but did not finish writing (no
/// SHA256SUMS yet): their closing files are written again from the catalogue as it is now.
/// Returns the numbers of the discs finished.
/// The README of such a disc gives `disc` as its size: the size of the run that finishes it.
pub fn finish_interrupted_closing(
    dest: &Path,
    cat: &Catalogue,
    disc: DiscSize,
    passphrase: Option<&Keys>,
    parity: u32,
    progress: &dyn Progress,
) -> Result<Vec<u32>> {
    let mut done = Vec::new();
    let parity_discs: Vec<u32> = cat.parity_groups()?.iter().map(|g| g.parity_disc).collect();
    for d in cat.discs()?.into_iter().filter(|d| d.closed) {
        if parity_discs.contains(&d.number) {
            continue; // finished by group::catch_up
        }
        let dir = dest.join(disc_dir_name(d.number));
        if !dir.is_dir() || dir.join(SUMS_NAME).is_file() {
            continue;
        }
        let rows: Vec<_> = cat
            .archives()?
            .into_iter()
            .filter(|a| a.disc == d.number)
            .collect();
        let used = rows.iter().map(|a| sectors(a.size)).sum();
        let archives: Vec<(String, String)> =
            rows.into_iter().map(|a| (a.name, a.sha256)).collect();
        write_closing_files(
            cat,
            &dir,
            Closing {
                disc_size: disc.bytes(),
                number: d.number,
                archives: &archives,
                used,
                passphrase,
                parity,
                progress,
                protects: None,
            },
        )?;
        done.push(d.number);
    }
    Ok(done)
}
