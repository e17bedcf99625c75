//! Putting the restored tree in place: directories first, then each checked content under
//! every path that has it, symlinks, directory modes and mtimes last, and a final read-back of
//! every file against its sha256.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::extract::stage_path;
use super::meta::{self, Owners};
use super::plan::{ContentState, Plan};
use super::RestoreSummary;
use crate::catalogue::{Entry, Kind, Sha256};
use crate::error::{IoContext, Result};
use crate::fsutil::{bytes_path, join_rel};
use crate::progress::{Progress, Stage};

pub(super) fn create_dirs(target: &Path, entries: &[Entry]) -> Result<()> {
    for e in entries.iter().filter(|e| e.kind == Kind::Dir) {
        let p = join_rel(target, &e.path);
        fs::create_dir_all(&p).ctx("create", &p)?;
    }
    // Parents of files whose directory entry is not in the selection, each once (a
    // directory of many files would otherwise cost a failing mkdir and a stat per file).
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| e.kind != Kind::Dir) {
        if let Some(parent) = join_rel(target, &e.path).parent() {
            if !made.contains(parent) {
                fs::create_dir_all(parent).ctx("create", parent)?;
                made.insert(parent.to_path_buf());
            }
        }
    }
    Ok(())
}

/// Moves each complete, checked content into place under every path that has it; paths that
/// were one inode (hard links) become one inode again. Each file gets its metadata back.
pub(super) fn place_files(
    target: &Path,
    stage: &Path,
    entries: &[Entry],
    plan: &mut Plan,
    owners: &Owners,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) -> Result<()> {
    // The first path each content was placed at is kept in the plan (as an index into
    // `entries`), and each hard-link group's here.
    let mut linked: HashMap<(u64, u64), (PathBuf, Sha256)> = HashMap::new();
    for (i, e) in entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == Kind::File)
    {
        let digest = e.sha256.expect("invariant: checked in Plan::new");
        let sha = digest.hex();
        let Some((index, st)) = plan.state(&digest) else {
            let why = "its content is not in the restore plan".to_string();
            summary.not_restored.push((e.path.clone(), why));
            continue;
        };
        let problem = match (&st.problem, st.pieces_left) {
            (Some(problem), _) => Some(problem.to_string()),
            (None, 1..) => Some("some of its pieces were not read".to_string()),
            (None, 0) => None,
        };
        if let Some(problem) = problem {
            summary.not_restored.push((e.path.clone(), problem));
            continue;
        }
        let dst = join_rel(target, &e.path);
        match e.link_key().and_then(|k| linked.get(&k)) {
            Some((first, sha)) if *sha == digest => {
                fs::hard_link(first, &dst).ctx("link", &dst)?;
                summary.files += 1;
                summary.bytes = summary.bytes.saturating_add(e.size);
                continue;
            }
            // One inode with two contents: a damaged or crafted catalogue. Linking would put
            // the other content under this name; it gets its own.
            Some((first, _)) => {
                let m = format!(
                    "it was one inode with {} but the catalogue gives it another content: \
                     restored as a file of its own",
                    first.display()
                );
                note_problems(summary, progress, e, &dst, vec![m]);
            }
            None => {}
        }
        let first = st
            .placed_at
            .map(|f| join_rel(target, &entries[f as usize].path));
        if let Err(m) = place_one(stage, &sha, st, &dst, first.as_deref())? {
            progress.warn(&format!("{}: {m}", dst.display()));
            summary.not_restored.push((e.path.clone(), m));
            continue;
        }
        plan.state_mut(index).placed_at.get_or_insert(i as u32);
        if let Some(k) = e.link_key() {
            linked.entry(k).or_insert_with(|| (dst.clone(), digest));
        }
        note_problems(summary, progress, e, &dst, meta::apply(&dst, e, owners));
        summary.files += 1;
        summary.bytes = summary.bytes.saturating_add(e.size);
    }
    Ok(())
}

/// Puts content `sha` at `dst`: the staged file itself the first time (checked whole when it
/// was joined from pieces), a copy of the first path that got it after that. The inner error
/// is why this path is not restored.
fn place_one(
    stage: &Path,
    sha: &str,
    st: &ContentState,
    dst: &Path,
    first: Option<&Path>,
) -> Result<std::result::Result<(), String>> {
    let staged = stage_path(stage, sha);
    match first {
        None => {
            if st.pieces_total == 0 {
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&staged)
                    .ctx("create", &staged)?;
            } else if st.pieces_total > 1 && !staged_hash_ok(&staged, sha)? {
                return Ok(Err("its joined pieces do not match its sha256".to_string()));
            }
            fs::rename(&staged, dst).ctx("move into place", dst)?;
        }
        Some(first) => {
            fs::copy(first, &staged).ctx("copy", first)?;
            fs::rename(&staged, dst).ctx("move into place", dst)?;
        }
    }
    Ok(Ok(()))
}

fn staged_hash_ok(path: &Path, sha: &str) -> Result<bool> {
    let (h, _) = crate::fsutil::hash_file(path).ctx("read", path)?;
    Ok(h == sha)
}

/// Records what metadata of `e` (restored at `dst`) could not be given back.
fn note_problems(
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
    e: &Entry,
    dst: &Path,
    problems: Vec<String>,
) {
    for m in problems {
        progress.warn(&format!("{}: {m}", dst.display()));
        summary.metadata.push((e.path.clone(), m));
    }
}

pub(super) fn make_symlinks(
    target: &Path,
    entries: &[Entry],
    owners: &Owners,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) -> Result<()> {
    for e in entries.iter().filter(|e| e.kind == Kind::Symlink) {
        let dst = join_rel(target, &e.path);
        let to = e.link_target.as_deref().unwrap_or_default();
        std::os::unix::fs::symlink(bytes_path(to), &dst).ctx("create the symlink", &dst)?;
        note_problems(summary, progress, e, &dst, meta::apply(&dst, e, owners));
        summary.symlinks += 1;
    }
    Ok(())
}

/// Gives directories their metadata, deepest first, after everything inside them is in
/// place.
pub(super) fn finish_dirs(
    target: &Path,
    entries: &[Entry],
    owners: &Owners,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let mut dirs: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Dir).collect();
    dirs.sort_by_key(|e| std::cmp::Reverse(e.path.iter().filter(|&&b| b == b'/').count()));
    for e in dirs {
        let p = join_rel(target, &e.path);
        note_problems(summary, progress, e, &p, meta::apply(&p, e, owners));
        summary.dirs += 1;
    }
    Ok(())
}

/// Reads every restored file back and checks its sha256 against the catalogue.
pub(super) fn check_restored(
    target: &Path,
    entries: &[Entry],
    plan: &Plan,
    summary: &mut RestoreSummary,
    progress: &dyn Progress,
) {
    let failed: HashSet<&[u8]> = summary
        .not_restored
        .iter()
        .map(|(p, _)| p.as_slice())
        .collect();
    let todo: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == Kind::File && !failed.contains(e.path.as_slice()))
        .collect();
    let _ = plan;
    progress.start(
        Stage::Check,
        todo.iter().fold(0u64, |t, e| t.saturating_add(e.size)),
        todo.len() as u64,
    );
    let bad: Vec<(Vec<u8>, String)> = todo
        .par_iter()
        .filter_map(|e| {
            let p = join_rel(target, &e.path);
            let ok = crate::fsutil::hash_file(&p)
                .map(|(h, _)| Sha256::from_hex(&h).is_some_and(|h| Some(h) == e.sha256));
            progress.advance(e.size, 1);
            match ok {
                Ok(true) => None,
                Ok(false) => Some((
                    e.path.clone(),
                    "restored content does not match its sha256".into(),
                )),
                Err(err) => Some((e.path.clone(), format!("cannot read it back: {err}"))),
            }
        })
        .collect();
    progress.finish();
    summary.files -= bad.len() as u64;
    summary.not_restored.extend(bad);
}
