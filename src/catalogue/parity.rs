//! The parity disc tables (format 5): which data discs each parity disc protects, and where
//! every file of a protected disc lies in the disc's parity stream (docs/format.md section 3.5).

use rusqlite::{params, OptionalExtension, Row};

use super::rows::{col, count};
use super::{Catalogue, SnapshotId};
use crate::error::Result;
use crate::fsutil::now_ns;

/// A parity disc and the data discs it protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParityGroup {
    pub parity_disc: u32,
    /// The data discs it protects: every data disc numbered from `first` to `last`.
    pub first: u32,
    pub last: u32,
    /// Bytes of each `parity-NNNN.bin` but the last.
    pub piece_size: u64,
    /// Bytes of the parity stream (the longest member stream).
    pub length: u64,
}

/// A data disc of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParityMember {
    pub disc: u32,
    /// Its parity disc; `None` while its group is open.
    pub parity_disc: Option<u32>,
    /// Bytes of its stream.
    pub stream_length: u64,
    /// The creator packet of its recovery files (`None`: it has none).
    pub recovery_creator: Option<String>,
    /// Whether its stream is in the running parity (or its parity disc).
    pub folded: bool,
}

/// A file of a data disc's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParityFile {
    pub disc: u32,
    pub name: String,
    /// Where it starts in the disc's stream (a multiple of 2048).
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
}

fn group(r: &Row) -> rusqlite::Result<ParityGroup> {
    Ok(ParityGroup {
        parity_disc: col(r, "parity_groups", 0)?,
        first: col(r, "parity_groups", 1)?,
        last: col(r, "parity_groups", 2)?,
        piece_size: count(r, "parity_groups", 3)?,
        length: count(r, "parity_groups", 4)?,
    })
}

fn member(r: &Row) -> rusqlite::Result<ParityMember> {
    Ok(ParityMember {
        disc: col(r, "parity_members", 0)?,
        parity_disc: col(r, "parity_members", 1)?,
        stream_length: count(r, "parity_members", 2)?,
        recovery_creator: col(r, "parity_members", 3)?,
        folded: col::<i64>(r, "parity_members", 4)? != 0,
    })
}

fn file(r: &Row) -> rusqlite::Result<ParityFile> {
    Ok(ParityFile {
        disc: col(r, "parity_files", 0)?,
        name: col(r, "parity_files", 1)?,
        offset: count(r, "parity_files", 2)?,
        size: count(r, "parity_files", 3)?,
        sha256: col(r, "parity_files", 4)?,
    })
}

const MEMBER_COLUMNS: &str =
    "SELECT disc, parity_disc, stream_length, recovery_creator, folded FROM parity_members";

impl Catalogue {
    /// Whether the catalogue has the parity tables (format 5 on).
    fn has_parity_tables(&self) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'parity_groups'",
            [],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Every parity disc, by number (none in a catalogue of format 4 or older).
    pub fn parity_groups(&self) -> Result<Vec<ParityGroup>> {
        if !self.has_parity_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare(
            "SELECT parity_disc, first_disc, last_disc, piece_size, length
             FROM parity_groups ORDER BY parity_disc",
        )?;
        let rows = st.query_map([], group)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The data discs recorded for parity, by number.
    pub fn parity_members(&self) -> Result<Vec<ParityMember>> {
        if !self.has_parity_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(&format!("{MEMBER_COLUMNS} ORDER BY disc"))?;
        let rows = st.query_map([], member)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One data disc's parity record.
    pub fn parity_member(&self, disc: u32) -> Result<Option<ParityMember>> {
        if !self.has_parity_tables()? {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(&format!("{MEMBER_COLUMNS} WHERE disc = ?1"), [disc], member)
            .optional()?)
    }

    /// The files of data disc `disc`'s stream, in stream order.
    pub fn parity_files(&self, disc: u32) -> Result<Vec<ParityFile>> {
        if !self.has_parity_tables()? {
            return Ok(Vec::new());
        }
        let mut st = self.conn.prepare(
            "SELECT disc, name, offset, size, sha256 FROM parity_files
             WHERE disc = ?1 ORDER BY offset",
        )?;
        let rows = st.query_map([disc], file)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a finished data disc of the open group and the files of its stream, before
    /// its stream goes into the running parity (`folded` false).
    pub fn add_parity_member(
        &self,
        disc: u32,
        stream_length: u64,
        recovery_creator: Option<&str>,
        files: &[ParityFile],
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO parity_members (disc, parity_disc, stream_length, recovery_creator, folded)
             VALUES (?1, NULL, ?2, ?3, 0)",
            params![disc, stream_length as i64, recovery_creator],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO parity_files (disc, name, offset, size, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for f in files {
                ins.execute(params![
                    disc,
                    f.name,
                    f.offset as i64,
                    f.size as i64,
                    f.sha256
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks data disc `disc`'s stream as in the running parity.
    pub fn set_parity_folded(&self, disc: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE parity_members SET folded = 1 WHERE disc = ?1",
            [disc],
        )?;
        Ok(())
    }

    /// Closes the open group: parity disc `parity_disc` (recorded as a closed disc of
    /// `snapshot`) protects every data disc of the group, whose streams are `length` bytes at
    /// most. One transaction.
    pub fn close_parity_group(
        &self,
        parity_disc: u32,
        snapshot: SnapshotId,
        piece_size: u64,
        length: u64,
    ) -> Result<ParityGroup> {
        let tx = self.conn.unchecked_transaction()?;
        let (first, last): (u32, u32) = tx.query_row(
            "SELECT min(disc), max(disc) FROM parity_members WHERE parity_disc IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "INSERT INTO discs (number, snapshot_id, status, bytes, closed_ns)
             VALUES (?1, ?2, 'closed', 0, ?3)",
            params![parity_disc, snapshot.0, now_ns()],
        )?;
        tx.execute(
            "INSERT INTO parity_groups (parity_disc, first_disc, last_disc, piece_size, length)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![parity_disc, first, last, piece_size as i64, length as i64],
        )?;
        tx.execute(
            "UPDATE parity_members SET parity_disc = ?1 WHERE parity_disc IS NULL",
            [parity_disc],
        )?;
        // The next group chooses its own piece size.
        tx.execute("DELETE FROM meta WHERE key = 'parity_open_piece_size'", [])?;
        tx.commit()?;
        Ok(ParityGroup {
            parity_disc,
            first,
            last,
            piece_size,
            length,
        })
    }

    /// The latest snapshot's id (a parity disc closed outside a backup run is recorded
    /// against it).
    pub fn latest_snapshot_id(&self) -> Result<Option<SnapshotId>> {
        Ok(self
            .conn
            .query_row("SELECT max(id) FROM snapshots", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .map(SnapshotId))
    }
}
