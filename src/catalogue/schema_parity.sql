-- butcher catalogue, format version 5: the parity disc tables, which catalogues of format 4
-- and older lack (they have no parity discs). Documented in docs/format.md.
CREATE TABLE IF NOT EXISTS parity_groups (
    parity_disc INTEGER PRIMARY KEY,
    first_disc  INTEGER NOT NULL,
    last_disc   INTEGER NOT NULL,
    piece_size  INTEGER NOT NULL,
    length      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parity_members (
    disc             INTEGER PRIMARY KEY,
    parity_disc      INTEGER,
    stream_length    INTEGER NOT NULL,
    recovery_creator TEXT,
    folded           INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parity_files (
    disc   INTEGER NOT NULL,
    name   TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (disc, name)
);
