//! The on-disc layout: every name and number that decides what lies where in DEST and on a
//! disc is formed here, and nowhere else. docs/format.md sections 1-3 describe the same names;
//! a change here is a format change.
//!
//! Names: the working catalogue, `disc-NNNN` directories, archive files, the piece suffix of
//! split contents, catalogue copies, `README.txt`, `SHA256SUMS`, the `.partial` suffix of files
//! being written, and DEST's lock and probe files.
//!
//! Numbers: the capacity accounting of a disc (sector rounding, the 0.5 % kept for the disc
//! file system, the reserve for what closing a disc adds), used by the disc writer during a run
//! and by the dry-run estimate alike.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The name of the working catalogue inside DEST.
pub const WORKING_CATALOGUE: &str = "catalogue.db";

/// The name of the checksum file on every disc.
pub(crate) const SUMS_NAME: &str = "SHA256SUMS";

/// The name of the README on every disc.
pub(crate) const README_NAME: &str = "README.txt";

/// The name of the format description on every disc (format 3 on).
pub(crate) const FORMAT_NAME: &str = "FORMAT.txt";

/// What goes into `FORMAT.txt`: the text of docs/format.md, so that a disc describes itself.
pub(crate) const FORMAT_TEXT: &str = include_str!("../docs/format.md");

/// The suffix of files being written; such a file is never part of a finished backup.
pub(crate) const TMP_SUFFIX: &str = ".partial";

/// The lock file in DEST, held for the length of a backup run.
pub(crate) const LOCK_NAME: &str = ".butcher.lock";

/// The file a first run writes and removes to check that DEST is writable.
pub(crate) fn probe_name() -> String {
    format!(".butcher-probe{TMP_SUFFIX}")
}

/// The staging directory a restore makes inside TARGET (one per process).
pub(crate) fn restore_stage_name(pid: u32) -> String {
    format!(".butcher-restore-{pid}")
}

/// The prefix of disc directory names.
const DISC_PREFIX: &str = "disc-";

/// The name of the disc directory with this number: `disc-0001`.
pub fn disc_dir_name(number: u32) -> String {
    format!("disc-{number:04}")
}

/// The disc number of a directory named `disc-NNNN`, if the name is one.
pub(crate) fn disc_number_of(name: &str) -> Option<u32> {
    name.strip_prefix(DISC_PREFIX)?.parse().ok()
}

/// Disc directories (`disc-NNNN`) directly inside `dir`, by number.
pub(crate) fn find_disc_dirs(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).ctx("read", dir)? {
        let ent = ent.ctx("read", dir)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = disc_number_of(name) {
            if ent.path().is_dir() {
                out.push((n, ent.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `disc-0003`, `disc-0003 to disc-0005`, or `no new disc` for an empty list.
pub fn disc_range(discs: &[u32]) -> String {
    match (discs.first(), discs.last()) {
        (Some(f), Some(l)) if f == l => disc_dir_name(*f),
        (Some(f), Some(l)) => format!("{} to {}", disc_dir_name(*f), disc_dir_name(*l)),
        _ => "no new disc".to_string(),
    }
}

/// The file name of the catalogue copy on a disc.
pub(crate) fn catalogue_copy_name(encrypted: bool) -> &'static str {
    if encrypted {
        "catalogue.db.gpg"
    } else {
        "catalogue.db"
    }
}

/// The compression of one archive, as `archives.compression` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// bzip2 -9, or -1 for blocks that do not compress (`.tar.bz2`).
    Bzip2,
    /// zstd level 3 (`.tar.zst`).
    Zstd,
    /// Plain tar (`.tar`).
    None,
}

impl Codec {
    /// What `auto` uses for content that compresses.
    pub(crate) const AUTO_COMPRESSIBLE: Codec = Codec::Bzip2;

    /// The value of `archives.compression`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Codec::Bzip2 => "bzip2",
            Codec::Zstd => "zstd",
            Codec::None => "none",
        }
    }

    /// The file-name extension after `.tar`.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Codec::Bzip2 => ".bz2",
            Codec::Zstd => ".zst",
            Codec::None => "",
        }
    }
}

/// The file name of an archive: `aNNNNNN.tar[.bz2|.zst][.gpg]`.
pub(crate) fn archive_name(id: i64, compression: Codec, encrypted: bool) -> String {
    format!(
        "a{id:06}.tar{}{}",
        compression.extension(),
        if encrypted { ".gpg" } else { "" }
    )
}

/// Whether a name is an archive's as the format writes it: `a`, six or more digits, `.tar`,
/// `.bz2` or `.zst` or nothing, `.gpg` or nothing. A name from a catalogue copy that is not
/// (`../../etc/passwd`) is never opened.
pub(crate) fn is_archive_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('a') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &rest[digits..];
    let rest = rest.strip_suffix(".gpg").unwrap_or(rest);
    digits >= 6 && matches!(rest, ".tar" | ".tar.bz2" | ".tar.zst")
}

/// What a split content's member names carry after the path: `.butcher-piece-000001`, ...
const PIECE_SUFFIX: &str = ".butcher-piece-";

/// Length of the piece suffix added to member names of split contents.
pub(crate) const PIECE_SUFFIX_LEN: u64 = (PIECE_SUFFIX.len() + 6) as u64;

/// The tar member name of piece `piece` (1-based) of a split content whose first path is `path`.
pub(crate) fn piece_member(path: &[u8], piece: u32) -> Vec<u8> {
    let mut m = path.to_vec();
    m.extend_from_slice(format!("{PIECE_SUFFIX}{piece:06}").as_bytes());
    m
}

/// Sector size used to account for file-system allocation on a disc.
pub(crate) const SECTOR: u64 = 2048;

/// `bytes` rounded up to whole sectors.
pub(crate) fn sectors(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR) * SECTOR
}

/// The smallest disc size accepted: room for a catalogue copy, README.txt, FORMAT.txt, the
/// ISO 9660 structures and some archives.
pub const MIN_DISC_BYTES: u64 = 512 * 1024;

/// The smallest archive size accepted.
pub const MIN_ARCHIVE_BYTES: u64 = 4096;

/// Upper bound of a disc README's length.
pub(crate) const README_MAX_LEN: usize = 12 * 1024;

/// Bytes usable on a disc of `disc_size`: the size less 0.5 % kept for the disc file system.
pub(crate) fn capacity(disc_size: u64) -> u64 {
    disc_size - disc_size / 200
}

/// The files a finished disc holds besides its archives: catalogue copy, README.txt,
/// FORMAT.txt, SHA256SUMS.
pub(crate) const CLOSING_FILES: u64 = 4;

/// Bytes reserved on a disc for what closing it adds: the catalogue copy (of a catalogue of
/// `catalogue_bytes`, with room for the rows the disc's archives add and for encryption), the
/// README, FORMAT.txt and `SHA256SUMS` listing `archives` archives, and what an ISO 9660 image
/// of the disc adds to its files.
pub(crate) fn closing_reserve(catalogue_bytes: u64, archives: usize) -> u64 {
    let catalogue = sectors(catalogue_bytes + catalogue_bytes / 8 + 64 * 1024);
    let readme = sectors(README_MAX_LEN as u64);
    let format = sectors(FORMAT_TEXT.len() as u64);
    let sums = sectors(100 * (archives as u64 + CLOSING_FILES));
    catalogue + readme + format + sums + iso_overhead(archives as u64 + CLOSING_FILES)
}

/// What an ISO 9660 image (Rock Ridge, Joliet, as scripts/burn.sh makes it, without padding)
/// adds to the sector-rounded files of a directory of `files` files: the system area, volume
/// descriptors, path tables and both directory trees. Measured with xorriso: 66 KiB for up to
/// about 50 files, then about 210 bytes a file (266 KiB for 1,000).
pub(crate) fn iso_overhead(files: u64) -> u64 {
    sectors(72 * 1024 + 256 * files)
}

/// Room kept free below which a disc is closed rather than given a tiny archive.
pub(crate) fn min_useful_room(archive_size: u64) -> u64 {
    (archive_size / 16).max(32 * 1024)
}

/// The room the next archive may take on a disc that already holds `used` bytes (in whole
/// sectors) in `archives` archives; `None` when the disc should be closed instead.
pub(crate) fn room_for_archive(
    disc_size: u64,
    archive_size: u64,
    catalogue_bytes: u64,
    used: u64,
    archives: usize,
) -> Option<u64> {
    let reserve = closing_reserve(catalogue_bytes, archives + 1);
    let room = capacity(disc_size).saturating_sub(used + reserve);
    (room >= min_useful_room(archive_size)).then_some(room)
}

/// The error for a disc size with no room for one archive beside what closing the disc adds.
pub(crate) fn disc_too_small(disc_size: u64, archive_size: u64, catalogue_bytes: u64) -> Error {
    Error::Usage(format!(
        "the disc size ({disc_size} bytes) is too small: a disc needs room for at least one \
         archive besides its catalogue copy ({} bytes)",
        closing_reserve(catalogue_bytes, 1) + min_useful_room(archive_size)
    ))
}

/// How many discs `content_bytes` of new content would fill, with the same accounting as a
/// real run: archives of up to `archive_size` input bytes, each taking at most the room left,
/// every disc keeping its closing reserve. Compression is not guessed: the estimate is for
/// content that does not shrink. `None` when not even one archive fits on an empty disc.
pub(crate) fn estimate_discs(
    content_bytes: u64,
    archive_size: u64,
    disc_size: u64,
    catalogue_bytes: u64,
) -> Option<u32> {
    let mut left = content_bytes;
    let mut discs = 0u32;
    while left > 0 {
        let (mut used, mut archives) = (0u64, 0usize);
        while left > 0 {
            let Some(room) =
                room_for_archive(disc_size, archive_size, catalogue_bytes, used, archives)
            else {
                break;
            };
            let take = left.min(archive_size).min(room);
            used += sectors(take);
            archives += 1;
            left -= take;
        }
        if archives == 0 {
            return None;
        }
        discs += 1;
    }
    Some(discs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_documented_ones() {
        assert_eq!(disc_dir_name(7), "disc-0007");
        assert_eq!(disc_number_of("disc-0007"), Some(7));
        assert_eq!(disc_number_of("disc-x"), None);
        assert_eq!(disc_number_of("cd-0001"), None);
        assert_eq!(archive_name(12, Codec::Bzip2, true), "a000012.tar.bz2.gpg");
        assert_eq!(archive_name(3, Codec::None, false), "a000003.tar");
        assert!(is_archive_name("a000003.tar.zst"));
        assert!(is_archive_name("a1234567.tar.bz2.gpg"));
        assert!(is_archive_name("a000003.tar"));
        assert!(!is_archive_name("a000003.tar.zst.partial"));
        assert!(!is_archive_name("catalogue.db"));
        assert!(!is_archive_name("a12.tar"));
        assert!(!is_archive_name("a000001.tar.gz"));
        assert!(!is_archive_name("../../../../etc/passwd"));
        assert!(!is_archive_name("a000001.tar/../../x"));
        assert_eq!(piece_member(b"x/y", 2), b"x/y.butcher-piece-000002");
        assert_eq!(
            PIECE_SUFFIX_LEN,
            ".butcher-piece-000000".len() as u64,
            "the suffix length planning counts"
        );
        assert_eq!(disc_range(&[3]), "disc-0003");
        assert_eq!(disc_range(&[3, 4, 5]), "disc-0003 to disc-0005");
        assert_eq!(disc_range(&[]), "no new disc");
    }

    #[test]
    fn the_iso_overhead_covers_what_xorriso_adds() {
        // Measured: 67,584 bytes for 1 and 50 files, 98,304 for 200, 272,384 for 1,000.
        for (files, measured) in [(1, 67_584), (50, 67_584), (200, 98_304), (1000, 272_384)] {
            assert!(iso_overhead(files) >= measured, "{files} files");
            assert!(iso_overhead(files) < measured + 96 * 1024, "{files} files");
        }
    }

    #[test]
    fn capacity_keeps_half_a_percent_and_rounds_to_sectors() {
        assert_eq!(capacity(200_000), 199_000);
        assert_eq!(sectors(1), SECTOR);
        assert_eq!(sectors(SECTOR), SECTOR);
        assert_eq!(sectors(SECTOR + 1), 2 * SECTOR);
    }

    /// The estimate fills discs archive by archive as the writer does: one archive's worth of
    /// content on a disc with room for exactly one gives one disc per archive.
    #[test]
    fn the_estimate_uses_the_run_accounting() {
        let cat = 100_000;
        let archive = 1 << 20;
        // A disc with room for one archive and its closing reserve, and no more.
        let disc = (archive + closing_reserve(cat, 1) + 16 * 1024) * 200 / 199;
        assert!(room_for_archive(disc, archive, cat, 0, 0).unwrap() >= archive);
        assert!(room_for_archive(disc, archive, cat, archive, 1).is_none());
        assert_eq!(estimate_discs(3 * archive, archive, disc, cat), Some(3));
        assert_eq!(estimate_discs(0, archive, disc, cat), Some(0));
        // A big disc takes all of it.
        assert_eq!(estimate_discs(3 * archive, archive, 1 << 40, cat), Some(1));
        // A disc too small for any archive.
        assert_eq!(estimate_discs(1, archive, 64 * 1024, cat), None);
    }
}
