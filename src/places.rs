//! Where the contents of a selection of entries are stored: the one rule that restore (which
//! archives to read, which discs to ask for) and `where` (which discs to insert) both follow.
//!
//! Contents are visited one at a time, so a caller that builds its own plan from them never
//! holds every piece of a large selection twice.

use std::collections::HashMap;

use crate::catalogue::{Archive, Catalogue, Entry, Kind, Piece, Sha256};
use crate::error::{Error, Result};

/// Where one content is.
pub(crate) enum Holding {
    /// Stored whole: its pieces in order.
    Pieces(Vec<Piece>),
    /// Never stored whole (it changed while being backed up).
    NotStored,
    /// The catalogue cannot say where it is: a piece's archive row is missing or unreadable.
    Broken(String),
}

/// Every archive of the catalogue that can be read, by id. An archive row that cannot be read
/// (a damaged or crafted copy) is left out: the contents it holds are [`Holding::Broken`].
pub(crate) fn archives_by_id(cat: &Catalogue) -> Result<HashMap<i64, Archive>> {
    let (good, _bad) = cat.archives_lenient()?;
    Ok(good.into_iter().map(|a| (a.id.0, a)).collect())
}

/// The distinct contents of the regular files of `entries`, in sha256 order.
pub(crate) fn distinct_contents(entries: &[Entry]) -> Result<Vec<Sha256>> {
    // A sorted vector, not a set: a million of them.
    let mut digests = entries
        .iter()
        .filter(|e| e.kind == Kind::File)
        .map(content_of)
        .collect::<Result<Vec<Sha256>>>()?;
    digests.sort_unstable();
    digests.dedup();
    digests.shrink_to_fit();
    Ok(digests)
}

/// Calls `visit` for every content of `digests` in turn (with its index), with where it is
/// stored, as far as `archives` (the catalogue's readable archive rows) tells.
pub(crate) fn visit_contents(
    cat: &Catalogue,
    digests: &[Sha256],
    archives: &HashMap<i64, Archive>,
    visit: &mut dyn FnMut(usize, &str, Holding),
) -> Result<()> {
    cat.read_transaction(|| {
        for (k, digest) in digests.iter().enumerate() {
            let sha = digest.hex();
            let sha = sha.as_str();
            if !cat.content_complete(sha)? {
                visit(k, sha, Holding::NotStored);
                continue;
            }
            let pieces = cat.pieces(sha)?;
            if !follow_one_another(&pieces) {
                let why = "its pieces in the catalogue do not follow one another (a damaged copy)";
                visit(k, sha, Holding::Broken(why.into()));
                continue;
            }
            match pieces.iter().find(|p| !archives.contains_key(&p.archive.0)) {
                Some(p) => visit(
                    k,
                    sha,
                    Holding::Broken(format!(
                        "its archive {} is not in the catalogue, or its row there cannot be read",
                        p.archive.0
                    )),
                ),
                None => visit(k, sha, Holding::Pieces(pieces)),
            }
        }
        Ok(())
    })
}

/// Whether each piece starts where the one before it ends, the first at 0: an offset from a
/// damaged or crafted copy would otherwise place a piece a terabyte into a staged file.
fn follow_one_another(pieces: &[Piece]) -> bool {
    let mut at = 0u64;
    pieces.iter().all(|p| {
        let follows = p.offset == at;
        at = at.saturating_add(p.length);
        follows
    })
}

/// The sha256 of a file entry; a file entry without one is damage.
pub(crate) fn content_of(e: &Entry) -> Result<Sha256> {
    e.sha256
        .ok_or_else(|| Error::Damaged("a file entry has no sha256".into()))
}
