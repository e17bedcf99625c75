//! Plain-data rows of the catalogue and their mapping from SQLite rows.

use rusqlite::Row;

/// A snapshot id (`snapshots.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId(pub i64);

/// An archive id (`archives.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveId(pub i64);

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
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

    fn parse(s: &str) -> rusqlite::Result<Self> {
        match s {
            "file" => Ok(Kind::File),
            "dir" => Ok(Kind::Dir),
            "symlink" => Ok(Kind::Symlink),
            other => Err(rusqlite::Error::InvalidColumnType(
                1,
                format!("kind {other:?}"),
                rusqlite::types::Type::Text,
            )),
        }
    }
}

/// One path of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Lowercase hex sha256 of the content (files only).
    pub sha256: Option<String>,
    /// Target of a symlink, raw bytes.
    pub link_target: Option<Vec<u8>>,
    /// Inode number at backup time (for fast rescans).
    pub inode: u64,
    /// Status change time at backup time, nanoseconds (for fast rescans).
    pub ctime_ns: i64,
}

pub(super) fn entry(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        path: r.get(0)?,
        kind: Kind::parse(&r.get::<_, String>(1)?)?,
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: r.get(3)?,
        mode: r.get(4)?,
        sha256: r.get(5)?,
        link_target: r.get(6)?,
        inode: r.get::<_, i64>(7)? as u64,
        ctime_ns: r.get(8)?,
    })
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
        id: SnapshotId(r.get(0)?),
        started_ns: r.get(1)?,
        finished_ns: r.get(2)?,
        complete: r.get::<_, String>(3)? == "complete",
        source: r.get(4)?,
        files: r.get::<_, i64>(5)? as u64,
        bytes: r.get::<_, i64>(6)? as u64,
        new_bytes: r.get::<_, i64>(7)? as u64,
    })
}

/// Content a snapshot needs that is not fully stored.
#[derive(Debug, Clone)]
pub struct PendingContent {
    /// Lowercase hex sha256.
    pub sha256: String,
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

pub(super) fn pending(r: &Row) -> rusqlite::Result<PendingContent> {
    Ok(PendingContent {
        sha256: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        path: r.get(2)?,
        pieces_done: r.get(3)?,
        bytes_done: r.get::<_, i64>(4)? as u64,
        mode: 0,
        mtime_ns: 0,
    })
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
        id: ArchiveId(r.get(0)?),
        name: r.get(1)?,
        disc: r.get(2)?,
        snapshot: SnapshotId(r.get(3)?),
        compression: r.get(4)?,
        encrypted: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        sha256: r.get(7)?,
    })
}

/// One piece of a content inside an archive.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The content.
    pub sha256: String,
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
        sha256: r.get(0)?,
        piece: r.get(1)?,
        archive: ArchiveId(r.get(2)?),
        member: r.get(3)?,
        offset: r.get::<_, i64>(4)? as u64,
        length: r.get::<_, i64>(5)? as u64,
    })
}

/// A disc.
#[derive(Debug, Clone)]
pub struct Disc {
    /// Its number (disc-NNNN).
    pub number: u32,
    /// The snapshot whose run opened it.
    pub snapshot: SnapshotId,
    /// Closed: catalogue copy, SHA256SUMS and README written.
    pub closed: bool,
    /// Bytes of its archives.
    pub bytes: u64,
}

/// Where one piece of a content is: its archive and disc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiecePlace {
    /// 1-based piece number.
    pub piece: u32,
    /// Length of the piece in bytes.
    pub length: u64,
    /// The disc holding its archive.
    pub disc: u32,
    /// The archive's file name.
    pub archive: String,
}

pub(super) fn piece_place(r: &Row) -> rusqlite::Result<PiecePlace> {
    Ok(PiecePlace {
        piece: r.get(0)?,
        length: r.get::<_, i64>(1)? as u64,
        disc: r.get(2)?,
        archive: r.get(3)?,
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
        snapshot: SnapshotId(r.get(0)?),
        disc: r.get(1)?,
        archives: r.get::<_, i64>(2)? as u64,
        bytes: r.get::<_, i64>(3)? as u64,
    })
}
