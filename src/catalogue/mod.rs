//! The catalogue: one SQLite database that records snapshots, their entries, the content each
//! file has, and where every piece of content lives (archive, disc). It is the only module that
//! names rusqlite; every SQL string lives here next to the typed method that runs it.
//!
//! The working catalogue lives in DEST; a copy of it goes on every disc.

mod errors;
mod parity;
mod query;
mod rows;

use std::io::{Read, Write};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

pub use parity::{ParityFile, ParityGroup};
pub use rows::{
    Archive, ArchiveId, Disc, Entry, Kind, PendingContent, Piece, Snapshot, SnapshotId, Written,
};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::now_ns;

/// The format version of the disc layout and catalogue; see docs/format.md.
pub const FORMAT_VERSION: u32 = 5;

const SCHEMA: &str = include_str!("schema.sql");

/// The tables format 5 added; a catalogue of an older format gets them when a run writes into
/// its set.
const PARITY_SCHEMA: &str = include_str!("schema_parity.sql");

/// The entries of a snapshot (`?1`), in byte order of their paths, as `rows::entry` reads them.
const ENTRIES_OF_SNAPSHOT: &str =
    "SELECT path, kind, size, mtime_ns, mode, sha256, link_target, inode, ctime_ns
     FROM entries WHERE snapshot_id = ?1 ORDER BY path";

/// Every archive, in id order, as `rows::archive` reads them.
const ALL_ARCHIVES: &str =
    "SELECT id, name, disc, snapshot_id, compression, encrypted, size, sha256
     FROM archives ORDER BY id";

/// An open catalogue.
pub struct Catalogue {
    conn: Connection,
}

impl Catalogue {
    /// Creates a new catalogue at `path` for a new backup set.
    pub fn create(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;")?;
        Self::init(conn, path)
    }

    /// Creates a new catalogue in memory (for a dry run: nothing is written).
    pub fn create_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, Path::new("memory"))
    }

    fn init(conn: Connection, path: &Path) -> Result<Self> {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(PARITY_SCHEMA)?;
        tx.execute_batch(&format!("PRAGMA user_version = {FORMAT_VERSION};"))?;
        let set_id = new_set_id(path);
        for (k, v) in [
            ("format_version", FORMAT_VERSION.to_string()),
            ("backup_set_id", set_id),
            ("created_ns", now_ns().to_string()),
            ("butcher_version", env!("CARGO_PKG_VERSION").to_string()),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(Catalogue { conn })
    }

    /// Opens an existing working catalogue, refusing one of a newer format.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;")?;
        let cat = Catalogue { conn };
        cat.check_version(&path.display().to_string())?;
        Ok(cat)
    }

    /// Marks a catalogue of an older format as the current version, before a run writes into
    /// its set what this butcher writes (docs/format.md, section 9).
    pub fn mark_current_format(&self) -> Result<()> {
        if self.check_version("the working catalogue")? < FORMAT_VERSION {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute_batch(PARITY_SCHEMA)?;
            tx.execute_batch(&format!("PRAGMA user_version = {FORMAT_VERSION};"))?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Opens a catalogue file for reading only (the query commands): nothing is written, so it
    /// works on read-only media and beside a running backup.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        Self::open_read_only_as(path, &path.display().to_string())
    }

    /// Opens a catalogue file for reading only, naming it `what` in errors (a decrypted copy
    /// is named after the disc file it came from).
    pub fn open_read_only_as(path: &Path, what: &str) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Restore, ls and where look contents up in sha256 order, all over the file: a
        // cache of up to 64 MiB keeps a catalogue's pages from being read again and again.
        conn.execute_batch("PRAGMA cache_size = -65536")?;
        let cat = Catalogue { conn };
        cat.check_version(what)?;
        Ok(cat)
    }

    /// Opens a catalogue copy held in memory (decrypted from a disc), read-only.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        Self::from_bytes_mode(bytes, what, true)
    }

    /// Opens a copy of a catalogue in memory that can be changed without touching any file.
    pub fn from_bytes_writable(bytes: &[u8], what: &str) -> Result<Self> {
        Self::from_bytes_mode(bytes, what, false)
    }

    fn from_bytes_mode(bytes: &[u8], what: &str, read_only: bool) -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        let data = owned_data(bytes)?;
        conn.deserialize(rusqlite::DatabaseName::Main, data, read_only)
            .map_err(|e| Error::Damaged(format!("{what} is not a readable catalogue: {e}")))?;
        let cat = Catalogue { conn };
        cat.check_version(what)?;
        Ok(cat)
    }

    /// The catalogue's format version, refused when newer than this butcher's or not set.
    fn check_version(&self, what: &str) -> Result<u32> {
        let v: u32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| Error::Damaged(format!("{what} is not a readable catalogue: {e}")))?;
        if v > FORMAT_VERSION {
            return Err(Error::Usage(format!(
                "{what} has format version {v}, newer than this butcher understands \
                 ({FORMAT_VERSION}); use a newer butcher"
            )));
        }
        if v == 0 {
            return Err(Error::Damaged(format!("{what} is not a butcher catalogue")));
        }
        Ok(v)
    }

    /// `PRAGMA integrity_check` answers "ok".
    pub fn integrity_ok(&self) -> Result<bool> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }

    /// The whole database as bytes, for the copy that goes on a disc.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.conn.serialize(rusqlite::DatabaseName::Main)?.to_vec())
    }

    /// Writes the bytes [`to_bytes`](Self::to_bytes) gives into `out`, streamed from the
    /// database file when there is one, so that memory does not grow with the catalogue.
    /// Outside a transaction the file holds exactly the committed database (journal mode
    /// DELETE, and this process holds the backup set's lock). `to` names `out` in errors.
    /// Returns the bytes written.
    pub fn write_copy(&self, out: &mut dyn Write, to: &Path) -> Result<u64> {
        let file = self
            .conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from);
        let write_err = |e: std::io::Error| Error::io("write", to, e);
        match file {
            Some(path) if self.conn.is_autocommit() => {
                let size = self.size_bytes()?;
                let f = std::fs::File::open(&path).ctx("open", &path)?;
                let mut from = std::io::BufReader::with_capacity(1 << 20, f).take(size);
                let n = std::io::copy(&mut from, out).map_err(write_err)?;
                if n != size {
                    return Err(Error::Damaged(format!(
                        "{}: {n} bytes where the database has {size}",
                        path.display()
                    )));
                }
                Ok(n)
            }
            _ => {
                let bytes = self.to_bytes()?;
                out.write_all(&bytes).map_err(write_err)?;
                Ok(bytes.len() as u64)
            }
        }
    }

    /// A value from the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// The identifier of the backup set this catalogue belongs to.
    pub fn backup_set_id(&self) -> Result<String> {
        self.meta("backup_set_id")?
            .ok_or_else(|| Error::Damaged("catalogue has no backup_set_id".into()))
    }

    /// Starts a snapshot of `source`.
    pub fn begin_snapshot(&self, source: &[u8]) -> Result<SnapshotId> {
        self.conn.execute(
            "INSERT INTO snapshots (started_ns, status, source) VALUES (?1, 'running', ?2)",
            params![now_ns(), source],
        )?;
        Ok(SnapshotId(self.conn.last_insert_rowid()))
    }

    /// Records the entries of a snapshot (and the contents they name) in one transaction.
    pub fn insert_entries(&self, snapshot: SnapshotId, entries: &[Entry]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO entries (snapshot_id, path, kind, size, mtime_ns, mode, sha256,
                                      link_target, inode, ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut content = tx.prepare(
                "INSERT INTO contents (sha256, size) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for e in entries {
                ins.execute(params![
                    snapshot.0,
                    e.path,
                    e.kind.as_str(),
                    e.size as i64,
                    e.mtime_ns,
                    e.mode,
                    e.sha256,
                    e.link_target,
                    e.inode as i64,
                    e.ctime_ns
                ])?;
                if let Some(sha) = &e.sha256 {
                    content.execute(params![sha, e.size as i64])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a snapshot complete with its totals.
    pub fn finish_snapshot(
        &self,
        id: SnapshotId,
        files: u64,
        bytes: u64,
        new_bytes: u64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE snapshots SET status = 'complete', finished_ns = ?2, files = ?3, bytes = ?4,
                    new_bytes = ?5 WHERE id = ?1",
            params![id.0, now_ns(), files as i64, bytes as i64, new_bytes as i64],
        )?;
        Ok(())
    }

    /// All snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        let mut st = self.conn.prepare(
            "SELECT id, started_ns, finished_ns, status, source, files, bytes, new_bytes
             FROM snapshots ORDER BY id",
        )?;
        let rows = st.query_map([], rows::snapshot)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest complete snapshot, if any.
    pub fn latest_complete(&self) -> Result<Option<Snapshot>> {
        Ok(self.snapshots()?.into_iter().rev().find(|s| s.complete))
    }

    /// Every entry of a snapshot, sorted by path bytes.
    pub fn entries(&self, snapshot: SnapshotId) -> Result<Vec<Entry>> {
        let mut st = self.conn.prepare(ENTRIES_OF_SNAPSHOT)?;
        let rows = st.query_map([snapshot.0], rows::entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Contents a snapshot needs that no archive holds whole yet, in path order, each with the
    /// first path that has it (the tar member name) and the pieces already stored.
    pub fn pending_contents(&self, snapshot: SnapshotId) -> Result<Vec<PendingContent>> {
        let mut st = self.conn.prepare(
            "SELECT c.sha256, c.size, MIN(e.path),
                    (SELECT COUNT(*) FROM pieces p WHERE p.sha256 = c.sha256),
                    (SELECT COALESCE(SUM(length), 0) FROM pieces p WHERE p.sha256 = c.sha256)
             FROM entries e JOIN contents c ON c.sha256 = e.sha256
             WHERE e.snapshot_id = ?1 AND e.kind = 'file' AND c.pieces IS NULL
             GROUP BY c.sha256 ORDER BY MIN(e.path)",
        )?;
        let rows = st.query_map([snapshot.0], rows::pending)?;
        let mut out: Vec<PendingContent> = rows.collect::<rusqlite::Result<_>>()?;
        // The tar header of the first path carries its mode and mtime.
        let mut meta = self
            .conn
            .prepare("SELECT mode, mtime_ns FROM entries WHERE snapshot_id = ?1 AND path = ?2")?;
        for p in &mut out {
            let (mode, mtime): (u32, i64) =
                meta.query_row(params![snapshot.0, p.path], |r| Ok((r.get(0)?, r.get(1)?)))?;
            p.mode = mode;
            p.mtime_ns = mtime;
        }
        Ok(out)
    }

    /// The number the next disc gets (discs are numbered from 1 across all runs).
    pub fn next_disc_number(&self) -> Result<u32> {
        let n: Option<u32> = self
            .conn
            .query_row("SELECT MAX(number) FROM discs", [], |r| r.get(0))?;
        Ok(n.unwrap_or(0) + 1)
    }

    /// The id the next archive gets.
    pub fn next_archive_id(&self) -> Result<ArchiveId> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT MAX(id) FROM archives", [], |r| r.get(0))?;
        Ok(ArchiveId(n.unwrap_or(0) + 1))
    }

    /// Records a new open disc.
    pub fn open_disc(&self, number: u32, snapshot: SnapshotId) -> Result<()> {
        self.conn.execute(
            "INSERT INTO discs (number, snapshot_id, status) VALUES (?1, ?2, 'open')",
            params![number, snapshot.0],
        )?;
        Ok(())
    }

    /// Marks a disc closed with the bytes it holds (its catalogue copy excluded).
    pub fn close_disc(&self, number: u32, bytes: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE discs SET status = 'closed', bytes = ?2, closed_ns = ?3 WHERE number = ?1",
            params![number, bytes as i64, now_ns()],
        )?;
        Ok(())
    }

    /// Sets a value in the meta table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Forgets disc `number` and its archives, whose files are lost: their pieces are deleted
    /// and the contents they completed become pending again, so a later run stores them anew.
    pub fn forget_disc(&self, number: u32) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE contents SET pieces = NULL WHERE sha256 IN
               (SELECT p.sha256 FROM pieces p JOIN archives a ON a.id = p.archive_id
                WHERE a.disc = ?1)",
            [number],
        )?;
        tx.execute(
            "DELETE FROM pieces WHERE archive_id IN (SELECT id FROM archives WHERE disc = ?1)",
            [number],
        )?;
        tx.execute("DELETE FROM archives WHERE disc = ?1", [number])?;
        tx.execute("DELETE FROM discs WHERE number = ?1", [number])?;
        tx.commit()?;
        Ok(())
    }

    /// All discs, by number.
    pub fn discs(&self) -> Result<Vec<Disc>> {
        let mut st = self
            .conn
            .prepare("SELECT number, status FROM discs ORDER BY number")?;
        let rows = st.query_map([], rows::disc)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a finished archive and the pieces it holds, in one transaction. `completed`
    /// lists contents whose last piece this archive holds, with their piece count; `discarded`
    /// lists contents whose stored pieces must be forgotten (the file changed while read).
    pub fn record_archive(
        &self,
        archive: &Archive,
        pieces: &[Piece],
        completed: &[(String, u32)],
        discarded: &[String],
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO archives (id, name, disc, snapshot_id, compression, encrypted, size,
                                   sha256, created_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                archive.id.0,
                archive.name,
                archive.disc,
                archive.snapshot.0,
                archive.compression,
                archive.encrypted,
                archive.size as i64,
                archive.sha256,
                now_ns()
            ],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO pieces (sha256, piece, archive_id, member, offset, length)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for p in pieces {
                ins.execute(params![
                    p.sha256,
                    p.piece,
                    archive.id.0,
                    p.member,
                    p.offset as i64,
                    p.length as i64
                ])?;
            }
            let mut done = tx.prepare("UPDATE contents SET pieces = ?2 WHERE sha256 = ?1")?;
            for (sha, n) in completed {
                done.execute(params![sha, n])?;
            }
            let mut forget = tx.prepare("DELETE FROM pieces WHERE sha256 = ?1")?;
            for sha in discarded {
                forget.execute([sha])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// All archives, by id.
    pub fn archives(&self) -> Result<Vec<Archive>> {
        let mut st = self.conn.prepare(ALL_ARCHIVES)?;
        let rows = st.query_map([], rows::archive)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The pieces of a content, in order.
    pub fn pieces(&self, sha256: &str) -> Result<Vec<Piece>> {
        // Cached: restore, ls and where ask once per content.
        let mut st = self.conn.prepare_cached(
            "SELECT sha256, piece, archive_id, member, offset, length
             FROM pieces WHERE sha256 = ?1 ORDER BY piece",
        )?;
        let rows = st.query_map([sha256], rows::piece)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every content whose pieces are all stored (sha256), in order.
    pub fn stored_contents(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT sha256 FROM contents WHERE pieces IS NOT NULL ORDER BY sha256")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Runs `f`, whose statements all read, in one read transaction: SQLite then takes its
    /// lock and checks the file for changes once, not once a statement (for a catalogue of
    /// 50,000 files, 1.4 million system calls fewer in a restore). Inside a transaction
    /// already, `f` just runs.
    pub fn read_transaction<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f();
        }
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let r = f();
        // Nothing was written: ending the transaction either way only drops the lock.
        let end = self
            .conn
            .execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let v = r?;
        end?;
        Ok(v)
    }

    /// Whether every piece of a content is stored (`contents.pieces` is set).
    pub fn content_complete(&self, sha256: &str) -> Result<bool> {
        // Cached: ls and where ask once per file.
        let n: Option<Option<i64>> = self
            .conn
            .prepare_cached("SELECT pieces FROM contents WHERE sha256 = ?1")?
            .query_row([sha256], |r| r.get(0))
            .optional()?;
        Ok(matches!(n, Some(Some(_))))
    }

    /// Bytes used by the database file (page count times page size).
    pub fn size_bytes(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

/// A backup set id: 32 hex digits from the clock, the process and the path, hashed.
fn new_set_id(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(now_ns().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(crate::fsutil::path_bytes(path));
    let mut seed = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut seed);
    }
    h.update(seed);
    crate::fsutil::hex(&h.finalize()[..16])
}

fn owned_data(bytes: &[u8]) -> Result<rusqlite::serialize::OwnedData> {
    // SAFETY: the buffer comes from sqlite3_malloc64, is fully initialised by the copy below,
    // and ownership passes to SQLite through OwnedData (freed with sqlite3_free).
    unsafe {
        let ptr = rusqlite::ffi::sqlite3_malloc64(bytes.len().max(1) as u64) as *mut u8;
        let ptr = std::ptr::NonNull::new(ptr)
            .ok_or_else(|| Error::Catalogue("out of memory loading a catalogue".into()))?;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len());
        Ok(rusqlite::serialize::OwnedData::from_raw_nonnull(
            ptr,
            bytes.len(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed copy is byte for byte what SQLite serializes, from a file or from memory,
    /// and opens as a catalogue.
    #[test]
    fn the_streamed_copy_is_the_serialized_database() {
        let dir = tempfile::tempdir().unwrap();
        let file = Catalogue::create(&dir.path().join("catalogue.db")).unwrap();
        let memory = Catalogue::create_in_memory().unwrap();
        for cat in [&file, &memory] {
            for i in 0..200 {
                cat.set_meta(&format!("key{i}"), &"x".repeat(i)).unwrap();
            }
            let mut copy = Vec::new();
            let n = cat.write_copy(&mut copy, Path::new("copy")).unwrap();
            assert_eq!(n as usize, copy.len());
            assert_eq!(copy, cat.to_bytes().unwrap());
            let back = Catalogue::from_bytes(&copy, "the copy").unwrap();
            assert!(back.integrity_ok().unwrap());
            assert_eq!(
                back.meta("key199").unwrap().as_deref(),
                Some(&*"x".repeat(199))
            );
        }
    }

    /// A read transaction holds for everything `f` reads, nests into one already open,
    /// and ends with `f`, whether it fails or not.
    #[test]
    fn a_read_transaction_spans_its_reads_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        drop(Catalogue::create(&path).unwrap());
        let cat = Catalogue::open_read_only(&path).unwrap();
        let got = cat
            .read_transaction(|| {
                assert!(!cat.conn.is_autocommit(), "inside a transaction");
                let inner = cat.read_transaction(|| cat.backup_set_id())?;
                assert!(!cat.conn.is_autocommit(), "the inner call keeps it open");
                Ok(inner)
            })
            .unwrap();
        assert_eq!(got, cat.backup_set_id().unwrap());
        assert!(cat.conn.is_autocommit(), "ended");
        let err = cat.read_transaction(|| -> Result<()> { Err(Error::Damaged("x".into())) });
        assert!(err.is_err());
        assert!(cat.conn.is_autocommit(), "ended after a failure too");
    }

    fn user_version(path: &Path) -> u32 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    /// A working catalogue of an older version is marked current only when asked (a run is
    /// about to write); one of a newer version is refused and left as it is.
    #[test]
    fn an_older_catalogue_is_marked_current_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalogue.db");
        drop(Catalogue::create(&path).unwrap());
        let set = |v: u32| {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {v};"))
                .unwrap();
        };
        set(1);
        let cat = Catalogue::open(&path).unwrap();
        assert_eq!(user_version(&path), 1, "opening alone changes nothing");
        cat.mark_current_format().unwrap();
        drop(cat);
        assert_eq!(user_version(&path), FORMAT_VERSION);
        set(FORMAT_VERSION + 1);
        assert!(matches!(Catalogue::open(&path), Err(Error::Usage(_))));
        assert_eq!(user_version(&path), FORMAT_VERSION + 1);
    }
}
