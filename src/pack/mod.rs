//! Pack stage: reads from the catalogue the contents a snapshot needs that no archive holds yet,
//! and writes them into tar archives (compressed, encrypted) placed on discs by [`crate::disc`].
//! Each finished archive is recorded in the catalogue in one transaction with its pieces, so an
//! interrupted run never leaves the catalogue pointing at an archive that is not whole.

mod compression;
mod parbz;
pub(crate) mod plan;
mod sample;
mod writer;

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::catalogue::{Archive, Catalogue, PendingContent, Piece, SnapshotId};
use crate::crypt::Passphrase;
use crate::disc::DiscWriter;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{hex, join_rel, sync_dir};
use crate::layout::{archive_name, piece_member, Codec};
use crate::progress::{Progress, Stage};
pub use compression::Compression;
use plan::{plan_archive, Queued, Slice};
use sample::Verdict;

/// What the pack stage should do.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// Input bytes per archive (larger contents are split).
    pub archive_size: u64,
    /// Compression of every archive.
    pub compression: Compression,
}

impl PackOptions {
    /// Input bytes per archive unless the user says otherwise: 1 GiB.
    pub const DEFAULT_ARCHIVE_BYTES: u64 = 1 << 30;
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            archive_size: PackOptions::DEFAULT_ARCHIVE_BYTES,
            compression: Compression::Auto,
        }
    }
}

/// What the pack stage wrote.
#[derive(Debug, Clone, Default)]
pub struct PackSummary {
    /// Archives written.
    pub archives: u64,
    /// Content bytes stored.
    pub input_bytes: u64,
    /// Bytes of archive files written.
    pub output_bytes: u64,
    /// Contents that changed between hashing and packing and so were not stored.
    pub changed: Vec<String>,
}

struct Job {
    content: PendingContent,
    /// The member name (or piece-name prefix): the first path, or for a content an interrupted
    /// run began to split, the name its stored pieces already have.
    member_base: Vec<u8>,
    next_piece: u32,
    split: bool,
    hasher: Option<Sha256>,
}

/// Packs every content `snapshot` needs that is not stored yet.
pub fn pack(
    src: &Path,
    cat: &Catalogue,
    snapshot: SnapshotId,
    discs: &mut DiscWriter<'_>,
    opts: &PackOptions,
    passphrase: Option<&Passphrase>,
    progress: &dyn Progress,
) -> Result<PackSummary> {
    let pending = cat.pending_contents(snapshot)?;
    let total: u64 = pending.iter().map(|p| p.size - p.bytes_done).sum();
    progress.start(Stage::Pack, total, pending.len() as u64);
    let mut jobs = Vec::with_capacity(pending.len());
    for c in pending {
        let member_base = match c.pieces_done {
            0 => c.path.clone(),
            _ => stored_member_base(cat, &c.sha256)?,
        };
        jobs.push(Job {
            next_piece: c.pieces_done + 1,
            split: c.pieces_done > 0,
            hasher: None,
            member_base,
            content: c,
        });
    }
    let groups = match opts.compression.fixed_codec() {
        None => split_by_verdict(src, jobs),
        Some(codec) => vec![(codec, jobs)],
    };
    let mut packer = Packer {
        src,
        cat,
        snapshot,
        discs,
        archive_size: opts.archive_size,
        passphrase,
        progress,
        summary: PackSummary::default(),
    };
    for (compression, mut jobs) in groups {
        packer.pack_queue(&mut jobs, compression)?;
    }
    progress.finish();
    Ok(packer.summary)
}

/// For `--compression auto`: the contents that compression cannot shrink (stored as plain
/// tar), then those that it can, each group in path order. A file that cannot be sampled is
/// taken as compressible; packing reports what is wrong with it.
fn split_by_verdict(src: &Path, jobs: Vec<Job>) -> Vec<(Codec, Vec<Job>)> {
    let verdicts: Vec<Verdict> = jobs
        .par_iter()
        .map(|j| {
            let path = join_rel(src, &j.content.path);
            sample::judge_file(&path, j.content.size).unwrap_or(Verdict::Compressible)
        })
        .collect();
    let (mut plain, mut packed) = (Vec::new(), Vec::new());
    for (job, verdict) in jobs.into_iter().zip(verdicts) {
        match verdict {
            Verdict::Incompressible => plain.push(job),
            Verdict::Compressible => packed.push(job),
        }
    }
    vec![(Codec::None, plain), (Codec::AUTO_COMPRESSIBLE, packed)]
}

/// What writing archives needs for the whole run.
struct Packer<'r, 'd> {
    src: &'r Path,
    cat: &'r Catalogue,
    snapshot: SnapshotId,
    discs: &'r mut DiscWriter<'d>,
    archive_size: u64,
    passphrase: Option<&'r Passphrase>,
    progress: &'r dyn Progress,
    summary: PackSummary,
}

impl Packer<'_, '_> {
    /// Writes `jobs` (in order) into archives compressed with `compression`.
    fn pack_queue(&mut self, jobs: &mut [Job], compression: Codec) -> Result<()> {
        let mut queue: Vec<Queued> = jobs
            .iter()
            .map(|j| Queued {
                size: j.content.size,
                offset: j.content.bytes_done,
                name_len: j.content.path.len() as u64,
            })
            .collect();
        let mut start = 0;
        while start < queue.len() {
            let room = self.discs.room_for_archive()?;
            let mut plan = plan_archive(&queue, start, room, self.archive_size);
            if plan.is_empty() {
                self.discs.close_current()?;
                continue;
            }
            let names = member_names(jobs, &mut plan);
            self.write_one(jobs, &plan, names, compression)?;
            // Plans take queue items in order, so everything before the last slice is done,
            // and the last slice's item is done when its last byte went in.
            let last = plan.last().expect("invariant: plan is not empty");
            queue[last.index].offset += last.len;
            start = if queue[last.index].offset == queue[last.index].size {
                last.index + 1
            } else {
                last.index
            };
        }
        Ok(())
    }

    /// Writes one archive for `plan`, moves it into place and records it.
    fn write_one(
        &mut self,
        jobs: &mut [Job],
        plan: &[Slice],
        names: Vec<Vec<u8>>,
        compression: Codec,
    ) -> Result<()> {
        let id = self.cat.next_archive_id()?;
        let name = archive_name(id.0, compression, self.passphrase.is_some());
        let (tmp, dst) = self.discs.archive_paths(&name);
        let mut taken = self.take_hashers(jobs, plan)?;
        let mut specs: Vec<writer::MemberSpec<'_>> = Vec::with_capacity(plan.len());
        for ((s, (_, h)), name) in plan.iter().zip(taken.iter_mut()).zip(names) {
            let job = &jobs[s.index];
            specs.push(writer::MemberSpec {
                name,
                source: join_rel(self.src, &job.content.path),
                offset: s.offset,
                len: s.len,
                mode: job.content.mode,
                mtime_ns: job.content.mtime_ns,
                hasher: h,
            });
        }
        let written = writer::write_archive(
            &tmp,
            &mut specs,
            compression,
            self.passphrase,
            self.progress,
        )?;
        let names: Vec<Vec<u8>> = specs.iter().map(|m| m.name.clone()).collect();
        drop(specs);
        fs::rename(&tmp, &dst).ctx("rename into place", &dst)?;
        sync_dir(
            dst.parent()
                .expect("invariant: archive paths have a parent"),
        )?;
        let archive = Archive {
            id,
            name,
            disc: self
                .discs
                .current_number()
                .expect("invariant: a disc is open"),
            snapshot: self.snapshot,
            compression: compression.as_str().to_string(),
            encrypted: self.passphrase.is_some(),
            size: written.size,
            sha256: written.sha256,
        };
        self.record(jobs, plan, taken, names, archive)
    }

    /// The hashers of the plan's contents (resuming a split content hashes the part stored
    /// earlier first).
    fn take_hashers(&self, jobs: &mut [Job], plan: &[Slice]) -> Result<Vec<(usize, Sha256)>> {
        for s in plan {
            let job = &mut jobs[s.index];
            if job.hasher.is_none() {
                job.hasher = Some(prefix_hasher(self.src, &job.content, s.offset)?);
            }
        }
        Ok(plan
            .iter()
            .map(|s| {
                let h = jobs[s.index].hasher.take();
                (s.index, h.expect("invariant: hasher prepared"))
            })
            .collect())
    }

    /// Records a written archive with its pieces, and which contents it completed.
    fn record(
        &mut self,
        jobs: &mut [Job],
        plan: &[Slice],
        taken: Vec<(usize, Sha256)>,
        names: Vec<Vec<u8>>,
        archive: Archive,
    ) -> Result<()> {
        let mut pieces = Vec::new();
        let mut completed = Vec::new();
        let mut discarded = Vec::new();
        for ((s, (index, hasher)), member) in plan.iter().zip(taken).zip(names) {
            let job = &mut jobs[index];
            let piece = job.next_piece;
            job.next_piece += 1;
            pieces.push(Piece {
                sha256: job.content.sha256.clone(),
                piece,
                archive: archive.id,
                member,
                offset: s.offset,
                length: s.len,
            });
            if s.offset + s.len != job.content.size {
                job.hasher = Some(hasher);
            } else if hex(&hasher.finalize()) == job.content.sha256 {
                completed.push((job.content.sha256.clone(), piece));
            } else {
                let path = join_rel(self.src, &job.content.path);
                let msg = format!(
                    "{}: changed after it was hashed; not stored in this run",
                    path.display()
                );
                self.progress.warn(&msg);
                self.summary.changed.push(msg);
                discarded.push(job.content.sha256.clone());
            }
        }
        pieces.retain(|p| !discarded.contains(&p.sha256));
        self.cat
            .record_archive(&archive, &pieces, &completed, &discarded)?;
        self.discs
            .add_archive(&archive.name, archive.size, &archive.sha256);
        self.summary.archives += 1;
        self.summary.input_bytes += plan.iter().map(|s| s.len).sum::<u64>();
        self.summary.output_bytes += archive.size;
        self.progress.advance(0, completed.len() as u64);
        Ok(())
    }
}

/// Tar member names for a plan, marking contents that start being split. A plan is cut short
/// before a name already used in it (a file really named like a piece of a split file), so
/// every member name in an archive is unique.
fn member_names(jobs: &mut [Job], plan: &mut Vec<Slice>) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::with_capacity(plan.len());
    // A set, not a search of `names`: an archive can hold tens of thousands of members.
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(plan.len());
    for (k, s) in plan.iter().enumerate() {
        let job = &jobs[s.index];
        let split = job.split || s.len < job.content.size;
        let name = if split {
            piece_member(&job.member_base, job.next_piece)
        } else {
            job.member_base.clone()
        };
        if !seen.insert(name.clone()) {
            plan.truncate(k);
            break;
        }
        names.push(name);
    }
    for s in plan.iter() {
        let job = &mut jobs[s.index];
        job.split = job.split || s.len < job.content.size;
    }
    names
}

/// The piece-name prefix of a content whose first pieces are stored.
fn stored_member_base(cat: &Catalogue, sha256: &str) -> Result<Vec<u8>> {
    let first = cat.pieces(sha256)?.into_iter().next();
    let member = first.map(|p| p.member).unwrap_or_default();
    let suffix = piece_member(b"", 1);
    match member.strip_suffix(suffix.as_slice()) {
        Some(base) if !base.is_empty() => Ok(base.to_vec()),
        _ => Err(Error::Damaged(format!(
            "the first stored piece of content {sha256} is not named like a piece"
        ))),
    }
}

/// A hasher that has already seen the first `offset` bytes of the content's file.
fn prefix_hasher(src: &Path, c: &PendingContent, offset: u64) -> Result<Sha256> {
    let mut h = Sha256::new();
    if offset == 0 {
        return Ok(h);
    }
    let path = join_rel(src, &c.path);
    let f = fs::File::open(&path).ctx("read", &path)?;
    let mut r = std::io::Read::take(f, offset);
    std::io::copy(&mut r, &mut h).ctx("read", &path)?;
    Ok(h)
}
