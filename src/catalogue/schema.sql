-- butcher catalogue, format version 6. Documented column by column in docs/format.md.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE snapshots (
    id            INTEGER PRIMARY KEY,
    started_ns    INTEGER NOT NULL,
    finished_ns   INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('running', 'complete')),
    source        BLOB NOT NULL,
    files         INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    new_bytes     INTEGER NOT NULL DEFAULT 0,
    root_mode     INTEGER,
    root_mtime_ns INTEGER,
    root_uid      INTEGER,
    root_gid      INTEGER
);
-- Every path any snapshot had, one row per name: a path is its parent's path, '/', name.
CREATE TABLE paths (
    id     INTEGER PRIMARY KEY,
    parent INTEGER NOT NULL,
    name   BLOB NOT NULL,
    UNIQUE (parent, name)
);
-- What a path was from snapshot first_snapshot up to, not including, until_snapshot
-- (2147483647 while the newest snapshot still has it: closing a version never makes its row
-- longer, so its page never has to split).
CREATE TABLE versions (
    id             INTEGER PRIMARY KEY,
    path_id        INTEGER NOT NULL REFERENCES paths(id),
    first_snapshot INTEGER NOT NULL,
    until_snapshot INTEGER NOT NULL DEFAULT 2147483647,
    kind           TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    mode           INTEGER NOT NULL,
    uid            INTEGER,
    gid            INTEGER,
    sha256         BLOB,
    link_target    BLOB,
    links          INTEGER,
    dev            INTEGER,
    inode          INTEGER NOT NULL,
    ctime_ns       INTEGER NOT NULL,
    xattrs         INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE xattrs (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    name       BLOB NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (version_id, name)
) WITHOUT ROWID;
CREATE TABLE users (
    uid  INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE groups (
    gid  INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE contents (
    sha256 BLOB PRIMARY KEY,
    size   INTEGER NOT NULL,
    pieces INTEGER
) WITHOUT ROWID;
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
    sha256     BLOB NOT NULL REFERENCES contents(sha256),
    piece      INTEGER NOT NULL,
    archive_id INTEGER NOT NULL REFERENCES archives(id),
    member     BLOB NOT NULL,
    offset     INTEGER NOT NULL,
    length     INTEGER NOT NULL,
    PRIMARY KEY (sha256, piece)
) WITHOUT ROWID;
CREATE TABLE parity_groups (
    parity_disc INTEGER PRIMARY KEY,
    first_disc  INTEGER NOT NULL,
    last_disc   INTEGER NOT NULL,
    piece_size  INTEGER NOT NULL,
    length      INTEGER NOT NULL
);
CREATE TABLE parity_members (
    disc             INTEGER PRIMARY KEY,
    parity_disc      INTEGER,
    stream_length    INTEGER NOT NULL,
    recovery_creator TEXT,
    folded           INTEGER NOT NULL
);
CREATE TABLE parity_files (
    disc   INTEGER NOT NULL,
    name   TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (disc, name)
);
-- Every path's full name (bytes joined with '/'), and every snapshot's entries as format 5
-- listed them, for reading by hand: SELECT ... FROM entries WHERE snapshot_id = N.
CREATE VIEW path_names (id, path) AS
    WITH RECURSIVE p(id, path) AS (
        SELECT id, CAST(name AS BLOB) FROM paths WHERE parent = 0
        UNION ALL
        SELECT c.id, CAST(p.path || X'2F' || c.name AS BLOB) FROM paths c JOIN p ON c.parent = p.id)
    SELECT id, path FROM p;
CREATE VIEW entries AS
    SELECT s.id AS snapshot_id, n.path AS path, v.kind, v.size, v.mtime_ns, v.mode,
           v.sha256, v.link_target, v.inode, v.ctime_ns, v.uid, v.gid, v.links, v.dev,
           v.id AS version_id
    FROM snapshots s
    JOIN versions v ON v.first_snapshot <= s.id
                   AND v.until_snapshot > s.id
    JOIN path_names n ON n.id = v.path_id;
