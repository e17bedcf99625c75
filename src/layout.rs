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

/// The share of recovery data a backup writes unless told otherwise, in percent.
pub const DEFAULT_PARITY: u32 = 10;

/// The most recovery files a disc carries: the index and up to eight volume files.
pub(crate) const MAX_RECOVERY_FILES: u64 = 1 + butcher_par2::rule::MAX_VOLUME_FILES as u64;

/// What the creator packet of a disc's recovery files says.
pub(crate) const RECOVERY_CREATOR: &str = concat!("butcher ", env!("CARGO_PKG_VERSION"));

/// The name the recovery files of disc `number` start with: `disc-NNNN` (then `.par2`, or
/// `.volFFF+CCC.par2`).
pub(crate) fn recovery_base(number: u32) -> String {
    disc_dir_name(number)
}

/// Whether a file of a disc is one of its recovery files: `disc-NNNN.par2` or
/// `disc-NNNN.volFFF+CCC.par2`.
pub(crate) fn is_recovery_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(DISC_PREFIX) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 4 {
        return false;
    }
    let rest = &rest[digits..];
    if rest == ".par2" {
        return true;
    }
    let Some(vol) = rest
        .strip_prefix(".vol")
        .and_then(|r| r.strip_suffix(".par2"))
    else {
        return false;
    };
    let mut parts = vol.split('+');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| p.len() >= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The recovery files lying in a disc directory, by name.
pub(crate) fn recovery_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_recovery_name(n))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The manifest on a parity disc (format 5 on).
pub(crate) const PARITY_MANIFEST: &str = "PARITY.txt";

/// Bytes of each parity piece file but the last, for discs of `disc_size`: a 64th of the disc
/// rounded up to whole sectors, at least 64 KiB and at most 256 MiB. Adding a disc to the
/// running parity writes one piece beside the one it replaces, so the running parity takes at
/// most the longest stream and one piece, which `room_for_archive` keeps within one disc.
pub(crate) fn parity_piece_bytes(disc_size: u64) -> u64 {
    sectors(disc_size / 64).clamp(64 << 10, 256 << 20)
}

/// The directory in DEST holding the running parity of the open group of data discs.
pub(crate) const RUNNING_PARITY_DIR: &str = "parity-open";

/// The name of piece `k` (from 1) of a parity disc's parity stream: `parity-0001.bin`.
pub(crate) fn parity_piece_name(k: u32) -> String {
    format!("parity-{k:04}.bin")
}

/// The name of piece `k` of the running parity once the streams of the group's discs up to
/// disc `upto` are in it: `parity-0001.bin.d0005`.
pub(crate) fn running_piece_name(k: u32, upto: u32) -> String {
    format!("{}.d{upto:04}", parity_piece_name(k))
}

/// Added to a running piece's name to name its checksum file (`parity-0001.bin.d0005.sha256`).
pub(crate) const RUNNING_SUM_SUFFIX: &str = ".sha256";

/// Piece number and, for a running piece, the disc it holds the streams up to.
pub(crate) fn parse_piece_name(name: &str) -> Option<(u32, Option<u32>)> {
    let rest = name.strip_prefix("parity-")?;
    let (k, tail) = rest.split_once(".bin")?;
    if k.len() < 4 || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let k: u32 = k.parse().ok()?;
    if tail.is_empty() {
        return Some((k, None));
    }
    let upto = tail.strip_prefix(".d")?;
    if upto.len() < 4 || !upto.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((k, Some(upto.parse().ok()?)))
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
pub(crate) const README_MAX_LEN: usize = 16 * 1024;

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
    let sums = sectors(100 * (archives as u64 + CLOSING_FILES + MAX_RECOVERY_FILES));
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

/// The files a disc's recovery data protects besides its archives, by the most they can
/// take: the catalogue copy, README.txt and FORMAT.txt.
fn closing_file_bounds(catalogue_bytes: u64) -> [u64; 3] {
    [
        catalogue_bytes + catalogue_bytes / 8 + 64 * 1024,
        README_MAX_LEN as u64,
        FORMAT_TEXT.len() as u64,
    ]
}

/// Bytes reserved on a disc for its recovery files (format 4 on) when its protected files
/// are at most `lengths` long, at `parity` percent: the files themselves in whole sectors,
/// what the ISO 9660 image adds for each, and room for the slice size the actual lengths
/// choose to differ from the one these choose.
pub(crate) fn recovery_reserve(lengths: &[u64], parity: u32) -> u64 {
    use butcher_par2::rule;
    if parity == 0 {
        return 0;
    }
    // The longest name a file of a disc has, for the description packets.
    const NAME_BOUND: &str = "a0000000000.tar.bz2.gpg.........";
    let named: Vec<(&str, u64)> = lengths.iter().map(|l| (NAME_BOUND, *l)).collect();
    let planned = rule::planned_files(&named, parity, &recovery_base(9999), RECOVERY_CREATOR);
    let files = planned.len() as u64;
    let bytes: u64 = planned.iter().map(|f| sectors(f.1)).sum();
    let s = rule::slice_size(lengths);
    // Smaller files may choose a smaller slice: more slices, each with its checksums in
    // every copy of the description, and one more recovery slice per file's last slice.
    let slack = if s == rule::SLICE_UNIT {
        0
    } else {
        let n = rule::input_slices(lengths, s) + lengths.len() as u64;
        (lengths.len() as u64 * u64::from(parity) / 100 + 2) * (s + 68) + files * 20 * n
    };
    bytes + slack + 256 * files
}

/// The room the next archive may take on a disc whose archives are `archives` bytes long,
/// at `parity` percent of recovery data, in a set with a parity disc after every `group`
/// data discs (0: none); `None` when the disc should be closed instead.
///
/// With parity discs, the group's parity disc must hold this disc's stream (its files but the
/// recovery files) beside its own closing files, PARITY.txt and its recovery data: the room
/// is also the largest that leaves that disc room, with a catalogue copy twice today's size.
pub(crate) fn room_for_archive(
    disc_size: u64,
    archive_size: u64,
    catalogue_bytes: u64,
    archives: &[u64],
    parity: u32,
    group: u32,
) -> Option<u64> {
    let data = room_on(disc_size, archive_size, catalogue_bytes, archives, parity)?;
    if group == 0 {
        return Some(data);
    }
    // This disc's stream, with its closing files at their bounds, beside what the parity
    // disc adds: PARITY.txt listing `group` discs like this one, and closing files for a
    // catalogue twice today's.
    let bounds = closing_file_bounds(catalogue_bytes);
    let sums = 100 * (archives.len() as u64 + 1 + CLOSING_FILES + MAX_RECOVERY_FILES);
    let fixed: u64 = archives
        .iter()
        .chain(bounds.iter())
        .chain(std::iter::once(&sums))
        .map(|l| sectors(*l))
        .sum();
    let manifest = 4096 + u64::from(group) * (archives.len() as u64 + 8) * 160;
    let later = 2 * catalogue_bytes;
    // And the running parity, the longest stream and the piece being replaced, fits a disc.
    let piece = parity_piece_bytes(disc_size);
    let fits = |room: u64| {
        let stream = fixed + sectors(room);
        stream + piece <= capacity(disc_size)
            && parity_disc_fits(disc_size, later, stream, manifest, parity)
    };
    largest_room(data, archive_size, fits)
}

/// The largest room up to `most` for which `fits` holds (it holds for every smaller one), by
/// bisection; `None` when that is less than is useful for archives of `archive_size`.
fn largest_room(most: u64, archive_size: u64, mut fits: impl FnMut(u64) -> bool) -> Option<u64> {
    if !fits(0) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, most);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    (lo >= min_useful_room(archive_size)).then_some(lo)
}

/// Whether a parity disc fits the disc: the parity of streams of at most `stream` bytes in
/// pieces, PARITY.txt of `manifest` bytes, a catalogue copy of a catalogue of
/// `catalogue_bytes`, README.txt, FORMAT.txt, SHA256SUMS and recovery data at `parity`
/// percent, with what the ISO 9660 image adds (docs/format.md section 3.5).
pub(crate) fn parity_disc_fits(
    disc_size: u64,
    catalogue_bytes: u64,
    stream: u64,
    manifest: u64,
    parity: u32,
) -> bool {
    let piece = parity_piece_bytes(disc_size);
    let mut lengths = Vec::new();
    let mut left = stream;
    while left > 0 {
        let p = left.min(piece);
        lengths.push(p);
        left -= p;
    }
    lengths.push(manifest);
    let files = lengths.len();
    let used: u64 = lengths.iter().map(|l| sectors(*l)).sum();
    lengths.extend(closing_file_bounds(catalogue_bytes));
    let total = used + closing_reserve(catalogue_bytes, files) + recovery_reserve(&lengths, parity);
    total <= capacity(disc_size)
}

/// The room the next archive may take on a disc whose files (before closing) are `archives`
/// bytes long, beside a catalogue copy of a catalogue of `catalogue_bytes`.
fn room_on(
    disc_size: u64,
    archive_size: u64,
    catalogue_bytes: u64,
    archives: &[u64],
    parity: u32,
) -> Option<u64> {
    let used: u64 = archives.iter().map(|a| sectors(*a)).sum();
    let reserve = closing_reserve(catalogue_bytes, archives.len() + 1);
    let most = capacity(disc_size).saturating_sub(used + reserve);
    let mut lengths: Vec<u64> = archives.to_vec();
    lengths.extend(closing_file_bounds(catalogue_bytes));
    lengths.push(0);
    let last = lengths.len() - 1;
    let fits = |room: u64| {
        lengths[last] = room;
        sectors(room) + recovery_reserve(&lengths, parity) <= most
    };
    // The largest room that fits with its recovery data.
    largest_room(most, archive_size, fits)
}

/// The error for a disc size with no room for one archive of `archive_size` beside what
/// closing the disc adds (its catalogue copy for a catalogue of `catalogue_bytes`, README,
/// recovery data at `parity` percent, room for the parity disc of a group of `group`). It
/// says what to change: the largest `--archive-size` that fits, or a larger `--disc-size`
/// when not even the smallest archive does.
pub(crate) fn disc_too_small(
    disc_size: u64,
    archive_size: u64,
    catalogue_bytes: u64,
    parity: u32,
    group: u32,
) -> Error {
    let closing = "what closing a disc adds (its catalogue copy, README, recovery data)";
    match largest_archive_that_fits(disc_size, catalogue_bytes, parity, group) {
        Some(most) if most < archive_size => Error::Usage(format!(
            "the disc size ({disc_size} bytes) is too small for archives of {archive_size} \
             bytes beside {closing}: lower --archive-size to {}K or less, or give a larger \
             --disc-size",
            most / 1024
        )),
        _ => Error::Usage(format!(
            "the disc size ({disc_size} bytes) is too small: {closing} leaves no room for an \
             archive (about {} bytes are needed); give a larger --disc-size",
            closing_reserve(catalogue_bytes, 1) + min_useful_room(MIN_ARCHIVE_BYTES)
        )),
    }
}

/// The largest archive size, in whole KiB, for which an empty disc has room: an archive is
/// given a disc's room when that is at least a 16th of the archive size.
fn largest_archive_that_fits(
    disc_size: u64,
    catalogue_bytes: u64,
    parity: u32,
    group: u32,
) -> Option<u64> {
    let room = room_for_archive(
        disc_size,
        MIN_ARCHIVE_BYTES,
        catalogue_bytes,
        &[],
        parity,
        group,
    )?;
    let most = room.saturating_mul(16) / 1024 * 1024;
    (most >= MIN_ARCHIVE_BYTES).then_some(most)
}

/// Refuses, before anything is written, archive and disc sizes for which an empty disc has
/// no room for one archive, with a catalogue of `catalogue_bytes`.
pub(crate) fn check_one_archive_fits(
    disc_size: u64,
    archive_size: u64,
    catalogue_bytes: u64,
    parity: u32,
    group: u32,
) -> Result<()> {
    match room_for_archive(disc_size, archive_size, catalogue_bytes, &[], parity, group) {
        Some(_) => Ok(()),
        None => Err(disc_too_small(
            disc_size,
            archive_size,
            catalogue_bytes,
            parity,
            group,
        )),
    }
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
    parity: u32,
    group: u32,
) -> Option<u32> {
    let mut left = content_bytes;
    let mut discs = 0u32;
    while left > 0 {
        let mut archives = Vec::new();
        while left > 0 {
            let Some(room) = room_for_archive(
                disc_size,
                archive_size,
                catalogue_bytes,
                &archives,
                parity,
                group,
            ) else {
                break;
            };
            let take = left.min(archive_size).min(room);
            archives.push(take);
            left -= take;
        }
        if archives.is_empty() {
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
        assert!(is_recovery_name("disc-0003.par2"));
        assert!(is_recovery_name("disc-0003.vol000+013.par2"));
        assert!(is_recovery_name("disc-12345.vol1000+0128.par2"));
        assert!(!is_recovery_name("disc-0003.par2.partial"));
        assert!(!is_recovery_name("disc-0003.vol0+1.par2"));
        assert!(!is_recovery_name("x.par2"));
        assert!(!is_recovery_name("disc-0003.vol000+013+1.par2"));
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
        assert!(room_for_archive(disc, archive, cat, &[], 0, 0).unwrap() >= archive);
        assert!(room_for_archive(disc, archive, cat, &[archive], 0, 0).is_none());
        assert_eq!(
            estimate_discs(3 * archive, archive, disc, cat, 0, 0),
            Some(3)
        );
        assert_eq!(estimate_discs(0, archive, disc, cat, 0, 0), Some(0));
        // The same disc with 10 % recovery data has less room than one archive.
        let room = room_for_archive(disc, archive, cat, &[], 10, 0).unwrap();
        assert!(room < archive, "{room}");
        assert_eq!(
            estimate_discs(3 * archive, archive, disc, cat, 10, 0),
            Some(4)
        );
        // A big disc takes all of it.
        assert_eq!(
            estimate_discs(3 * archive, archive, 1 << 40, cat, 10, 0),
            Some(1)
        );
        // A disc too small for any archive.
        assert_eq!(estimate_discs(1, archive, 64 * 1024, cat, 0, 0), None);
    }

    /// The archive size a refusal says to lower `--archive-size` to fits an empty disc, and
    /// twice it does not (issue 25).
    #[test]
    fn the_archive_size_a_refusal_suggests_fits() {
        let cat = 40_000;
        for disc in [MIN_DISC_BYTES, 1 << 20, 50 << 20] {
            for (parity, group) in [(0, 0), (10, 0), (10, 3)] {
                let Some(most) = largest_archive_that_fits(disc, cat, parity, group) else {
                    continue;
                };
                assert!(check_one_archive_fits(disc, most, cat, parity, group).is_ok());
                let too_big = 2 * most + 64 * 1024;
                let err = check_one_archive_fits(disc, too_big, cat, parity, group)
                    .unwrap_err()
                    .to_string();
                let said = format!("--archive-size to {}K", most / 1024);
                assert!(err.contains(&said), "{err}");
            }
        }
        let err = check_one_archive_fits(64 * 1024, 1 << 20, cat, 10, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger --disc-size"), "{err}");
        assert!(!err.contains("--archive-size"), "{err}");
    }

    /// The room given leaves space for the recovery files of whatever the disc ends up
    /// holding: archives up to the room, closing files up to their bounds.
    #[test]
    fn recovery_files_fit_the_room_left_for_them() {
        use butcher_par2::rule::planned_files;
        let mut x = 12345u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for disc in [655_360u64, 4 << 20, 50 << 20, 700 << 20, 25_025_314_816] {
            for parity in [1, 10, 37, 100] {
                let cat = 30_000 + next(disc / 50);
                let archive = (disc / (1 + next(20))).max(MIN_ARCHIVE_BYTES);
                let mut archives = Vec::new();
                while let Some(room) = room_for_archive(disc, archive, cat, &archives, parity, 8) {
                    archives.push(room.min(archive) - next(room.min(archive) / 3 + 1));
                }
                if archives.is_empty() {
                    continue;
                }
                // Closing files smaller than their bounds.
                let bounds = closing_file_bounds(cat);
                let closing = [
                    bounds[0] - next(bounds[0] / 2),
                    3000 + next(9000),
                    bounds[2],
                ];
                let lengths: Vec<u64> = archives.iter().copied().chain(closing).collect();
                let names: Vec<String> = (0..lengths.len())
                    .map(|k| format!("a{k:06}.tar.bz2.gpg"))
                    .collect();
                let named: Vec<(&str, u64)> = names
                    .iter()
                    .map(|n| n.as_str())
                    .zip(lengths.iter().copied())
                    .collect();
                let par = planned_files(&named, parity, "disc-0001", RECOVERY_CREATOR);
                let files = (archives.len() + par.len()) as u64 + CLOSING_FILES;
                let total: u64 = lengths.iter().map(|l| sectors(*l)).sum::<u64>()
                    + par.iter().map(|f| sectors(f.1)).sum::<u64>()
                    + sectors(100 * files)
                    + iso_overhead(files);
                assert!(total <= disc, "disc {disc}, parity {parity}: {total} bytes");
            }
        }
    }

    /// With parity discs (K = 8), a data disc filled to the room given leaves its group's
    /// parity disc room for the disc's stream, PARITY.txt listing eight such discs, a
    /// catalogue copy of twice the catalogue, README.txt, FORMAT.txt, its recovery files and
    /// SHA256SUMS.
    #[test]
    fn a_parity_disc_fits_beside_the_discs_of_its_group() {
        use butcher_par2::rule::planned_files;
        let mut x = 777u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for disc in [2u64 << 20, 50 << 20, 700 << 20, 25_025_314_816] {
            for parity in [0, 1, 10, 37] {
                let cat = 30_000 + next(disc / 200);
                let archive = (disc / (1 + next(20))).max(MIN_ARCHIVE_BYTES);
                let mut archives = Vec::new();
                while let Some(room) = room_for_archive(disc, archive, cat, &archives, parity, 8) {
                    archives.push(room.min(archive));
                }
                if archives.is_empty() {
                    continue;
                }
                // The data disc's stream, its closing files at their bounds.
                let bounds = closing_file_bounds(cat);
                let sums = 100 * (archives.len() as u64 + CLOSING_FILES + MAX_RECOVERY_FILES);
                let stream: u64 = archives
                    .iter()
                    .chain(bounds.iter())
                    .chain(std::iter::once(&sums))
                    .map(|l| sectors(*l))
                    .sum();
                // The running parity while this disc's stream is added: one disc at most.
                assert!(
                    stream + parity_piece_bytes(disc) <= disc,
                    "disc {disc}, parity {parity}: running parity {stream} + a piece"
                );
                // The parity disc: pieces, PARITY.txt (about 124 bytes a line), its closing
                // files with a catalogue twice as big, recovery files, SHA256SUMS.
                let mut lengths: Vec<u64> = Vec::new();
                let mut left = stream;
                while left > 0 {
                    lengths.push(left.min(parity_piece_bytes(disc)));
                    left -= lengths.last().unwrap();
                }
                lengths.push(8 * (archives.len() as u64 + 5) * 124 + 200);
                lengths.extend(closing_file_bounds(2 * cat));
                let names: Vec<String> = (0..lengths.len())
                    .map(|k| format!("parity-{k:04}.bin"))
                    .collect();
                let named: Vec<(&str, u64)> = names
                    .iter()
                    .map(|n| n.as_str())
                    .zip(lengths.iter().copied())
                    .collect();
                let par = if parity == 0 {
                    Vec::new()
                } else {
                    planned_files(&named, parity, "disc-0009", RECOVERY_CREATOR)
                };
                let files = (lengths.len() + par.len()) as u64 + 1;
                let total: u64 = lengths.iter().map(|l| sectors(*l)).sum::<u64>()
                    + par.iter().map(|f| sectors(f.1)).sum::<u64>()
                    + sectors(100 * files)
                    + iso_overhead(files);
                assert!(
                    total <= disc,
                    "disc {disc}, parity {parity}: the parity disc takes {total} bytes"
                );
            }
        }
    }
}
