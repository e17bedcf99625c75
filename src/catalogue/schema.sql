-- butcher catalogue, format version 1. Documented column by column in docs/format.md.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE snapshots (
    id          INTEGER PRIMARY KEY,
    started_ns  INTEGER NOT NULL,
    finished_ns INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('running', 'complete')),
    source      BLOB NOT NULL,
    files       INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    new_bytes   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE entries (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    path        BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    sha256      TEXT,
    link_target BLOB,
    inode       INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, path)
) WITHOUT ROWID;
CREATE INDEX entries_sha256 ON entries(sha256);
CREATE TABLE contents (
    sha256 TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    pieces INTEGER
);
CREATE TABLE discs (
    number      INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    bytes       INTEGER NOT NULL DEFAULT 0,
    closed_ns   INTEGER
);
CREATE TABLE archives (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    disc        INTEGER NOT NULL REFERENCES discs(number),
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    compression TEXT NOT NULL CHECK (compression IN ('bzip2', 'zstd', 'none')),
    encrypted   INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    created_ns  INTEGER NOT NULL
);
CREATE TABLE pieces (
    sha256     TEXT NOT NULL REFERENCES contents(sha256),
    piece      INTEGER NOT NULL,
    archive_id INTEGER NOT NULL REFERENCES archives(id),
    member     BLOB NOT NULL,
    offset     INTEGER NOT NULL,
    length     INTEGER NOT NULL,
    PRIMARY KEY (sha256, piece)
);
CREATE INDEX pieces_archive ON pieces(archive_id);
