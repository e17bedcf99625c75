//! Bringing a working catalogue of format 5 or older to the current format, before a run
//! writes into its set. The new catalogue is built beside the old one and renamed over it:
//! a kill at any moment leaves the old catalogue or the new one, never a mix.
//!
//! Discs already written keep their old catalogue copies; every reader still reads those.

use std::path::{Path, PathBuf};

use super::versions::Recorder;
use super::{rows, Catalogue, SnapshotId, ENTRIES_OF_SNAPSHOT, FORMAT_VERSION};
use crate::error::{Error, IoContext, Result};

/// The suffix of the catalogue being built (a killed upgrade leaves it; the next one
/// removes it).
const BUILDING: &str = ".upgrade.partial";

impl Catalogue {
    /// Whether the catalogue is of an older format than this butcher writes.
    pub fn is_older_format(&self) -> bool {
        self.version < FORMAT_VERSION
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Rewrites the working catalogue at `path` (open as `cat`, of an older format) in the
/// current format and returns it opened. Every snapshot's entries become versions of paths,
/// sha256 values become 32 bytes; everything else is copied as it is.
pub fn upgrade(cat: Catalogue, path: &Path) -> Result<Catalogue> {
    let from = cat.version;
    drop(cat);
    let building = with_suffix(path, BUILDING);
    for leftover in [building.clone(), with_suffix(&building, "-journal")] {
        match std::fs::remove_file(&leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove the partial file", &leftover, e)),
        }
    }
    let old = path.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{}: the catalogue's path must be UTF-8 to upgrade it",
            path.display()
        ))
    })?;
    let new = Catalogue::create(&building)?;
    fill(&new, old, from, path)?;
    drop(new);
    std::fs::File::open(&building)
        .and_then(|f| f.sync_all())
        .ctx("sync", &building)?;
    std::fs::rename(&building, path).ctx("move into place", path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsutil::sync_dir(dir)?;
    }
    Catalogue::open(path)
}

/// A copy in memory of the catalogue at `path` (of format `from`, older than the current
/// one) in the current format, for a dry run: nothing is written.
pub fn upgraded_in_memory(path: &Path, from: u32) -> Result<Catalogue> {
    let old = path.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{}: the catalogue's path must be UTF-8 to upgrade it",
            path.display()
        ))
    })?;
    let new = Catalogue::create_in_memory()?;
    fill(&new, old, from, path)?;
    Ok(new)
}

/// Fills the new catalogue `new` from the one at `old` (of format `from`).
fn fill(new: &Catalogue, old: &str, from: u32, path: &Path) -> Result<()> {
    new.conn.execute("ATTACH DATABASE ?1 AS old", [old])?;
    copy_into(new, from).map_err(|e| match e {
        Error::Catalogue(m) => Error::Damaged(format!(
            "{}: the catalogue of format {from} cannot be upgraded: {m}",
            path.display()
        )),
        other => other,
    })?;
    new.conn.execute_batch("DETACH DATABASE old")?;
    Ok(())
}

/// Fills `new` (fresh, current format) from the attached catalogue `old` in one transaction.
fn copy_into(new: &Catalogue, from: u32) -> Result<()> {
    let tx = new.conn.unchecked_transaction()?;
    tx.execute_batch(&format!(
        "DELETE FROM meta;
         INSERT INTO meta (key, value) SELECT key, value FROM old.meta;
         UPDATE meta SET value = '{FORMAT_VERSION}' WHERE key = 'format_version';
         INSERT INTO meta (key, value) VALUES ('upgraded_from_format', '{from}')
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;
         INSERT INTO snapshots (id, started_ns, finished_ns, status, source, files, bytes,
                                new_bytes)
             SELECT id, started_ns, finished_ns, status, source, files, bytes, new_bytes
             FROM old.snapshots;
         INSERT INTO contents (sha256, size, pieces)
             SELECT unhex(sha256), size, pieces FROM old.contents;
         INSERT INTO discs (number, snapshot_id, status, bytes, closed_ns)
             SELECT number, snapshot_id, status, bytes, closed_ns FROM old.discs;
         INSERT INTO archives (id, name, disc, snapshot_id, compression, encrypted, size,
                               sha256, created_ns)
             SELECT id, name, disc, snapshot_id, compression, encrypted, size, sha256,
                    created_ns FROM old.archives;
         INSERT INTO pieces (sha256, piece, archive_id, member, offset, length)
             SELECT unhex(sha256), piece, archive_id, member, offset, length FROM old.pieces;"
    ))?;
    let has_parity: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM old.sqlite_master WHERE name = 'parity_groups'",
        [],
        |r| r.get(0),
    )?;
    if has_parity {
        tx.execute_batch(
            "INSERT INTO parity_groups SELECT parity_disc, first_disc, last_disc, piece_size,
                    length FROM old.parity_groups;
             INSERT INTO parity_members SELECT disc, parity_disc, stream_length,
                    recovery_creator, folded FROM old.parity_members;
             INSERT INTO parity_files SELECT disc, name, offset, size, sha256
                    FROM old.parity_files;",
        )?;
    }
    let ids: Vec<i64> = {
        let mut st = tx.prepare("SELECT id FROM old.snapshots ORDER BY id")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut rec = Recorder::load(new)?;
    let old_entries = ENTRIES_OF_SNAPSHOT.replace("FROM entries", "FROM old.entries");
    for id in ids {
        let entries: Vec<_> = {
            let mut st = tx.prepare_cached(&old_entries)?;
            let rows = st.query_map([id], rows::entry)?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        rec.record(&tx, SnapshotId(id), &entries)?;
    }
    tx.commit()?;
    Ok(())
}
