//! Disc stage: places archives into `DEST/disc-NNNN` directories no larger than a disc, and
//! closes each disc with an encrypted copy of the catalogue, a README for a stranger and
//! `SHA256SUMS` (written last: a disc directory without it is not finished).

pub mod readme;
pub mod size;

use std::fs;
use std::path::{Path, PathBuf};

pub use size::DiscSize;

use crate::catalogue::{Catalogue, SnapshotId};
use crate::crypt::{EncryptWriter, Passphrase};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{sync_dir, write_atomic, write_atomic_with};
use crate::layout::{
    self, catalogue_copy_name, disc_dir_name, sectors, FORMAT_NAME, FORMAT_TEXT, README_NAME,
    SUMS_NAME, TMP_SUFFIX,
};

struct OpenDisc {
    number: u32,
    dir: PathBuf,
    /// Bytes of the archives, each rounded up to whole sectors.
    used: u64,
    /// (file name, sha256) of every archive on it.
    files: Vec<(String, String)>,
}

/// Fills disc directories one after another.
pub struct DiscWriter<'a> {
    dest: PathBuf,
    cat: &'a Catalogue,
    snapshot: SnapshotId,
    disc_size: u64,
    archive_size: u64,
    passphrase: Option<&'a Passphrase>,
    current: Option<OpenDisc>,
    closed: Vec<u32>,
}

impl<'a> DiscWriter<'a> {
    /// Prepares to write discs into `dest`, numbering on from the catalogue.
    pub fn new(
        dest: &Path,
        cat: &'a Catalogue,
        snapshot: SnapshotId,
        disc_size: DiscSize,
        archive_size: u64,
        passphrase: Option<&'a Passphrase>,
    ) -> Self {
        DiscWriter {
            dest: dest.to_path_buf(),
            cat,
            snapshot,
            disc_size: disc_size.bytes(),
            archive_size,
            passphrase,
            current: None,
            closed: Vec::new(),
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
                self.open_next()?;
            }
            let d = self.current.as_ref().expect("invariant: a disc was opened");
            let cat = self.cat.size_bytes()?;
            let room = layout::room_for_archive(
                self.disc_size,
                self.archive_size,
                cat,
                d.used,
                d.files.len(),
            );
            if let Some(room) = room {
                return Ok(room);
            }
            if d.files.is_empty() {
                return Err(layout::disc_too_small(
                    self.disc_size,
                    self.archive_size,
                    cat,
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
        d.files.push((name.to_string(), sha256.to_string()));
    }

    /// Closes the open disc, if any: catalogue copy, README, then SHA256SUMS.
    pub fn close_current(&mut self) -> Result<Option<u32>> {
        let Some(d) = self.current.take() else {
            return Ok(None);
        };
        self.cat.close_disc(d.number, d.used)?;
        let closing = write_closing_files(
            self.cat,
            &d.dir,
            self.disc_size,
            d.number,
            &d.files,
            self.passphrase,
        )?;
        // The disc's files and what an ISO 9660 image of them adds must fit the disc.
        let files = d.files.len() as u64 + layout::CLOSING_FILES;
        let total = d.used + closing + layout::iso_overhead(files);
        if total > self.disc_size {
            return Err(Error::Damaged(format!(
                "{} holds {total} bytes, more than the disc size {}: this is a bug in butcher",
                d.dir.display(),
                self.disc_size
            )));
        }
        self.closed.push(d.number);
        Ok(Some(d.number))
    }
}

/// Writes what closes a disc: the catalogue copy, the README, then SHA256SUMS over them and the
/// archives. Returns the bytes (in whole sectors) these files take.
fn write_closing_files(
    cat: &Catalogue,
    dir: &Path,
    disc_size: u64,
    number: u32,
    archives: &[(String, String)],
    passphrase: Option<&Passphrase>,
) -> Result<u64> {
    // Streamed from the catalogue file through encryption: memory stays small however many
    // files the catalogue lists.
    let copy_name = catalogue_copy_name(passphrase.is_some());
    let copy_path = dir.join(copy_name);
    let (copy_len, copy_sha) = write_atomic_with(dir, copy_name, |w| match passphrase {
        Some(p) => {
            let mut enc = EncryptWriter::new(&mut *w, p)?;
            cat.write_copy(&mut enc, &copy_path)?;
            enc.finish().ctx("write", &copy_path)
        }
        None => cat.write_copy(w, &copy_path).map(|_| ()),
    })?;
    let header = readme::Header {
        number,
        set_id: cat.backup_set_id()?,
        disc_size,
    };
    let text = readme::render(&header, passphrase.is_some());
    let text_sha = write_atomic(dir, README_NAME, text.as_bytes())?;
    let format_sha = write_atomic(dir, FORMAT_NAME, FORMAT_TEXT.as_bytes())?;
    let mut sums = String::new();
    for (name, sha) in archives {
        sums.push_str(&format!("{sha}  {name}\n"));
    }
    sums.push_str(&format!("{copy_sha}  {copy_name}\n"));
    sums.push_str(&format!("{text_sha}  {README_NAME}\n"));
    sums.push_str(&format!("{format_sha}  {FORMAT_NAME}\n"));
    write_atomic(dir, SUMS_NAME, sums.as_bytes())?;
    Ok(sectors(copy_len)
        + sectors(text.len() as u64)
        + sectors(FORMAT_TEXT.len() as u64)
        + sectors(sums.len() as u64))
}

/// Finishes discs that an interrupted run marked closed but did not finish writing (no
/// SHA256SUMS yet): their closing files are written again from the catalogue as it is now.
/// Returns the numbers of the discs finished.
/// The README of such a disc gives `disc` as its size: the size of the run that finishes it.
pub fn finish_interrupted_closing(
    dest: &Path,
    cat: &Catalogue,
    disc: DiscSize,
    passphrase: Option<&Passphrase>,
) -> Result<Vec<u32>> {
    let mut done = Vec::new();
    for d in cat.discs()?.into_iter().filter(|d| d.closed) {
        let dir = dest.join(disc_dir_name(d.number));
        if !dir.is_dir() || dir.join(SUMS_NAME).is_file() {
            continue;
        }
        let archives: Vec<(String, String)> = cat
            .archives()?
            .into_iter()
            .filter(|a| a.disc == d.number)
            .map(|a| (a.name, a.sha256))
            .collect();
        write_closing_files(cat, &dir, disc.bytes(), d.number, &archives, passphrase)?;
        done.push(d.number);
    }
    Ok(done)
}
