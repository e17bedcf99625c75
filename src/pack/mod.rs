//! Pack stage: reads from the catalogue the contents a snapshot needs that no archive holds yet,
//! and writes them into tar archives (compressed, encrypted) placed on discs by [`crate::disc`].
//! Each finished archive is recorded in the catalogue in one transaction with its pieces, so an
//! interrupted run never leaves the catalogue pointing at an archive that is not whole.

mod compression;
mod parbz;
pub(crate) mod plan;
mod sample;
mod writer;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::catalogue::{Archive, Catalogue, NewPiece, PendingContent, SnapshotId};
use crate::disc::DiscWriter;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{join_rel, sync_dir};
use crate::keys::Keys;
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
    /// For a content an interrupted run began to split: the name its stored pieces already
    /// have (without their suffix). Otherwise members are named after the content's path.
    stored_base: Option<Vec<u8>>,
    next_piece: u32,
    split: bool,
}

impl Job {
    /// The tar member name of this job's next piece: its path, or once the content is split,
    /// the piece name.
    fn member_name(&self) -> Cow<'_, [u8]> {
        self.name_as(self.split)
    }

    /// The member name of this job's next piece, split or not.
    fn name_as(&self, split: bool) -> Cow<'_, [u8]> {
        let base = self.stored_base.as_deref().unwrap_or(&self.content.path);
        if split {
            Cow::Owned(piece_member(base, self.next_piece))
        } else {
            Cow::Borrowed(base)
        }
    }
}

/// Packs every content `snapshot` needs that is not stored yet.
///
/// Memory stays proportional to the pending contents (their paths and sizes): an archive's
/// members are named, opened and hashed one at a time as they are written, and recorded from
/// the plan, so a 1 GiB archive of a million small files holds nothing per member beyond its
/// place in the plan.
pub fn pack(
    src: &Path,
    cat: &Catalogue,
    snapshot: SnapshotId,
    discs: &mut DiscWriter<'_>,
    opts: &PackOptions,
    passphrase: Option<&Keys>,
    progress: &dyn Progress,
) -> Result<PackSummary> {
    let pending = cat.pending_contents(snapshot)?;
    let total: u64 = pending.iter().map(|p| p.size - p.bytes_done).sum();
    progress.start(Stage::Pack, total, pending.len() as u64);
    let mut jobs = Vec::with_capacity(pending.len());
    for c in pending {
        let stored_base = match c.pieces_done {
            0 => None,
            _ => Some(stored_member_base(cat, &c.sha256.hex())?),
        };
        jobs.push(Job {
            next_piece: c.pieces_done + 1,
            split: c.pieces_done > 0,
            stored_base,
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
        partial: HashMap::new(),
        summary: PackSummary::default(),
    };
    for (compression, mut jobs) in groups {
        packer.pack_queue(&mut jobs, compression)?;
        packer.partial.clear();
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
    passphrase: Option<&'r Keys>,
    progress: &'r dyn Progress,
    /// The hashers of contents partly stored in this run's archives, by job index.
    partial: HashMap<usize, Sha256>,
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
            if let Some(cut) = first_repeated_name(jobs, &plan) {
                plan.truncate(cut);
            }
            mark_split(jobs, &plan);
            self.write_one(jobs, &plan, compression)?;
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
    fn write_one(&mut self, jobs: &mut [Job], plan: &[Slice], compression: Codec) -> Result<()> {
        let id = self.cat.next_archive_id()?;
        let name = archive_name(id.0, compression, self.passphrase.is_some());
        let (tmp, dst) = self.discs.archive_paths(&name);
        let mut members = PlanMembers {
            src: self.src,
            jobs,
            plan,
            partial: &mut self.partial,
            changed: Vec::new(),
        };
        let written = writer::write_archive(
            &tmp,
            &mut members,
            compression,
            self.passphrase,
            self.progress,
        )?;
        let changed = members.changed;
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
        self.record(jobs, plan, &changed, archive)
    }

    /// Records a written archive with its pieces, and which contents it completed. The
    /// contents in `changed` (job indexes) no longer had their hash: their pieces are dropped.
    fn record(
        &mut self,
        jobs: &mut [Job],
        plan: &[Slice],
        changed: &[usize],
        archive: Archive,
    ) -> Result<()> {
        let changed: HashSet<usize> = changed.iter().copied().collect();
        let mut discarded = Vec::with_capacity(changed.len());
        for &index in &changed {
            let job = &jobs[index];
            let path = join_rel(self.src, &job.content.path);
            let msg = format!(
                "{}: changed after it was hashed; not stored in this run",
                path.display()
            );
            self.progress.warn(&msg);
            self.summary.changed.push(msg);
            discarded.push(job.content.sha256);
        }
        let kept = || plan.iter().filter(|s| !changed.contains(&s.index));
        let pieces = kept().map(|s| {
            let job = &jobs[s.index];
            NewPiece {
                sha256: job.content.sha256,
                piece: job.next_piece,
                member: job.member_name().into_owned(),
                offset: s.offset,
                length: s.len,
            }
        });
        let mut completed = 0u64;
        let finished = kept()
            .filter(|s| s.offset + s.len == jobs[s.index].content.size)
            .map(|s| {
                completed += 1;
                let job = &jobs[s.index];
                (job.content.sha256, job.next_piece)
            });
        self.cat
            .record_archive(&archive, pieces, finished, &discarded)?;
        for s in plan {
            jobs[s.index].next_piece += 1;
        }
        self.discs
            .add_archive(&archive.name, archive.size, &archive.sha256);
        self.summary.archives += 1;
        self.summary.input_bytes += plan.iter().map(|s| s.len).sum::<u64>();
        self.summary.output_bytes += archive.size;
        self.progress.advance(0, completed);
        Ok(())
    }
}

/// The members of one planned archive, for [`writer::write_archive`]: each is named, opened
/// and given its hasher when its turn comes, and checked against its content's hash as soon as
/// its last byte is written.
struct PlanMembers<'a> {
    src: &'a Path,
    jobs: &'a [Job],
    plan: &'a [Slice],
    partial: &'a mut HashMap<usize, Sha256>,
    /// Jobs whose content no longer has the hash it was catalogued with.
    changed: Vec<usize>,
}

impl writer::Members for PlanMembers<'_> {
    fn count(&self) -> usize {
        self.plan.len()
    }

    fn member(&mut self, k: usize) -> Result<writer::MemberSpec> {
        let s = &self.plan[k];
        let job = &self.jobs[s.index];
        let hasher = match self.partial.remove(&s.index) {
            Some(h) => h,
            // Resuming a content an interrupted run split: hash the part stored earlier first.
            None => prefix_hasher(self.src, &job.content, s.offset)?,
        };
        Ok(writer::MemberSpec {
            name: job.member_name().into_owned(),
            source: join_rel(self.src, &job.content.path),
            offset: s.offset,
            len: s.len,
            mode: job.content.mode,
            mtime_ns: job.content.mtime_ns,
            hasher,
        })
    }

    fn done(&mut self, k: usize, hasher: Sha256) {
        let s = &self.plan[k];
        let job = &self.jobs[s.index];
        if s.offset + s.len != job.content.size {
            self.partial.insert(s.index, hasher);
        } else if hasher.finalize().as_slice() != job.content.sha256.0 {
            self.changed.push(s.index);
        }
    }
}

/// Marks the contents a plan starts to split: from now on their members are pieces.
fn mark_split(jobs: &mut [Job], plan: &[Slice]) {
    for s in plan {
        let job = &mut jobs[s.index];
        job.split = job.split || s.len < job.content.size;
    }
}

/// Where a plan must be cut short so that every member name in its archive is unique: before
/// the second member of a name already used in it. Only a piece can repeat a name (a file
/// really named like a piece of a split file); whole members are distinct paths. So only the
/// pieces' names are kept in a set, however many members the plan has.
fn first_repeated_name(jobs: &[Job], plan: &[Slice]) -> Option<usize> {
    let mut pieces: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut cut = usize::MAX;
    let split = |s: &Slice| jobs[s.index].split || s.len < jobs[s.index].content.size;
    for (k, s) in plan.iter().enumerate().filter(|(_, s)| split(s)) {
        let first = *pieces
            .entry(jobs[s.index].name_as(true).into_owned())
            .or_insert(k);
        if first != k {
            cut = cut.min(k);
        }
    }
    if !pieces.is_empty() {
        for (k, s) in plan.iter().enumerate().filter(|(_, s)| !split(s)) {
            if let Some(&p) = pieces.get(jobs[s.index].name_as(false).as_ref()) {
                cut = cut.min(k.max(p));
            }
        }
    }
    (cut != usize::MAX).then_some(cut)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(path: &str, size: u64) -> Job {
        Job {
            content: PendingContent {
                sha256: crate::catalogue::Sha256([path.len() as u8; 32]),
                size,
                path: path.as_bytes().to_vec(),
                pieces_done: 0,
                bytes_done: 0,
                mode: 0o644,
                mtime_ns: 0,
            },
            stored_base: None,
            next_piece: 1,
            split: false,
        }
    }

    fn whole(index: usize, jobs: &[Job]) -> Slice {
        Slice {
            index,
            offset: 0,
            len: jobs[index].content.size,
        }
    }

    #[test]
    fn distinct_names_need_no_cut() {
        let jobs = vec![job("a", 10), job("b", 10), job("c", 100)];
        let mut plan: Vec<Slice> = (0..2).map(|i| whole(i, &jobs)).collect();
        plan.push(Slice {
            index: 2,
            offset: 0,
            len: 40,
        });
        assert_eq!(first_repeated_name(&jobs, &plan), None);
    }

    /// A file really named like the first piece of a split file that the same archive holds:
    /// the plan is cut before the later of the two, whichever comes first.
    #[test]
    fn a_file_named_like_a_piece_cuts_the_plan() {
        let piece = String::from_utf8(piece_member(b"big", 1)).unwrap();
        // The piece first, then the file named like it.
        let jobs = vec![job("big", 100), job("m", 5), job(&piece, 10)];
        let mut plan = vec![Slice {
            index: 0,
            offset: 0,
            len: 40,
        }];
        plan.extend((1..3).map(|i| whole(i, &jobs)));
        assert_eq!(first_repeated_name(&jobs, &plan), Some(2));
        // The file first, then the piece.
        let jobs = vec![job(&piece, 10), job("m", 5), job("big", 100)];
        let mut plan: Vec<Slice> = (0..2).map(|i| whole(i, &jobs)).collect();
        plan.push(Slice {
            index: 2,
            offset: 0,
            len: 40,
        });
        assert_eq!(first_repeated_name(&jobs, &plan), Some(2));
        // A content an earlier run began to split is a piece even when what is left of it
        // goes in whole.
        let mut jobs = vec![job("big", 100), job(&piece, 10)];
        jobs[0].split = true;
        let plan: Vec<Slice> = (0..2).map(|i| whole(i, &jobs)).collect();
        assert_eq!(first_repeated_name(&jobs, &plan), Some(1));
    }
}
