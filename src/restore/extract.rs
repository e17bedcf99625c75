//! Restore's use of an archive: write the wanted members into the staging directory (named by
//! content hash, never by member name). Reading the archive itself is [`crate::archive`].

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::plan::{Members, Plan, Wanted};
use crate::archive::{read_members, Member};
use crate::catalogue::{Archive, Sha256};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::progress::Progress;

/// What reading one archive gave.
#[derive(Debug, Default)]
pub(crate) struct Got {
    /// Members written to staging (by index in the archive's [`Members`]).
    pub members: Vec<u32>,
    /// Whole contents whose hash did not match (by index in the plan).
    pub bad: Vec<u32>,
    /// The archive file's bytes differ from what was recorded when it was written.
    pub file_changed: bool,
    /// Damage that stopped the reading part-way.
    pub error: Option<Error>,
}

/// The staging file of a content.
pub(crate) fn stage_path(stage: &Path, sha256: &str) -> PathBuf {
    stage.join(sha256)
}

/// Reads `path` (archive `a`) and writes the wanted members into `stage`. Damage part-way
/// (a flipped bit, a truncated file) does not lose the members read before it: they are
/// returned with the error in `Got::error`. Only a wrong passphrase or a file that cannot be
/// opened is an `Err`.
pub(crate) fn read_archive(
    path: &Path,
    a: &Archive,
    passphrase: Option<&Keys>,
    wanted: &Members,
    plan: &Plan,
    stage: &Path,
    progress: &dyn Progress,
) -> Result<Got> {
    let mut got = Got::default();
    let mut visit = |m: Member<'_>| -> io::Result<()> {
        let Some((k, w)) = wanted.get(m.name) else {
            return Ok(());
        };
        if !m.regular || m.size != w.length {
            return Err(io::Error::other("a member does not match the catalogue"));
        }
        if write_member(m.data, w, &plan.sha256(w.content), stage, progress)? {
            got.members.push(k as u32);
        } else {
            got.bad.push(w.content);
        }
        Ok(())
    };
    let outcome = read_members(path, a, passphrase, &mut visit)?;
    got.file_changed = outcome.file_changed;
    got.error = outcome.error;
    Ok(got)
}

/// Writes one member into its staging file; false when a whole content's hash is wrong.
fn write_member(
    entry: &mut dyn Read,
    w: &Wanted,
    sha256: &Sha256,
    stage: &Path,
    progress: &dyn Progress,
) -> io::Result<bool> {
    let path = stage_path(stage, &sha256.hex());
    // Private until placed: the catalogue's mode is given when the file is moved into place.
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    // Runs of zeros become holes: a sparse file comes back sparse. Holes are left only where
    // the file reads as zeros: beyond its end, or where a hole is punched first (a piece read
    // again after damage, or one that comes after a later piece); where no hole can be
    // punched, every byte is written. Pieces may come in any order, so the file only ever
    // grows to the end of what was written.
    let len = f.metadata()?.len();
    let fresh = len <= w.offset
        || crate::fsmeta::punch_hole(&f, w.offset, w.length.min(len - w.offset)).is_ok();
    let mut h = sha2::Sha256::new();
    let mut n = 0u64;
    let mut copy = |out: &mut dyn Write| -> io::Result<()> {
        let mut buf = crate::fsutil::read_buffer(w.length);
        loop {
            let k = entry.read(&mut buf)?;
            if k == 0 {
                return Ok(());
            }
            out.write_all(&buf[..k])?;
            if w.whole {
                h.update(&buf[..k]);
            }
            n += k as u64;
            progress.advance(k as u64, 0);
        }
    };
    if fresh {
        let mut out = crate::fsmeta::SparseWriter::new(&mut f, w.offset)?;
        copy(&mut out)?;
        let (_, end) = out.finish()?;
        crate::fsmeta::extend_to(&f, end)?;
    } else {
        f.seek(SeekFrom::Start(w.offset))?;
        copy(&mut f)?;
    }
    if n != w.length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "member is short",
        ));
    }
    if w.whole && h.finalize().as_slice() != sha256.0.as_slice() {
        drop(f);
        std::fs::remove_file(&path)?;
        return Ok(false);
    }
    Ok(true)
}
