//! The read-only queries behind `butcher snapshots`, `ls`, `diff` and `where`, over a catalogue
//! read from DEST, a disc, a folder of discs or a catalogue file (see [`crate::source`]).
//! Nothing here writes; every answer is plain data for the caller to print.

mod where_;

use std::path::Path;

use crate::catalogue::{Catalogue, Entry, Kind, Snapshot, SnapshotId, Written};
use crate::diff::Diff;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::select::{globs, matches_or_below};
use crate::source::{open_any, CatalogueOrigin};
pub use where_::{DiscUse, WhereAnswer};

/// What to do when a catalogue a query reads holds something it cannot read.
const HINT: &str = "a disc's copy is read when that disc alone is named as SOURCE, so name an \
                    earlier disc to read its copy";

/// A catalogue opened for reading, and the file it was read from.
pub struct CatalogueView {
    cat: Catalogue,
    origin: CatalogueOrigin,
}

/// One snapshot with what its run wrote.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The discs its run wrote archives to, in order.
    pub discs: Vec<u32>,
    /// How many archives its run wrote.
    pub archives: u64,
}

/// Where a file's content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Not a file.
    None,
    /// Every piece is stored, on these discs.
    Discs(Vec<u32>),
    /// The content was never stored whole (it changed while being backed up).
    NotStored,
}

impl CatalogueView {
    /// Opens the catalogue of DEST, a catalogue file, a disc or a folder of discs (`catalogue`
    /// when given). `passphrase` is called only when what is read is encrypted; `warn` hears
    /// of copies passed over.
    pub fn open(
        source: &Path,
        catalogue: Option<&Path>,
        passphrase: &dyn Fn() -> Result<Keys>,
        warn: &dyn Fn(&str),
    ) -> Result<Self> {
        let (cat, origin) = open_any(source, catalogue, passphrase, warn)?;
        Ok(CatalogueView { cat, origin })
    }

    /// The discs needed to rebuild lost data disc `lost` from its parity disc: the other
    /// data discs of its group, then the parity disc. `None` when no parity disc protects it
    /// (the set has none, its group is still open, or `lost` is not a data disc).
    pub fn rebuild_needs(&self, lost: u32) -> Result<Option<Vec<u32>>> {
        let map = crate::rebuild::ParityMap::of(&self.cat).map_err(|e| self.explain(e))?;
        Ok(map.needed_for(lost))
    }

    /// The file the catalogue was read from.
    pub fn path(&self) -> &Path {
        &self.origin.path
    }

    /// Says which catalogue could not be read, and what to do.
    fn explain(&self, e: Error) -> Error {
        self.origin.explain(e, HINT)
    }

    /// Every snapshot, oldest first, with the discs and archives its run wrote.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRow>> {
        let run = || -> Result<Vec<SnapshotRow>> {
            let written = self.cat.written()?;
            Ok(self
                .cat
                .snapshots()?
                .into_iter()
                .map(|snap| row(snap, &written))
                .collect())
        };
        run().map_err(|e| self.explain(e))
    }

    /// Snapshot `wanted` (complete or not), or else the newest complete one.
    pub fn snapshot(&self, wanted: Option<i64>) -> Result<Snapshot> {
        let found = match wanted {
            Some(id) => self.cat.snapshot(SnapshotId(id)),
            None => self.cat.latest_complete(),
        }
        .map_err(|e| self.explain(e))?;
        found.ok_or_else(|| match wanted {
            Some(id) => Error::Usage(format!(
                "no snapshot {id} in this catalogue (see `butcher snapshots`)"
            )),
            None => Error::Usage("the catalogue holds no complete snapshot".into()),
        })
    }

    /// The entries of `snap` in byte order of their path.
    pub fn entries(&self, snap: &Snapshot) -> Result<Vec<Entry>> {
        self.cat.entries(snap.id).map_err(|e| self.explain(e))
    }

    /// The entries of `snap` that match one of `patterns` or lie below a match (all of them
    /// when there is no pattern), and the patterns that match nothing when several are given.
    /// None of them matching anything is a usage error.
    pub fn select(
        &self,
        snap: &Snapshot,
        patterns: &[String],
    ) -> Result<(Vec<Entry>, Vec<String>)> {
        let entries = self.entries(snap)?;
        let Some(all) = globs(patterns)? else {
            return Ok((entries, Vec::new()));
        };
        let kept: Vec<Entry> = entries
            .into_iter()
            .filter(|e| matches_or_below(&all, &e.path))
            .collect();
        if kept.is_empty() {
            return Err(Error::Usage(format!(
                "no path of snapshot {} matches {}",
                snap.id.0,
                patterns.join(" ")
            )));
        }
        let mut unmatched = Vec::new();
        for p in patterns.iter().filter(|_| patterns.len() > 1) {
            let one = globs(std::slice::from_ref(p))?.expect("invariant: one pattern given");
            if !kept.iter().any(|e| matches_or_below(&one, &e.path)) {
                unmatched.push(p.clone());
            }
        }
        Ok((kept, unmatched))
    }

    /// Gives `f` each of `entries` in order with where it is, looked up in one read
    /// transaction (a statement a file, but one lock and one check of the file for them all)
    /// and never held for more than one entry at a time. Stops at the first error of `f`,
    /// which it returns inside `Ok`; a catalogue error is the outer `Err`.
    pub fn each_place(
        &self,
        entries: &[Entry],
        mut f: impl FnMut(&Entry, Place) -> std::io::Result<()>,
    ) -> Result<std::io::Result<()>> {
        self.cat.read_transaction(|| {
            for e in entries {
                if let Err(io) = f(e, self.place(e)?) {
                    return Ok(Err(io));
                }
            }
            Ok(Ok(()))
        })
    }

    /// Where the content of entry `e` is.
    pub fn place(&self, e: &Entry) -> Result<Place> {
        let Some(sha) = e.sha256.filter(|_| e.kind == Kind::File).map(|s| s.hex()) else {
            return Ok(Place::None);
        };
        let sha = sha.as_str();
        let run = || -> Result<Place> {
            if !self.cat.content_complete(sha)? {
                return Ok(Place::NotStored);
            }
            Ok(Place::Discs(self.cat.content_discs(sha)?))
        };
        run().map_err(|e| self.explain(e))
    }

    /// What changed from snapshot `a` to snapshot `b`.
    pub fn diff(&self, a: &Snapshot, b: &Snapshot) -> Result<Diff> {
        snapshot_diff(&self.cat, a.id, b.id).map_err(|e| self.explain(e))
    }

    /// The discs to insert to restore `entries` of `snap`, by the rule restore follows.
    pub fn where_needed(&self, snap: &Snapshot, entries: &[Entry]) -> Result<WhereAnswer> {
        where_::answer(&self.cat, snap, entries).map_err(|e| self.explain(e))
    }
}

fn row(snapshot: Snapshot, written: &[Written]) -> SnapshotRow {
    let mine = || written.iter().filter(|w| w.snapshot == snapshot.id);
    let mut discs: Vec<u32> = mine().map(|w| w.disc).collect();
    discs.dedup();
    let archives = mine().map(|w| w.archives).sum();
    SnapshotRow {
        snapshot,
        discs,
        archives,
    }
}

/// What changed from snapshot `a` to snapshot `b` of `cat`, reading only what differs (and
/// the common files whose content a new path may be a copy of): a set of a million files
/// compares two snapshots without holding either whole.
pub(crate) fn snapshot_diff(cat: &Catalogue, a: SnapshotId, b: SnapshotId) -> Result<Diff> {
    let between = cat.entries_between(a, b)?;
    let shas: std::collections::HashSet<crate::catalogue::Sha256> = between
        .only_b
        .iter()
        .filter(|e| e.kind == Kind::File && e.size > 0)
        .filter_map(|e| e.sha256)
        .collect();
    let kept = cat.common_sources(a, b, &shas)?;
    let same = crate::diff::Tally {
        count: between.common,
        bytes: between.common_bytes,
    };
    Ok(crate::diff::diff_parts(
        &between.only_a,
        &between.only_b,
        &kept,
        same,
    ))
}
