//! Read-only queries behind `butcher snapshots`, `ls`, `diff` and `where`: where each content
//! is, and what each run wrote. They read the tables and never change them.

use rusqlite::OptionalExtension;

use super::errors::describe;
use super::rows::{self, Archive, Entry, Snapshot, SnapshotId, Written};
use super::Catalogue;
use crate::error::Result;

/// A row that cannot be read: its key (an entry's path, raw bytes) and what is wrong with it.
pub type BadRow = (Vec<u8>, String);

/// An archive row that cannot be read: its id and what is wrong with it.
pub type BadArchive = (i64, String);

impl Catalogue {
    /// One snapshot by id, complete or not.
    pub fn snapshot(&self, id: SnapshotId) -> Result<Option<Snapshot>> {
        let mut found: Vec<Snapshot> = self
            .conn
            .query_row(
                "SELECT id, started_ns, finished_ns, status, source, files, bytes, new_bytes
                 FROM snapshots WHERE id = ?1",
                [id.0],
                rows::snapshot,
            )
            .optional()?
            .into_iter()
            .collect();
        self.tell_interrupted(&mut found)?;
        Ok(found.pop())
    }

    /// The discs holding the pieces of a content, in number order (empty when nothing of it
    /// is stored).
    pub fn content_discs(&self, sha256: &str) -> Result<Vec<u32>> {
        let mut st = self.conn.prepare_cached(
            "SELECT DISTINCT a.disc FROM pieces p JOIN archives a ON a.id = p.archive_id
             WHERE p.sha256 = ?1 ORDER BY a.disc",
        )?;
        let rows = st.query_map([self.sha_param(sha256)], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The archives each run wrote, per snapshot and disc, in that order. A run that stored
    /// nothing has no row.
    pub fn written(&self) -> Result<Vec<Written>> {
        let mut st = self.conn.prepare(
            "SELECT snapshot_id, disc, COUNT(*), SUM(size) FROM archives
             GROUP BY snapshot_id, disc ORDER BY snapshot_id, disc",
        )?;
        let rows = st.query_map([], rows::written)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The lowest-numbered disc whose catalogue copy records `snapshot` as complete: the last
    /// disc its run wrote (closed after the snapshot was marked complete), else the first disc
    /// a later run wrote. `None` when no disc written so far has such a copy.
    pub fn first_copy_with(&self, snapshot: SnapshotId) -> Result<Option<u32>> {
        Ok(self.conn.query_row(
            "SELECT COALESCE((SELECT MAX(disc) FROM archives WHERE snapshot_id = ?1),
                             (SELECT MIN(disc) FROM archives WHERE snapshot_id > ?1))",
            [snapshot.0],
            |r| r.get(0),
        )?)
    }

    /// The entries of a snapshot, in path order, that can be read, and the others: each with
    /// its path (raw bytes, as far as it can be read) and what is wrong with it. One bad row of
    /// a damaged or crafted copy then loses one path, not the whole restore.
    pub fn entries_lenient(&self, snapshot: SnapshotId) -> Result<(Vec<Entry>, Vec<BadRow>)> {
        if self.version >= super::VERSIONS_FORMAT {
            return self.entries_v6(snapshot);
        }
        let mut st = self.conn.prepare(super::ENTRIES_OF_SNAPSHOT)?;
        let mut rows = st.query([snapshot.0])?;
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next()? {
            match rows::entry(row) {
                Ok(e) => good.push(e),
                Err(e) => {
                    let path: Vec<u8> = row.get(0).unwrap_or_default();
                    bad.push((path, describe(&e)));
                }
            }
        }
        Ok((good, bad))
    }

    /// The archives that can be read, in id order, and the ids of the others with what is
    /// wrong with them.
    pub fn archives_lenient(&self) -> Result<(Vec<Archive>, Vec<BadArchive>)> {
        let mut st = self.conn.prepare(super::ALL_ARCHIVES)?;
        let mut rows = st.query([])?;
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next()? {
            match rows::archive(row) {
                Ok(a) => good.push(a),
                Err(e) => bad.push((row.get(0).unwrap_or_default(), describe(&e))),
            }
        }
        Ok((good, bad))
    }
}
