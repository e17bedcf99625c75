//! The restore plan: for every content of the selection, the archives and members that hold
//! its pieces (by the rule of [`crate::places`]) and how far reading them has come.

use std::collections::{BTreeMap, HashMap};

use super::extract::Wanted;
use crate::catalogue::{Archive, Catalogue, Entry, Piece, Sha256};
use crate::error::Result;
use crate::places::{archives_by_id, visit_contents, Holding};

/// The contents to restore and where their pieces are.
pub(super) struct Plan {
    /// sha256 -> number of pieces still to read, and whether it is stored at all.
    pub contents: HashMap<Sha256, ContentState>,
    /// archive id -> (archive, wanted members).
    pub archives: BTreeMap<i64, (Archive, HashMap<Vec<u8>, Wanted>)>,
    /// Bytes of every piece to read.
    pub total_bytes: u64,
}

/// How far the reading of one content has come.
#[derive(Debug)]
pub(super) struct ContentState {
    /// Pieces not yet read.
    pub pieces_left: u32,
    /// Pieces in all.
    pub pieces_total: u32,
    /// Why it cannot be restored, once that is known.
    pub problem: Option<String>,
}

impl Plan {
    pub(super) fn new(cat: &Catalogue, entries: &[Entry]) -> Result<Self> {
        let archives = archives_by_id(cat)?;
        let mut plan = Plan {
            contents: HashMap::new(),
            archives: BTreeMap::new(),
            total_bytes: 0,
        };
        visit_contents(cat, entries, &archives, &mut |sha, stored| {
            plan.add(sha, stored, &archives)
        })?;
        Ok(plan)
    }

    /// Adds one content and the archive members that hold its pieces.
    fn add(&mut self, sha: &str, stored: Holding, archives: &HashMap<i64, Archive>) {
        let problem = match stored {
            Holding::Pieces(pieces) => return self.add_pieces(sha, pieces, archives),
            Holding::NotStored => {
                "its content was not stored (it changed during the backup)".to_string()
            }
            Holding::Broken(why) => why,
        };
        let state = ContentState {
            pieces_left: 0,
            pieces_total: 0,
            problem: Some(problem),
        };
        self.contents.insert(digest(sha), state);
    }

    /// Adds a stored content: the archive members that hold its pieces.
    fn add_pieces(&mut self, sha: &str, pieces: Vec<Piece>, archives: &HashMap<i64, Archive>) {
        let n = pieces.len() as u32;
        for p in pieces {
            let a = &archives[&p.archive.0];
            let slot = self
                .archives
                .entry(a.id.0)
                .or_insert_with(|| (a.clone(), HashMap::new()));
            let wanted = Wanted {
                sha256: digest(sha),
                offset: p.offset,
                length: p.length,
                whole: n == 1,
            };
            self.total_bytes += p.length;
            slot.1.insert(p.member, wanted);
        }
        let state = ContentState {
            pieces_left: n,
            pieces_total: n,
            problem: None,
        };
        self.contents.insert(digest(sha), state);
    }

    /// One piece of content `sha` is in staging.
    pub(super) fn piece_read(&mut self, sha: &str) {
        if let Some(st) = self.contents.get_mut(&digest(sha)) {
            st.pieces_left = st.pieces_left.saturating_sub(1);
        }
    }

    /// Content `sha` cannot be restored, for this reason.
    pub(super) fn set_problem(&mut self, sha: &str, problem: String) {
        if let Some(st) = self.contents.get_mut(&digest(sha)) {
            st.problem = Some(problem);
        }
    }

    /// The contents of `wanted` cannot be restored, for this reason unless another is known.
    pub(super) fn fail(&mut self, wanted: &HashMap<Vec<u8>, Wanted>, reason: &str) {
        for w in wanted.values() {
            if let Some(st) = self.contents.get_mut(&w.sha256) {
                st.problem.get_or_insert_with(|| reason.to_string());
            }
        }
    }
}

/// A content's digest from its hex (the catalogue's contents are checked hex: a value that is
/// not stays apart as zeros, and is found by no file).
fn digest(sha: &str) -> Sha256 {
    Sha256::from_hex(sha).unwrap_or_default()
}
