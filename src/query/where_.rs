//! `where`: which discs hold the pieces of some files, and which disc's catalogue copy a
//! restore of them needs. The pieces come from [`crate::places`], the rule restore follows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::catalogue::{Catalogue, Entry, Kind, Snapshot};
use crate::error::Result;
use crate::places::{archives_by_id, content_of, distinct_contents, visit_contents, Holding};

/// What one disc holds of the selected files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiscUse {
    /// Selected file paths with at least one piece on it.
    pub files: u64,
    /// Distinct pieces on it (a content shared by several paths counts once).
    pub pieces: u64,
    /// Bytes of those pieces.
    pub bytes: u64,
}

/// The discs holding the selected files, the disc whose catalogue copy restore needs, and the
/// files that cannot be restored from any disc.
#[derive(Debug, Default, Clone)]
pub struct WhereAnswer {
    /// Disc number -> what it holds of the selection.
    pub discs: BTreeMap<u32, DiscUse>,
    /// The first disc whose catalogue copy records the snapshot as complete, if any.
    pub catalogue: Option<u32>,
    /// Paths whose content was never stored.
    pub not_stored: Vec<Vec<u8>>,
}

impl WhereAnswer {
    /// The discs to insert: those holding pieces, and the catalogue disc if it is newer.
    pub fn insert(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.discs.keys().copied().collect();
        if let Some(c) = self.extra_catalogue_disc() {
            v.push(c);
        }
        v
    }

    /// Disc `lost` is lost: the discs that rebuild it (`needs`) are to be inserted instead.
    pub fn stand_in(&mut self, lost: u32, needs: &[u32]) {
        if self.discs.remove(&lost).is_some() {
            for d in needs {
                self.discs.entry(*d).or_default();
            }
        }
    }

    /// The catalogue disc, when none of the data discs is as new as it.
    pub fn extra_catalogue_disc(&self) -> Option<u32> {
        let c = self.catalogue?;
        let newest = self.discs.keys().next_back().copied();
        (newest < Some(c)).then_some(c)
    }
}

pub(super) fn answer(cat: &Catalogue, snap: &Snapshot, entries: &[Entry]) -> Result<WhereAnswer> {
    let archives = archives_by_id(cat)?;
    // sha256 -> (piece, length, disc) of every piece; no entry when not stored.
    let mut places: HashMap<String, Vec<(u32, u64, u32)>> = HashMap::new();
    let digests = distinct_contents(entries)?;
    visit_contents(cat, &digests, &archives, &mut |_, sha, stored| {
        if let Holding::Pieces(pieces) = stored {
            let on = pieces
                .iter()
                .map(|p| (p.piece, p.length, archives[&p.archive.0].disc))
                .collect();
            places.insert(sha.to_string(), on);
        }
    })?;
    let mut out = WhereAnswer::default();
    let mut counted: HashSet<(crate::catalogue::Sha256, u32)> = HashSet::new();
    for e in entries.iter().filter(|e| e.kind == Kind::File) {
        let digest = content_of(e)?;
        let Some(pieces) = places.get(&digest.hex()).filter(|p| !p.is_empty()) else {
            out.not_stored.push(e.path.clone());
            continue;
        };
        let mut on: BTreeSet<u32> = BTreeSet::new();
        for &(piece, length, disc) in pieces {
            on.insert(disc);
            if counted.insert((digest, piece)) {
                let u = out.discs.entry(disc).or_default();
                u.pieces += 1;
                u.bytes += length;
            }
        }
        for d in on {
            out.discs.entry(d).or_default().files += 1;
        }
    }
    out.catalogue = match snap.complete {
        true => cat.first_copy_with(snap.id)?,
        false => None,
    };
    Ok(out)
}
