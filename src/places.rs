//! Where the contents of a selection of entries are stored: the one rule that restore (which
//! archives to read, which discs to ask for) and `where` (which discs to insert) both follow.

use std::collections::{HashMap, HashSet};

use crate::catalogue::{Archive, Catalogue, Entry, Kind, Piece};
use crate::error::{Error, Result};

/// The archives and pieces that hold the contents of some entries.
pub(crate) struct Places {
    /// Every archive of the catalogue, by id.
    pub archives: HashMap<i64, Archive>,
    /// sha256 -> its pieces in order, for every content of the selection stored whole.
    pub stored: HashMap<String, Vec<Piece>>,
    /// sha256 of the contents of the selection that were never stored whole (they changed
    /// while being backed up).
    pub not_stored: HashSet<String>,
}

impl Places {
    /// Looks up every distinct content of the regular files among `entries`.
    pub(crate) fn of(cat: &Catalogue, entries: &[Entry]) -> Result<Self> {
        let archives: HashMap<i64, Archive> =
            cat.archives()?.into_iter().map(|a| (a.id.0, a)).collect();
        let mut places = Places {
            archives,
            stored: HashMap::new(),
            not_stored: HashSet::new(),
        };
        for e in entries.iter().filter(|e| e.kind == Kind::File) {
            let sha = content_of(e)?;
            if places.stored.contains_key(sha) || places.not_stored.contains(sha) {
                continue;
            }
            if !cat.content_complete(sha)? {
                places.not_stored.insert(sha.to_string());
                continue;
            }
            let pieces = cat.pieces(sha)?;
            if let Some(p) = pieces
                .iter()
                .find(|p| !places.archives.contains_key(&p.archive.0))
            {
                return Err(Error::Damaged(format!(
                    "archive {} is not in the catalogue",
                    p.archive.0
                )));
            }
            places.stored.insert(sha.to_string(), pieces);
        }
        Ok(places)
    }

    /// The archive holding a piece.
    pub(crate) fn archive_of(&self, p: &Piece) -> &Archive {
        &self.archives[&p.archive.0]
    }
}

/// The sha256 of a file entry; a file entry without one is damage.
pub(crate) fn content_of(e: &Entry) -> Result<&str> {
    e.sha256
        .as_deref()
        .ok_or_else(|| Error::Damaged("a file entry has no sha256".into()))
}
