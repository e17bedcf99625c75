//! The restore plan: for every content of the selection, the archives and members that hold
//! its pieces (by the rule of [`crate::places`]) and how far reading them has come.
//!
//! A full restore of a million small files plans a million contents and members, so the plan
//! is kept compact: contents in a vector sorted by sha256, each archive's members in a vector
//! sorted by a 128-bit digest of their names, and a member refers to its content by index.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::Digest;

use crate::catalogue::{Archive, Catalogue, Entry, Sha256};
use crate::error::Result;
use crate::places::{archives_by_id, distinct_contents, visit_contents, Holding};

/// The contents to restore and where their pieces are.
pub(super) struct Plan {
    /// Every content, sorted by sha256.
    digests: Vec<Sha256>,
    /// How far the reading of each content (by index) has come.
    states: Vec<ContentState>,
    /// archive id -> (archive, wanted members).
    pub archives: BTreeMap<i64, (Archive, Members)>,
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
    /// Why it cannot be restored, once that is known (shared: a lost disc gives thousands of
    /// contents one reason).
    pub problem: Option<Arc<str>>,
    /// The entry (index) it was first placed at, once placed.
    pub placed_at: Option<u32>,
}

impl ContentState {
    fn failed(why: Arc<str>) -> Self {
        ContentState {
            pieces_left: 0,
            pieces_total: 0,
            problem: Some(why),
            placed_at: None,
        }
    }
}

/// A member restore wants from an archive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    /// The content (index in the plan).
    pub content: u32,
    pub offset: u64,
    pub length: u64,
    /// The content is this one member (not split): its hash can be checked while writing.
    pub whole: bool,
}

/// The members restore wants from one archive, found by name. Names are kept as 128-bit
/// digests (a million names would otherwise cost more than their contents' entries); two
/// names with one digest are beyond reach (about 2^-88 for a million names), and every
/// content's sha256 is checked after it is read all the same.
#[derive(Debug, Clone, Default)]
pub(crate) struct Members {
    by_name: Vec<([u8; 16], Wanted)>,
}

fn name_digest(name: &[u8]) -> [u8; 16] {
    let d = sha2::Sha256::digest(name);
    d[..16].try_into().expect("invariant: 16 of 32 bytes")
}

impl Members {
    fn push(&mut self, name: &[u8], w: Wanted) {
        self.by_name.push((name_digest(name), w));
    }

    fn seal(&mut self) {
        self.by_name.sort_unstable_by_key(|a| a.0);
        self.by_name.dedup_by(|a, b| a.0 == b.0);
        self.by_name.shrink_to_fit();
    }

    /// The member named `name`: its index among the members, and what is wanted of it.
    pub(crate) fn get(&self, name: &[u8]) -> Option<(usize, &Wanted)> {
        let d = name_digest(name);
        let k = self.by_name.binary_search_by(|m| m.0.cmp(&d)).ok()?;
        Some((k, &self.by_name[k].1))
    }

    /// Every wanted member, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Wanted> {
        self.by_name.iter().map(|m| &m.1)
    }

    /// The content member `k` holds (by index in the plan).
    pub(crate) fn content_of(&self, k: usize) -> u32 {
        self.by_name[k].1.content
    }

    /// How many members are wanted.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }
}

impl Plan {
    pub(super) fn new(cat: &Catalogue, entries: &[Entry]) -> Result<Self> {
        let archives = archives_by_id(cat)?;
        let digests = distinct_contents(entries)?;
        let mut states = Vec::with_capacity(digests.len());
        let mut by_archive: BTreeMap<i64, (Archive, Members)> = BTreeMap::new();
        let mut total_bytes = 0;
        visit_contents(cat, &digests, &archives, &mut |k, _, stored| {
            let pieces = match stored {
                Holding::Pieces(pieces) => pieces,
                Holding::NotStored => {
                    let why = "its content was not stored (it changed during the backup)";
                    states.push(ContentState::failed(why.into()));
                    return;
                }
                Holding::Broken(why) => {
                    states.push(ContentState::failed(why.into()));
                    return;
                }
            };
            let n = pieces.len() as u32;
            for p in pieces {
                let a = &archives[&p.archive.0];
                let slot = by_archive
                    .entry(a.id.0)
                    .or_insert_with(|| (a.clone(), Members::default()));
                let wanted = Wanted {
                    content: k as u32,
                    offset: p.offset,
                    length: p.length,
                    whole: n == 1,
                };
                // Saturating: a crafted copy may record any length (each is checked against
                // its member when read).
                total_bytes = u64::saturating_add(total_bytes, p.length);
                slot.1.push(&p.member, wanted);
            }
            states.push(ContentState {
                pieces_left: n,
                pieces_total: n,
                problem: None,
                placed_at: None,
            });
        })?;
        for (_, members) in by_archive.values_mut() {
            members.seal();
        }
        Ok(Plan {
            digests,
            states,
            archives: by_archive,
            total_bytes,
        })
    }

    /// How many contents the plan has.
    pub(super) fn content_count(&self) -> usize {
        self.digests.len()
    }

    /// The sha256 of content `index`.
    pub(crate) fn sha256(&self, index: u32) -> Sha256 {
        self.digests[index as usize]
    }

    /// The state of content `sha`, with its index.
    pub(super) fn state(&self, sha: &Sha256) -> Option<(u32, &ContentState)> {
        let k = self.digests.binary_search(sha).ok()?;
        Some((k as u32, &self.states[k]))
    }

    /// The state of content `index`, to change.
    pub(super) fn state_mut(&mut self, index: u32) -> &mut ContentState {
        &mut self.states[index as usize]
    }

    /// One piece of content `index` is in staging.
    pub(super) fn piece_read(&mut self, index: u32) {
        let st = self.state_mut(index);
        st.pieces_left = st.pieces_left.saturating_sub(1);
    }

    /// Content `index` cannot be restored, for this reason.
    pub(super) fn set_problem(&mut self, index: u32, problem: String) {
        self.state_mut(index).problem = Some(problem.into());
    }

    /// Contents `contents` (indexes) cannot be restored, for this reason unless another is
    /// known.
    pub(super) fn fail(&mut self, contents: impl IntoIterator<Item = u32>, reason: &str) {
        let reason: Arc<str> = reason.into();
        for c in contents {
            self.state_mut(c)
                .problem
                .get_or_insert_with(|| reason.clone());
        }
    }
}
