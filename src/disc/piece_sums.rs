//! Checksums of the running parity's pieces (`DEST/parity-open`, docs/format.md sections 2 and
//! 3.5): beside each piece `parity-KKKK.bin.dNNNN` lies `parity-KKKK.bin.dNNNN.sha256`, its
//! sha256 in lowercase hex and a line feed, written before the piece is renamed into place.
//! A piece is checked against it before new data is folded into it, when its group closes,
//! and by `butcher verify DEST`: bytes that rotted in DEST between runs are found before they
//! are sealed into a parity disc. A piece without one (written by an older butcher) is not
//! checked.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::group::{fold, PieceFile};
use crate::catalogue::{Catalogue, ParityGroup};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{hash_file, write_atomic};
use crate::layout::{
    disc_dir_name, parse_piece_name, RUNNING_PARITY_DIR, RUNNING_SUM_SUFFIX as SUFFIX, SUMS_NAME,
};

/// The checksum file of the running piece `piece`.
pub(crate) fn sum_path(piece: &Path) -> PathBuf {
    crate::dest::with_suffix(piece, SUFFIX)
}

/// The piece file a checksum file named `name` belongs to, if it is one.
pub(crate) fn piece_of(name: &str) -> Option<&str> {
    name.strip_suffix(SUFFIX)
        .filter(|p| matches!(parse_piece_name(p), Some((_, Some(_)))))
}

/// Records `sha256` as the checksum of the running piece that will be at `piece` (before it is
/// renamed there, so that a piece under its name always has its checksum beside it).
pub(crate) fn record(piece: &Path, sha256: &str) -> Result<()> {
    let sum = sum_path(piece);
    let (Some(dir), Some(name)) = (sum.parent(), sum.file_name().and_then(|n| n.to_str())) else {
        return Err(Error::Damaged(format!(
            "{} is not a running piece",
            piece.display()
        )));
    };
    write_atomic(dir, name, format!("{sha256}\n").as_bytes())?;
    Ok(())
}

/// The checksum recorded for the running piece at `piece`; `None` when it has none.
pub(crate) fn recorded(piece: &Path) -> Result<Option<String>> {
    let sum = sum_path(piece);
    match fs::read(&sum) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &sum, e)),
    }
}

/// Removes the checksum file of the running piece at `piece`, if there is one.
pub(crate) fn remove(piece: &Path) -> Result<()> {
    let sum = sum_path(piece);
    match fs::remove_file(&sum) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io("remove", &sum, e)),
        _ => Ok(()),
    }
}

/// `Some(what is wrong)` when the running piece at `piece`, whose sha256 is `actual`, does
/// not match its recorded checksum.
pub(crate) fn mismatch(piece: &Path, actual: &str) -> Result<Option<String>> {
    Ok(match recorded(piece)? {
        Some(want) if want != actual => Some(format!(
            "{} does not match the checksum recorded when it was written (its bytes changed \
             in DEST since: bit rot or damage)",
            piece.display()
        )),
        _ => None,
    })
}

/// Every running piece in `running` (none when it does not exist) that does not match its
/// checksum, one line each. Reads only.
pub(crate) fn check_all(running: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(running) {
        Ok(it) => it,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", running, e)),
    };
    let mut pieces = Vec::new();
    for ent in entries {
        let ent = ent.ctx("read", running)?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if matches!(parse_piece_name(&name), Some((_, Some(_)))) {
            pieces.push(ent.path());
        }
    }
    pieces.sort();
    let mut bad = Vec::new();
    for p in pieces {
        let (sha, _) = hash_file(&p).ctx("read", &p)?;
        bad.extend(mismatch(&p, &sha)?);
    }
    Ok(bad)
}

/// What to do about a damaged running parity in `dest`: it is made again from the open
/// group's data discs already in it, when they are all in DEST; otherwise the ones gone must
/// be put back first.
pub(crate) fn remake_hint(dest: &Path, cat: &Catalogue) -> Result<String> {
    let members: Vec<u32> = cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc.is_none() && m.folded)
        .map(|m| m.disc)
        .collect();
    let running = dest.join(RUNNING_PARITY_DIR);
    let absent: Vec<String> = members
        .iter()
        .filter(|&&n| !dest.join(disc_dir_name(n)).join(SUMS_NAME).is_file())
        .map(|&n| disc_dir_name(n))
        .collect();
    let names: Vec<String> = members.iter().map(|&n| disc_dir_name(n)).collect();
    Ok(if absent.is_empty() {
        format!(
            "remove {} and run the backup (or `butcher close`) again: it is made again from \
             {}, which {} in DEST",
            running.display(),
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" }
        )
    } else {
        format!(
            "it can be made again only from the group's data discs {}, and {} {} not in DEST \
             any more: copy {} back into DEST from {}, then remove {} and run again",
            names.join(", "),
            absent.join(", "),
            if absent.len() == 1 { "is" } else { "are" },
            if absent.len() == 1 { "it" } else { "them" },
            if absent.len() == 1 {
                "its disc"
            } else {
                "their discs"
            },
            running.display()
        )
    })
}

/// The error for the running parity pieces `bad` (lines of [`check_all`] or [`mismatch`]) of
/// the set in `dest`.
pub(crate) fn damaged(bad: &[String], hint: &str) -> Error {
    Error::Damaged(format!(
        "the running parity of the open group is damaged: {}; {hint}",
        bad.join("; ")
    ))
}

/// The sha256 of every piece file of `pieces`, by piece number.
pub(super) fn piece_hashes(pieces: &BTreeMap<u32, PieceFile>) -> Result<BTreeMap<u32, String>> {
    pieces
        .iter()
        .map(|(k, p)| Ok((*k, hash_file(&p.path).ctx("read", &p.path)?.0)))
        .collect()
}

/// The first running piece of `pieces` that does not match its checksum, said in words.
pub(super) fn first_mismatch(
    pieces: &BTreeMap<u32, PieceFile>,
    sums: &BTreeMap<u32, String>,
) -> Result<Option<String>> {
    for (k, p) in pieces.iter().filter(|(_, p)| p.upto.is_some()) {
        if let Some(bad) = mismatch(&p.path, sums.get(k).map_or("", |s| s))? {
            return Ok(Some(bad));
        }
    }
    Ok(None)
}

/// Makes the parity of `group` in `dir` again from the group's data discs, when a piece is
/// damaged (`bad`) after the group was recorded closed (a closing interrupted): the discs must
/// all be in DEST, or the error says which to put back.
pub(super) fn remake_pieces(
    cat: &Catalogue,
    group: &ParityGroup,
    dir: &Path,
    bad: &str,
) -> Result<()> {
    let Some(dest) = dir.parent() else {
        return Err(damaged(&[bad.to_string()], ""));
    };
    let members: Vec<_> = cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc == Some(group.parity_disc))
        .collect();
    let absent: Vec<String> = members
        .iter()
        .filter(|m| !dest.join(disc_dir_name(m.disc)).join(SUMS_NAME).is_file())
        .map(|m| disc_dir_name(m.disc))
        .collect();
    if !absent.is_empty() {
        return Err(damaged(
            &[bad.to_string()],
            &format!(
                "the parity disc {} can be made again only from the data discs of its group, \
                 and {} {} not in DEST any more: copy them back into DEST from their discs, \
                 then run again",
                disc_dir_name(group.parity_disc),
                absent.join(", "),
                if absent.len() == 1 { "is" } else { "are" }
            ),
        ));
    }
    for ent in fs::read_dir(dir).ctx("read", dir)? {
        let ent = ent.ctx("read", dir)?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if parse_piece_name(&name).is_some() || piece_of(&name).is_some() {
            fs::remove_file(ent.path()).ctx("remove", &ent.path())?;
        }
    }
    for m in &members {
        let files = cat.parity_files(m.disc)?;
        let data = dest.join(disc_dir_name(m.disc));
        fold(
            dir,
            m.disc,
            &files,
            &data,
            m.stream_length,
            group.piece_size,
            "",
        )?;
    }
    Ok(())
}
