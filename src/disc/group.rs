//! Parity discs (format 5, docs/format.md section 3.5): after every K data discs, one disc
//! from which any one lost data disc of the group is rebuilt.
//!
//! Each finished data disc has a *stream*: its files but the recovery files, in the order its
//! `SHA256SUMS` lists them, then `SHA256SUMS` itself, each starting on a 2048-byte boundary
//! (zeros between). The parity stream is the byte-wise XOR of the group's streams, the
//! shorter ones counted as zeros beyond their end. While the group is open its parity lies in
//! `DEST/parity-open` as pieces named after the last disc whose stream is in them
//! (`parity-0001.bin.d0005`); a piece is replaced by writing the next one beside it and
//! renaming, so a run killed at any moment leaves every piece consistent with its name. When
//! the group is full (or `butcher close`), the directory becomes the parity disc.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{piece_sums, write_closing_files, Closing, DiscSize};
use crate::catalogue::{Catalogue, ParityFile, ParityGroup, SnapshotId};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{hash_file, hex, sync_dir, write_atomic};
use crate::keys::Keys;
use crate::layout::{
    self, disc_dir_name, parity_piece_name, parse_piece_name, running_piece_name, sectors,
    PARITY_MANIFEST, RUNNING_PARITY_DIR, SUMS_NAME, TMP_SUFFIX,
};
use crate::progress::Progress;

/// Bytes read, combined and written at once.
const CHUNK: usize = 8 << 20;

/// What writing a parity disc needs besides the catalogue.
#[derive(Clone, Copy)]
pub struct GroupContext<'a> {
    pub dest: &'a Path,
    pub disc_size: DiscSize,
    pub passphrase: Option<&'a Keys>,
    /// Recovery data of the parity disc itself, in percent.
    pub parity: u32,
    pub progress: &'a dyn Progress,
}

/// The files of the stream of the finished data disc in `dir` (number `disc`), with their
/// offsets, and the stream's length.
pub(crate) fn stream_files(dir: &Path, disc: u32) -> Result<(Vec<ParityFile>, u64)> {
    let sums = dir.join(SUMS_NAME);
    if !sums.is_file() {
        return Err(Error::Damaged(format!(
            "{}: no {SUMS_NAME}, so it is not a finished disc",
            dir.display()
        )));
    }
    let mut named: Vec<(String, String)> = crate::sums::entries(dir)
        .into_iter()
        .filter(|(_, name)| !layout::is_recovery_name(name))
        .map(|(sha, name)| (name, sha))
        .collect();
    let (sums_sha, _) = hash_file(&sums).ctx("read", &sums)?;
    named.push((SUMS_NAME.to_string(), sums_sha));
    let mut files = Vec::new();
    let mut at = 0u64;
    for (name, sha256) in named {
        let p = dir.join(&name);
        let size = fs::metadata(&p).ctx("read", &p)?.len();
        files.push(ParityFile {
            disc,
            name,
            offset: at,
            size,
            sha256,
        });
        at += sectors(size);
    }
    Ok((files, at))
}

/// XORs bytes `at..at + buf.len()` of the stream of `files` (lying in `dir`) into `buf`.
pub(crate) fn xor_stream(dir: &Path, files: &[ParityFile], at: u64, buf: &mut [u8]) -> Result<()> {
    xor_stream_from(&|name| dir.join(name), files, at, buf)
}

/// [`xor_stream`], each file read from where `path_of` its name says (a file repaired
/// outside its disc, say).
pub(crate) fn xor_stream_from(
    path_of: &dyn Fn(&str) -> PathBuf,
    files: &[ParityFile],
    at: u64,
    buf: &mut [u8],
) -> Result<()> {
    let end = at + buf.len() as u64;
    let mut scratch = Vec::new();
    for f in files {
        let (from, to) = (f.offset.max(at), (f.offset + f.size).min(end));
        if from >= to {
            continue;
        }
        let p = path_of(&f.name);
        let file = File::open(&p).ctx("read", &p)?;
        scratch.resize((to - from) as usize, 0);
        file.read_exact_at(&mut scratch, from - f.offset)
            .ctx("read", &p)?;
        xor_into(&mut buf[(from - at) as usize..(to - at) as usize], &scratch);
    }
    Ok(())
}

/// `dst ^= src`, byte by byte.
pub(crate) fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// A piece file of a parity stream.
#[derive(Debug, Clone)]
pub(super) struct PieceFile {
    /// The last disc whose stream is in it (`None`: a finished parity disc's piece).
    pub(super) upto: Option<u32>,
    pub(super) path: PathBuf,
    len: u64,
}

/// The piece files in `dir` by piece number: of several for one piece, the newest is kept
/// and the others (which it replaced) are removed, as are files being written and checksum
/// files whose piece is gone.
fn scan_pieces(dir: &Path) -> Result<BTreeMap<u32, PieceFile>> {
    let mut out: BTreeMap<u32, PieceFile> = BTreeMap::new();
    let mut sums = Vec::new();
    for ent in fs::read_dir(dir).ctx("read", dir)? {
        let ent = ent.ctx("read", dir)?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with("parity-") && name.ends_with(TMP_SUFFIX) {
            fs::remove_file(ent.path()).ctx("remove", &ent.path())?;
            continue;
        }
        if let Some(piece) = piece_sums::piece_of(&name) {
            sums.push((dir.join(piece), ent.path()));
            continue;
        }
        let Some((k, upto)) = parse_piece_name(&name) else {
            continue;
        };
        let len = ent.metadata().ctx("read", &ent.path())?.len();
        let piece = PieceFile {
            upto,
            path: ent.path(),
            len,
        };
        // A finished name is newer than any running one: it is renamed from the last.
        let rank = |p: &PieceFile| p.upto.map_or(u64::MAX, u64::from);
        match out.get(&k) {
            Some(old) if rank(old) >= rank(&piece) => {
                fs::remove_file(&piece.path).ctx("remove", &piece.path)?;
            }
            Some(old) => {
                fs::remove_file(&old.path).ctx("remove", &old.path)?;
                out.insert(k, piece);
            }
            None => {
                out.insert(k, piece);
            }
        }
    }
    for (piece, sum) in sums {
        if !out.values().any(|p| p.path == piece) {
            fs::remove_file(&sum).ctx("remove", &sum)?;
        }
    }
    Ok(out)
}

/// Adds the stream of data disc `disc` (its `files`, in `disc_dir`, `stream_len` bytes) to
/// the running parity in `running`. Pieces that already hold it are left alone, so a run
/// killed half-way and run again ends with the same bytes. A piece that does not match its
/// checksum is not folded into: the error names it and says `hint`, what to do.
pub(super) fn fold(
    running: &Path,
    disc: u32,
    files: &[ParityFile],
    disc_dir: &Path,
    stream_len: u64,
    piece: u64,
    hint: &str,
) -> Result<()> {
    if !running.is_dir() {
        fs::create_dir(running).ctx("create", running)?;
        if let Some(parent) = running.parent() {
            sync_dir(parent)?;
        }
    }
    let pieces = scan_pieces(running)?;
    let mine = stream_len.div_ceil(piece) as u32;
    let top = pieces.keys().max().copied().unwrap_or(0).max(mine);
    let mut buf = vec![0u8; CHUNK];
    for k in 1..=top {
        let cur = pieces.get(&k);
        if cur.is_some_and(|p| p.upto.is_none_or(|u| u >= disc)) {
            continue;
        }
        let target = running.join(running_piece_name(k, disc));
        let start = u64::from(k - 1) * piece;
        if k > mine {
            // The stream ends before this piece: same bytes, the name says it is in, and
            // its checksum goes with it.
            if let Some(p) = cur {
                if let Some(sum) = piece_sums::recorded(&p.path)? {
                    piece_sums::record(&target, &sum)?;
                }
                fs::rename(&p.path, &target).ctx("rename", &target)?;
                piece_sums::remove(&p.path)?;
            }
            continue;
        }
        let ours = piece.min(stream_len - start);
        let len = ours.max(cur.map_or(0, |p| p.len));
        let tmp = running.join(format!("{}{TMP_SUFFIX}", running_piece_name(k, disc)));
        let mut out = File::create(&tmp).ctx("create", &tmp)?;
        let old = match cur {
            Some(p) => Some(File::open(&p.path).ctx("read", &p.path)?),
            None => None,
        };
        // The old piece is checked as it is read, the new one summed as it is written.
        let (mut was, mut now) = (Sha256::new(), Sha256::new());
        let mut o = 0u64;
        while o < len {
            let take = (CHUNK as u64).min(len - o) as usize;
            let b = &mut buf[..take];
            b.fill(0);
            if let (Some(f), Some(p)) = (&old, cur) {
                let have = p.len.saturating_sub(o).min(take as u64) as usize;
                f.read_exact_at(&mut b[..have], o).ctx("read", &p.path)?;
                was.update(&b[..have]);
            }
            if o < ours {
                let n = (ours - o).min(take as u64) as usize;
                xor_stream(disc_dir, files, start + o, &mut b[..n])?;
            }
            now.update(&*b);
            out.write_all(b).ctx("write", &tmp)?;
            o += take as u64;
        }
        if let Some(p) = cur {
            if let Some(bad) = piece_sums::mismatch(&p.path, &hex(&was.finalize()))? {
                drop(out);
                fs::remove_file(&tmp).ctx("remove", &tmp)?;
                return Err(piece_sums::damaged(&[bad], hint));
            }
        }
        out.sync_all().ctx("sync", &tmp)?;
        drop(out);
        piece_sums::record(&target, &hex(&now.finalize()))?;
        fs::rename(&tmp, &target).ctx("rename into place", &target)?;
        sync_dir(running)?;
        if let Some(p) = cur {
            fs::remove_file(&p.path).ctx("remove", &p.path)?;
            piece_sums::remove(&p.path)?;
        }
    }
    sync_dir(running)
}

/// The creator packet of the recovery files of the disc in `dir`, if it has any.
fn recovery_creator(dir: &Path) -> Option<String> {
    let names = layout::recovery_files(dir);
    if names.is_empty() {
        return None;
    }
    butcher_par2::load(dir, &names).ok()?.creator
}

/// Puts the finished data disc `disc` (its directory in DEST) into the parity of its group:
/// records its stream's files, adds its stream to the running parity, marks it done.
pub(crate) fn add_data_disc(dest: &Path, cat: &Catalogue, disc: u32, disc_size: u64) -> Result<()> {
    if let Some(job) = prepare_data_disc(dest, cat, disc, disc_size)? {
        job.run()?;
        cat.set_parity_folded(disc)?;
    }
    Ok(())
}

/// Adding one data disc's stream to the running parity: what it reads and writes, with no
/// catalogue in it, so that it can run beside the packing of the next disc.
pub(crate) struct FoldJob {
    pub disc: u32,
    running: PathBuf,
    files: Vec<ParityFile>,
    dir: PathBuf,
    stream_length: u64,
    piece: u64,
    /// What to do when a piece of the running parity is found damaged.
    hint: String,
}

impl FoldJob {
    /// Adds the disc's stream to the running parity (the caller then marks it folded).
    pub(crate) fn run(self) -> Result<()> {
        fold(
            &self.running,
            self.disc,
            &self.files,
            &self.dir,
            self.stream_length,
            self.piece,
            &self.hint,
        )
    }
}

/// Records finished data disc `disc` for the parity of its group and checks the running
/// parity, returning the work of adding its stream; `None` when it is in already.
pub(crate) fn prepare_data_disc(
    dest: &Path,
    cat: &Catalogue,
    disc: u32,
    disc_size: u64,
) -> Result<Option<FoldJob>> {
    let dir = dest.join(disc_dir_name(disc));
    let member = match cat.parity_member(disc)? {
        Some(m) if m.folded => return Ok(None),
        Some(m) => m,
        None => {
            let (files, len) = stream_files(&dir, disc)?;
            let creator = recovery_creator(&dir);
            cat.add_parity_member(disc, len, creator.as_deref(), &files)?;
            cat.parity_member(disc)?.expect("just recorded")
        }
    };
    if !dir.join(SUMS_NAME).is_file() {
        return Err(Error::Usage(format!(
            "{} is needed in {} to finish the parity of its group (a run was interrupted \
             while adding it): put it back, then run again",
            disc_dir_name(disc),
            dest.display()
        )));
    }
    let piece = open_piece_size(cat, disc_size)?;
    check_running(dest, cat, disc, piece)?;
    Ok(Some(FoldJob {
        disc,
        running: dest.join(RUNNING_PARITY_DIR),
        files: cat.parity_files(disc)?,
        dir,
        stream_length: member.stream_length,
        piece,
        hint: piece_sums::remake_hint(dest, cat)?,
    }))
}

/// The piece size of the open group's parity: chosen from the disc size when its first disc
/// is added, and kept until it closes (a later run may give another disc size).
fn open_piece_size(cat: &Catalogue, disc_size: u64) -> Result<u64> {
    if let Some(v) = cat.meta(OPEN_PIECE_KEY)? {
        return v.parse().map_err(|_| {
            Error::Damaged(format!("the catalogue records {OPEN_PIECE_KEY} = {v:?}"))
        });
    }
    let piece = layout::parity_piece_bytes(disc_size);
    cat.set_meta(OPEN_PIECE_KEY, &piece.to_string())?;
    Ok(piece)
}

/// The meta key holding the piece size of the open group's parity.
pub(crate) const OPEN_PIECE_KEY: &str = "parity_open_piece_size";

/// Before data disc `disc` goes into the running parity: the running parity must hold every
/// disc of the open group already added (each piece up to the longest of their streams,
/// named after the last of them). When it does not (`DEST/parity-open` was removed or
/// damaged), it is made again from those discs, which must then be in DEST.
fn check_running(dest: &Path, cat: &Catalogue, disc: u32, piece: u64) -> Result<()> {
    let before: Vec<_> = cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc.is_none() && m.folded && m.disc < disc)
        .collect();
    let Some(last) = before.iter().map(|m| m.disc).max() else {
        return Ok(());
    };
    let running = dest.join(RUNNING_PARITY_DIR);
    let need = before
        .iter()
        .map(|m| m.stream_length)
        .max()
        .unwrap_or(0)
        .div_ceil(piece) as u32;
    let pieces = if running.is_dir() {
        scan_pieces(&running)?
    } else {
        BTreeMap::new()
    };
    let whole = (1..=need).all(|k| {
        pieces
            .get(&k)
            .is_some_and(|p| p.upto.is_some_and(|u| u >= last))
    });
    if whole {
        return Ok(());
    }
    let absent: Vec<String> = before
        .iter()
        .filter(|m| !dest.join(disc_dir_name(m.disc)).join(SUMS_NAME).is_file())
        .map(|m| disc_dir_name(m.disc))
        .collect();
    if !absent.is_empty() {
        return Err(Error::Usage(format!(
            "the running parity of the open group ({}) is missing or incomplete; it can be \
             made again from the group's discs, but {} {} not in {}: put them back, then run \
             again",
            running.display(),
            absent.join(", "),
            if absent.len() == 1 { "is" } else { "are" },
            dest.display()
        )));
    }
    if running.is_dir() {
        fs::remove_dir_all(&running).ctx("remove", &running)?;
    }
    let hint = piece_sums::remake_hint(dest, cat)?;
    for m in &before {
        let dir = dest.join(disc_dir_name(m.disc));
        let files = cat.parity_files(m.disc)?;
        fold(
            &running,
            m.disc,
            &files,
            &dir,
            m.stream_length,
            piece,
            &hint,
        )?;
    }
    Ok(())
}

/// The data discs of the open group (recorded, not yet protected by a parity disc).
pub(crate) fn open_members(cat: &Catalogue) -> Result<Vec<u32>> {
    Ok(cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc.is_none())
        .map(|m| m.disc)
        .collect())
}

/// Closes the open group (all its discs in the running parity): the running parity becomes
/// the next disc, a parity disc. Returns its number; `None` when the group is empty.
pub(crate) fn close_group(
    cat: &Catalogue,
    snapshot: SnapshotId,
    ctx: GroupContext,
) -> Result<Option<u32>> {
    let members: Vec<_> = cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc.is_none())
        .collect();
    if members.is_empty() {
        return Ok(None);
    }
    if let Some(m) = members.iter().find(|m| !m.folded) {
        return Err(Error::Damaged(format!(
            "{} is not yet in the parity of its group",
            disc_dir_name(m.disc)
        )));
    }
    // Before the parity disc is recorded: rot in the running parity is found while it can
    // still be made again.
    let bad = piece_sums::check_all(&ctx.dest.join(RUNNING_PARITY_DIR))?;
    if !bad.is_empty() {
        return Err(piece_sums::damaged(
            &bad,
            &piece_sums::remake_hint(ctx.dest, cat)?,
        ));
    }
    let length = members.iter().map(|m| m.stream_length).max().unwrap_or(0);
    let number = cat.next_disc_number()?;
    let piece = open_piece_size(cat, ctx.disc_size.bytes())?;
    let group = cat.close_parity_group(number, snapshot, piece, length)?;
    finish_parity_disc(cat, &group, ctx)?;
    Ok(Some(number))
}

/// Writes parity disc `group.parity_disc` from the running parity, or finishes one an
/// interrupted run began: the pieces under their final names, PARITY.txt, then the closing
/// files of every disc.
pub(crate) fn finish_parity_disc(
    cat: &Catalogue,
    group: &ParityGroup,
    ctx: GroupContext,
) -> Result<()> {
    let dir = ctx.dest.join(disc_dir_name(group.parity_disc));
    let running = ctx.dest.join(RUNNING_PARITY_DIR);
    if !dir.is_dir() {
        if !running.is_dir() && group.length > 0 {
            return Err(Error::Damaged(format!(
                "the running parity of discs {}-{} ({}) is missing from {}",
                group.first,
                group.last,
                RUNNING_PARITY_DIR,
                ctx.dest.display()
            )));
        }
        if running.is_dir() {
            fs::rename(&running, &dir).ctx("rename into place", &dir)?;
        } else {
            fs::create_dir(&dir).ctx("create", &dir)?;
        }
        sync_dir(ctx.dest)?;
    }
    let mut pieces = scan_pieces(&dir)?;
    let mut sums = piece_sums::piece_hashes(&pieces)?;
    if let Some(bad) = piece_sums::first_mismatch(&pieces, &sums)? {
        piece_sums::remake_pieces(cat, group, &dir, &bad)?;
        ctx.progress.note(&format!(
            "{bad}: the parity of discs {:04}-{:04} was made again from them",
            group.first, group.last
        ));
        pieces = scan_pieces(&dir)?;
        sums = piece_sums::piece_hashes(&pieces)?;
    }
    let count = group.length.div_ceil(group.piece_size) as u32;
    let mut listed = Vec::new();
    let mut used = 0u64;
    for k in 1..=count {
        let want = group
            .piece_size
            .min(group.length - u64::from(k - 1) * group.piece_size);
        let Some(p) = pieces.get(&k) else {
            return Err(Error::Damaged(format!(
                "{}: piece {k} of the parity is missing",
                dir.display()
            )));
        };
        if p.len != want {
            return Err(Error::Damaged(format!(
                "{}: {} holds {} bytes, the parity {want}",
                dir.display(),
                p.path.display(),
                p.len
            )));
        }
        let name = parity_piece_name(k);
        let path = dir.join(&name);
        let sha = sums.get(&k).cloned().unwrap_or_default();
        if p.upto.is_some() {
            fs::rename(&p.path, &path).ctx("rename into place", &path)?;
            // The checksum is of the running piece; the parity disc's SHA256SUMS takes over.
            piece_sums::remove(&p.path)?;
        }
        used += sectors(want);
        listed.push((name, sha));
    }
    sync_dir(&dir)?;
    let text = manifest(cat, group)?;
    let sha = write_atomic(&dir, PARITY_MANIFEST, text.as_bytes())?;
    used += sectors(text.len() as u64);
    listed.push((PARITY_MANIFEST.to_string(), sha));
    cat.close_disc(group.parity_disc, used)?;
    let closing = write_closing_files(
        cat,
        &dir,
        Closing {
            disc_size: ctx.disc_size.bytes(),
            number: group.parity_disc,
            archives: &listed,
            used,
            passphrase: ctx.passphrase,
            parity: ctx.parity,
            progress: ctx.progress,
            protects: Some((group.first, group.last)),
        },
    )?;
    let files = listed.len() as u64 + closing.files;
    let total = used + closing.bytes + layout::iso_overhead(files);
    if total > ctx.disc_size.bytes() {
        return Err(Error::Damaged(format!(
            "{} holds {total} bytes, more than the disc size {}: the catalogue grew more \
             than its discs left room for",
            dir.display(),
            ctx.disc_size.bytes()
        )));
    }
    Ok(())
}

/// The text of PARITY.txt: which discs the parity disc protects, the pieces, and every file
/// of every member's stream (docs/format.md section 3.5).
pub(crate) fn manifest(cat: &Catalogue, group: &ParityGroup) -> Result<String> {
    let mut t = String::new();
    t.push_str("butcher parity disc\n");
    t.push_str(&format!("set {}\n", cat.backup_set_id()?));
    t.push_str(&format!("disc {:04}\n", group.parity_disc));
    t.push_str(&format!("protects {:04} {:04}\n", group.first, group.last));
    t.push_str(&format!("piece-size {}\n", group.piece_size));
    t.push_str(&format!("length {}\n", group.length));
    let members: Vec<_> = cat
        .parity_members()?
        .into_iter()
        .filter(|m| m.parity_disc == Some(group.parity_disc))
        .collect();
    for m in &members {
        t.push_str(&format!(
            "member {:04} {} {}\n",
            m.disc,
            m.stream_length,
            m.recovery_creator.as_deref().unwrap_or("-")
        ));
    }
    for m in &members {
        for f in cat.parity_files(m.disc)? {
            t.push_str(&format!(
                "file {:04} {} {} {} {}\n",
                f.disc, f.offset, f.size, f.sha256, f.name
            ));
        }
    }
    Ok(t)
}

/// At the start of a run (or of `butcher close`): finishes what an interrupted run left of
/// the parity: parity discs not finished, finished data discs not yet in the running
/// parity, a full group not yet closed. Returns the parity discs finished or written.
pub(crate) fn catch_up(
    cat: &Catalogue,
    group_size: u32,
    snapshot: Option<SnapshotId>,
    ctx: GroupContext,
) -> Result<Vec<u32>> {
    let mut done = Vec::new();
    let groups = cat.parity_groups()?;
    // A data disc is recorded for the next group only once the last parity disc is
    // finished: with one recorded, the running parity is that group's.
    let next_started = !open_members(cat)?.is_empty();
    let last = groups.last().map_or(0, |l| l.parity_disc);
    for g in &groups {
        let dir = ctx.dest.join(disc_dir_name(g.parity_disc));
        let running = ctx.dest.join(RUNNING_PARITY_DIR);
        // A parity disc whose directory is gone was finished, burned and removed, unless
        // the run was killed before the running parity became it.
        let unfinished = if dir.is_dir() {
            !dir.join(SUMS_NAME).is_file()
        } else {
            running.is_dir() && g.parity_disc == last && !next_started
        };
        if unfinished {
            finish_parity_disc(cat, g, ctx)?;
            done.push(g.parity_disc);
        }
    }
    if group_size == 0 {
        return Ok(done);
    }
    // Before anything is written: the running parity holds the open group's discs.
    if !open_members(cat)?.is_empty() {
        let piece = open_piece_size(cat, ctx.disc_size.bytes())?;
        check_running(ctx.dest, cat, u32::MAX, piece)?;
    }
    let last_parity = groups.last().map_or(0, |g| g.parity_disc);
    let parity_discs: std::collections::HashSet<u32> =
        groups.iter().map(|g| g.parity_disc).collect();
    for d in cat.discs()? {
        if !d.closed || d.number <= last_parity || parity_discs.contains(&d.number) {
            continue;
        }
        if cat.parity_member(d.number)?.is_some_and(|m| m.folded) {
            continue;
        }
        add_data_disc(ctx.dest, cat, d.number, ctx.disc_size.bytes())?;
    }
    if open_members(cat)?.len() as u32 >= group_size {
        let snapshot = match snapshot.or(cat.latest_snapshot_id()?) {
            Some(s) => s,
            None => return Ok(done),
        };
        if let Some(n) = close_group(cat, snapshot, ctx)? {
            done.push(n);
        }
    }
    Ok(done)
}
