//! Plain-data rows of the catalogue and their mapping from SQLite rows.

use std::fmt;

use rusqlite::types::{FromSql, Type};
use rusqlite::Row;

/// A value of a catalogue column that cannot be read, named by table and column, so an error
/// from a damaged catalogue copy says what is wrong in words, not in SQLite's.
#[derive(Debug)]
pub(super) struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

fn bad_value(r: &Row, table: &str, i: usize, what: String) -> rusqlite::Error {
    let column = r.as_ref().column_name(i).unwrap_or("?");
    rusqlite::Error::FromSqlConversionFailure(
        i,
        Type::Null,
        Box::new(BadValue(format!("{what} in {table}.{column}"))),
    )
}

/// Column `i` of a row of `table`; a value of the wrong type or range is named with its column.
pub(super) fn col<T: FromSql>(r: &Row, table: &str, i: usize) -> rusqlite::Result<T> {
    r.get(i).map_err(|e| {
        let what = match e {
            rusqlite::Error::IntegralValueOutOfRange(_, v) => format!("integer {v} out of range"),
            rusqlite::Error::InvalidColumnType(_, _, ty) => format!("a value of type {ty}"),
            rusqlite::Error::FromSqlConversionFailure(_, _, e) => format!("a bad value ({e})"),
            other => return other,
        };
        bad_value(r, table, i, what)
    })
}

/// A size or count column: never negative.
pub(super) fn count(r: &Row, table: &str, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = col(r, table, i)?;
    u64::try_from(v).map_err(|_| bad_value(r, table, i, format!("integer {v} out of range")))
}

/// A snapshot id (`snapshots.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId(pub i64);

/// An archive id (`archives.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveId(pub i64);

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// A regular file.
    #[default]
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

impl Kind {
    /// The value of `entries.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
        }
    }

    pub(super) fn read(r: &Row, i: usize) -> rusqlite::Result<Self> {
        match col::<String>(r, "entries", i)?.as_str() {
            "file" => Ok(Kind::File),
            "dir" => Ok(Kind::Dir),
            "symlink" => Ok(Kind::Symlink),
            other => Err(bad_value(
                r,
                "entries",
                i,
                format!("unknown kind {other:?}"),
            )),
        }
    }
}

/// One path of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Relative to the source root, `/`-separated, raw bytes.
    pub path: Vec<u8>,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Size in bytes (files), 0 otherwise.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// sha256 of the content (files only).
    pub sha256: Option<Sha256>,
    /// Target of a symlink, raw bytes.
    pub link_target: Option<Vec<u8>>,
    /// Inode number at backup time (for fast rescans).
    pub inode: u64,
    /// Status change time at backup time, nanoseconds (for fast rescans).
    pub ctime_ns: i64,
    /// Owner's user id (`None`: not recorded, format 5 and older).
    pub uid: Option<u32>,
    /// Owner's group id (`None`: not recorded).
    pub gid: Option<u32>,
    /// A file's number of hard links when more than one, else 0.
    pub links: u32,
    /// The device of a file with more than one hard link (its inode is unique on it), else 0.
    pub dev: u64,
    /// Extended attributes (name, value), POSIX ACLs included, sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The hard-link group of a file with more than one link: paths of one snapshot with the
    /// same key were one inode.
    pub fn link_key(&self) -> Option<(u64, u64)> {
        (self.kind == Kind::File && self.links > 1).then_some((self.dev, self.inode))
    }
}

pub(super) fn entry(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        path: col(r, "entries", 0)?,
        kind: Kind::read(r, 1)?,
        size: count(r, "entries", 2)?,
        mtime_ns: col(r, "entries", 3)?,
        mode: col(r, "entries", 4)?,
        sha256: digest_opt(r, "entries", 5)?,
        link_target: col(r, "entries", 6)?,
        inode: col::<i64>(r, "entries", 7)? as u64,
        ctime_ns: col(r, "entries", 8)?,
        ..Entry::default()
    })
}

/// A content's sha256 as lowercase hex: stored as 32 bytes from format 6 on, as hex text
/// before.
pub(super) fn sha(r: &Row, table: &str, i: usize) -> rusqlite::Result<String> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Blob(b) if b.len() == 32 => Ok(crate::fsutil::hex(b)),
        rusqlite::types::ValueRef::Text(_) => col(r, table, i),
        _ => Err(bad_value(r, table, i, "not a sha256".to_string())),
    }
}

/// An entry's content digest: 32 bytes from format 6 on, hex text before; NULL allowed.
pub(super) fn digest_opt(r: &Row, table: &str, i: usize) -> rusqlite::Result<Option<Sha256>> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        rusqlite::types::ValueRef::Blob(b) if b.len() == 32 => {
            Ok(Some(Sha256(b.try_into().expect("invariant: 32 bytes"))))
        }
        _ => match Sha256::from_hex(&sha(r, table, i)?) {
            Some(s) => Ok(Some(s)),
            None => Err(bad_value(r, table, i, "not a sha256".to_string())),
        },
    }
}

/// A sha256 digest, 32 bytes (an entry's content: a million entries hold a million of them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Lowercase hex, as `sha256sum` prints it.
    pub fn hex(&self) -> String {
        crate::fsutil::hex(&self.0)
    }

    /// From 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::fsutil::unhex(s)?.try_into().ok().map(Sha256)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its id.
    pub id: SnapshotId,
    /// When the run started, ns since the epoch.
    pub started_ns: i64,
    /// When it finished.
    pub finished_ns: Option<i64>,
    /// True once every content it needs is stored.
    pub complete: bool,
    /// Its run stopped before it was complete (killed, or stopped by an error): a later run
    /// marked it so (meta `interrupted_N`), or a later snapshot exists. Never complete.
    pub interrupted: bool,
    /// The source path as given.
    pub source: Vec<u8>,
    /// Number of regular files.
    pub files: u64,
    /// Bytes of regular files.
    pub bytes: u64,
    /// Bytes of content this snapshot stored for the first time.
    pub new_bytes: u64,
}

pub(super) fn snapshot(r: &Row) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        id: SnapshotId(col(r, "snapshots", 0)?),
        started_ns: col(r, "snapshots", 1)?,
        finished_ns: col(r, "snapshots", 2)?,
        complete: col::<String>(r, "snapshots", 3)? == "complete",
        interrupted: false,
        source: col(r, "snapshots", 4)?,
        files: count(r, "snapshots", 5)?,
        bytes: count(r, "snapshots", 6)?,
        new_bytes: count(r, "snapshots", 7)?,
    })
}

/// Content a snapshot needs that is not fully stored.
#[derive(Debug, Clone)]
pub struct PendingContent {
    /// Its sha256.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// The first path (in byte order) with this content: the tar member name.
    pub path: Vec<u8>,
    /// Pieces already stored by an earlier, interrupted run.
    pub pieces_done: u32,
    /// Bytes already stored in those pieces.
    pub bytes_done: u64,
    /// Mode of `path`.
    pub mode: u32,
    /// Mtime of `path`.
    pub mtime_ns: i64,
}

/// An archive file on a disc.
#[derive(Debug, Clone)]
pub struct Archive {
    /// Its id.
    pub id: ArchiveId,
    /// File name on the disc.
    pub name: String,
    /// Disc number.
    pub disc: u32,
    /// The snapshot whose run wrote it.
    pub snapshot: SnapshotId,
    /// "bzip2", "zstd" or "none".
    pub compression: String,
    /// OpenPGP-encrypted.
    pub encrypted: bool,
    /// Bytes of the file as written.
    pub size: u64,
    /// sha256 of the file as written (lowercase hex).
    pub sha256: String,
}

pub(super) fn archive(r: &Row) -> rusqlite::Result<Archive> {
    Ok(Archive {
        id: ArchiveId(col(r, "archives", 0)?),
        name: col(r, "archives", 1)?,
        disc: col(r, "archives", 2)?,
        snapshot: SnapshotId(col(r, "archives", 3)?),
        compression: col(r, "archives", 4)?,
        encrypted: col(r, "archives", 5)?,
        size: count(r, "archives", 6)?,
        sha256: col(r, "archives", 7)?,
    })
}

/// A piece a new archive holds, as packing records it (the archive is given beside it).
#[derive(Debug, Clone)]
pub struct NewPiece {
    /// The content.
    pub sha256: Sha256,
    /// 1-based piece number.
    pub piece: u32,
    /// The tar member name, raw bytes.
    pub member: Vec<u8>,
    /// Offset of the piece in the content.
    pub offset: u64,
    /// Length of the piece.
    pub length: u64,
}

/// One piece of a content inside an archive (of the content it was asked for).
#[derive(Debug, Clone)]
pub struct Piece {
    /// 1-based piece number.
    pub piece: u32,
    /// The archive holding it.
    pub archive: ArchiveId,
    /// The tar member name, raw bytes.
    pub member: Vec<u8>,
    /// Offset of the piece in the content.
    pub offset: u64,
    /// Length of the piece.
    pub length: u64,
}

pub(super) fn piece(r: &Row) -> rusqlite::Result<Piece> {
    Ok(Piece {
        piece: col(r, "pieces", 1)?,
        archive: ArchiveId(col(r, "pieces", 2)?),
        member: col(r, "pieces", 3)?,
        offset: count(r, "pieces", 4)?,
        length: count(r, "pieces", 5)?,
    })
}

/// A disc.
#[derive(Debug, Clone)]
pub struct Disc {
    /// Its number (disc-NNNN).
    pub number: u32,
    /// Closed: catalogue copy, SHA256SUMS and README written.
    pub closed: bool,
}

pub(super) fn disc(r: &Row) -> rusqlite::Result<Disc> {
    Ok(Disc {
        number: col(r, "discs", 0)?,
        closed: col::<String>(r, "discs", 1)? == "closed",
    })
}

/// The archives one run wrote on one disc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The snapshot whose run wrote them.
    pub snapshot: SnapshotId,
    /// The disc.
    pub disc: u32,
    /// How many archives.
    pub archives: u64,
    /// Bytes of those archive files.
    pub bytes: u64,
}

pub(super) fn written(r: &Row) -> rusqlite::Result<Written> {
    Ok(Written {
        snapshot: SnapshotId(col(r, "archives", 0)?),
        disc: col(r, "archives", 1)?,
        archives: count(r, "archives", 2)?,
        bytes: count(r, "archives", 3)?,
    })
}

/// The source root's own metadata in a snapshot (format 6 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootMeta {
    /// Permission bits.
    pub mode: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Owner's user id.
    pub uid: Option<u32>,
    /// Owner's group id.
    pub gid: Option<u32>,
}
