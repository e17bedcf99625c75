//! Reading the archives a restore needs into its staging directory: first those on the discs
//! at hand, then, disc by disc in order, those on discs the prompt brings. Damage to one
//! archive never stops the rest: it is recorded against the contents it held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::extract::{read_archive, Got};
use super::plan::Plan;
use super::{DiscPrompt, RestoreOptions, RestoreSummary};
use crate::error::{Error, Result};
use crate::layout::disc_dir_name;
use crate::progress::Progress;
use crate::rebuild::ParityMap;
use crate::source::{self, DiscDir};

/// An archive left for its disc's parity disc to rebuild, with what reading the damaged file
/// gave, if there was one (kept in case the rebuild fails).
type Deferred = (i64, Option<(PathBuf, Result<Got>)>);

/// What reading the archives works with, for the length of one restore.
pub(super) struct Reader<'a> {
    pub plan: &'a mut Plan,
    pub opts: &'a RestoreOptions,
    pub stage: &'a Path,
    pub progress: &'a dyn Progress,
    pub summary: &'a mut RestoreSummary,
    /// Archive ids still to read.
    left: BTreeSet<i64>,
    /// What was repaired with recovery data, one line each.
    repaired: std::sync::Mutex<Vec<String>>,
    /// Per disc directory, the archives rebuilt from its recovery data.
    rebuilt: std::sync::Mutex<HashMap<PathBuf, HashMap<String, PathBuf>>>,
    /// The set's parity discs.
    parity: ParityMap,
    /// Per lost or damaged data disc, the archives its parity disc is to rebuild.
    deferred: BTreeMap<u32, Vec<Deferred>>,
}

/// Whether reading an archive met damage of any kind.
fn damaged(got: &Result<Got>) -> bool {
    match got {
        Ok(g) => g.error.is_some() || g.file_changed || !g.bad.is_empty(),
        Err(_) => true,
    }
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        plan: &'a mut Plan,
        opts: &'a RestoreOptions,
        stage: &'a Path,
        progress: &'a dyn Progress,
        summary: &'a mut RestoreSummary,
        parity: ParityMap,
    ) -> Self {
        let left = plan.archives.keys().copied().collect();
        Reader {
            plan,
            opts,
            stage,
            progress,
            summary,
            left,
            repaired: std::sync::Mutex::new(Vec::new()),
            rebuilt: std::sync::Mutex::new(HashMap::new()),
            parity,
            deferred: BTreeMap::new(),
        }
    }

    /// Reads every archive of the plan: those on `dirs` first, then those on discs `prompt`
    /// brings, disc by disc in order. An archive damaged or missing on a disc at hand is
    /// rebuilt from the disc's recovery data when it can be.
    pub(super) fn read_all(
        &mut self,
        dirs: &[DiscDir],
        set_id: &str,
        prompt: &mut dyn DiscPrompt,
    ) -> Result<()> {
        let r = self.read_all_discs(dirs, set_id, prompt);
        let repaired = std::mem::take(&mut *self.repaired.lock().expect("not poisoned"));
        self.summary.repaired.extend(repaired);
        r
    }

    fn read_all_discs(
        &mut self,
        dirs: &[DiscDir],
        set_id: &str,
        prompt: &mut dyn DiscPrompt,
    ) -> Result<()> {
        let at_hand = source::archive_files(dirs)?;
        self.read_found(&at_hand);
        self.rebuild_missing(dirs);
        let present: HashSet<u32> = dirs.iter().filter_map(|d| d.number).collect();
        let discs: BTreeSet<u32> = self.left.iter().map(|id| self.disc_of(*id)).collect();
        for disc in discs {
            while self.left.iter().any(|id| self.disc_of(*id) == disc) {
                let asked = if present.contains(&disc) {
                    None
                } else {
                    prompt.ask(disc)
                };
                let Some(dir) = asked else {
                    if self.parity.group_of(disc).is_some() {
                        self.defer_disc(disc);
                    } else {
                        self.give_up_disc(disc, present.contains(&disc));
                    }
                    break;
                };
                let warn = |m: &str| self.progress.warn(m);
                let archives: Vec<_> = self
                    .plan
                    .archives
                    .values()
                    .map(|(a, _)| a.clone())
                    .collect();
                let found_dirs =
                    source::identify(source::disc_dirs(&[dir])?, &archives, set_id, &warn);
                let found = source::archive_files(&found_dirs)?;
                let before = self.left.len();
                self.read_found(&found);
                self.rebuild_missing(&found_dirs);
                if self.left.len() == before {
                    let m = format!("that is not disc {disc:04} of this backup");
                    self.progress.warn(&m);
                }
            }
        }
        self.rebuild_deferred(dirs, set_id, prompt)
    }

    /// Leaves the archives of `disc` still to read (a disc not at hand, or archives missing
    /// from it) to its parity disc.
    fn defer_disc(&mut self, disc: u32) {
        for id in self.left_on(disc) {
            self.left.remove(&id);
            self.deferred.entry(disc).or_default().push((id, None));
        }
    }

    /// Rebuilds the deferred archives of each lost or damaged disc from its group's parity
    /// disc and other data discs (at hand, or asked for one at a time), and reads them. What
    /// cannot be rebuilt is given up as it would have been without parity discs.
    fn rebuild_deferred(
        &mut self,
        dirs: &[DiscDir],
        set_id: &str,
        prompt: &mut dyn DiscPrompt,
    ) -> Result<()> {
        let deferred = std::mem::take(&mut self.deferred);
        for (disc, items) in deferred {
            let names: Vec<String> = items
                .iter()
                .map(|(id, _)| self.plan.archives[id].0.name.clone())
                .collect();
            let archives: Vec<_> = self
                .plan
                .archives
                .values()
                .map(|(a, _)| a.clone())
                .collect();
            let progress = self.progress;
            let warn = |m: &str| progress.warn(m);
            let mut dir_of = |n: u32| {
                crate::rebuild::disc_at_hand_or_asked(n, dirs, &archives, set_id, prompt, &warn)
            };
            let got = crate::rebuild::rebuild_files(
                &self.parity,
                disc,
                &names,
                &mut dir_of,
                self.stage,
                &|_| {},
            );
            let rebuilt = match got {
                Ok(r) => {
                    for m in &r.repaired {
                        self.progress.note(m);
                        self.summary.repaired.push(m.clone());
                    }
                    for m in &r.not_repaired {
                        self.progress.warn(m);
                    }
                    for name in &r.wrong {
                        let m = format!(
                            "{name} of {} rebuilt from its parity disc does not match the \
                             catalogue: a disc of its group is damaged beyond its recovery data",
                            disc_dir_name(disc)
                        );
                        self.progress.warn(&m);
                        self.summary.damaged.push(m);
                    }
                    r.files
                }
                Err(e) => {
                    let why = match e {
                        Error::Damaged(m) => m,
                        e => e.to_string(),
                    };
                    self.progress.warn(&why);
                    HashMap::new()
                }
            };
            if !rebuilt.is_empty() {
                let mut which: Vec<&str> = rebuilt.keys().map(|n| n.as_str()).collect();
                which.sort_unstable();
                let needed = self.parity.needed_for(disc).unwrap_or_default();
                let (parity_disc, others) = needed.split_last().unwrap_or((&0, &[]));
                let others: Vec<String> = others.iter().map(|d| disc_dir_name(*d)).collect();
                let m = format!(
                    "{} is lost or damaged: {} rebuilt from parity disc {} with {}",
                    disc_dir_name(disc),
                    which.join(", "),
                    disc_dir_name(*parity_disc),
                    others.join(", ")
                );
                self.progress.note(&m);
                self.summary.repaired.push(m);
            }
            let mut lost = Vec::new();
            for (id, fallback) in items {
                let name = &self.plan.archives[&id].0.name;
                if rebuilt.contains_key(name) {
                    self.left.insert(id);
                    continue;
                }
                match fallback {
                    Some((path, Ok(got))) => self.take_in(id, &path, got),
                    Some((_, Err(e))) => self.give_up_archive(id, e),
                    None => lost.push(id),
                }
            }
            self.read_found(&rebuilt);
            for path in rebuilt.values() {
                let _ = std::fs::remove_file(path);
            }
            if !lost.is_empty() {
                let present = dirs
                    .iter()
                    .any(|d| d.number == Some(disc) && d.path.is_dir());
                self.give_up_ids(disc, &lost, present);
            }
        }
        Ok(())
    }

    /// Archives still to read that are missing from a disc at hand: rebuilt from the disc's
    /// recovery data into the staging directory, when it can, and read from there.
    fn rebuild_missing(&mut self, dirs: &[DiscDir]) {
        let mut rebuilt = HashMap::new();
        for d in dirs {
            let Some(number) = d.number else { continue };
            let missing: Vec<String> = self
                .left
                .iter()
                .filter(|id| self.disc_of(**id) == number)
                .map(|id| self.plan.archives[id].0.name.clone())
                .filter(|name| !d.path.join(name).exists())
                .collect();
            for name in missing {
                if let Some(path) = self.rebuild(&d.path, &name) {
                    rebuilt.insert(name, path);
                }
            }
        }
        if !rebuilt.is_empty() {
            self.read_found(&rebuilt);
            for path in rebuilt.values() {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The archive file `name` of the disc in `dir`, rebuilt into the staging directory from
    /// the disc's recovery data; `None` when it cannot be. The first call for a disc rebuilds
    /// every damaged archive of the plan on it at once (one check of the disc, one pass over
    /// its intact slices), and says what it did.
    fn rebuild(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        let mut done = self.rebuilt.lock().expect("not poisoned");
        if !done.contains_key(dir) {
            let names: Vec<String> = self
                .plan
                .archives
                .values()
                .map(|(a, _)| a.name.clone())
                .collect();
            let files = match crate::recovery::rebuild_files(dir, &names, self.stage) {
                Ok(r) if r.files.is_empty() => HashMap::new(),
                Ok(r) => {
                    let which: Vec<&str> = r.files.iter().map(|(n, _)| n.as_str()).collect();
                    let m = format!(
                        "{}: {} repaired with its recovery data ({} slices rebuilt)",
                        dir.display(),
                        which.join(", "),
                        r.slices
                    );
                    self.progress.note(&m);
                    self.repaired.lock().expect("not poisoned").push(m);
                    r.files.into_iter().collect()
                }
                Err(e) => {
                    let why = match e {
                        Error::Damaged(m) => m,
                        e => e.to_string(),
                    };
                    let m = format!("{}: cannot be repaired: {why}", dir.display());
                    self.progress.warn(&m);
                    HashMap::new()
                }
            };
            done.insert(dir.to_path_buf(), files);
        }
        done[dir].get(name).cloned()
    }

    fn disc_of(&self, id: i64) -> u32 {
        self.plan.archives[&id].0.disc
    }

    /// Gives up the archives of `disc` still to read, saying why for their files.
    fn give_up_disc(&mut self, disc: u32, disc_present: bool) {
        let ids = self.left_on(disc);
        self.give_up_ids(disc, &ids, disc_present);
    }

    /// The archives of `disc` still to read.
    fn left_on(&self, disc: u32) -> Vec<i64> {
        self.left
            .iter()
            .copied()
            .filter(|id| self.disc_of(*id) == disc)
            .collect()
    }

    /// Gives up archives `ids` of `disc`, saying why for their files.
    fn give_up_ids(&mut self, disc: u32, ids: &[i64], disc_present: bool) {
        if !disc_present && !self.summary.missing_discs.contains(&disc) {
            self.summary.missing_discs.push(disc);
        }
        for &id in ids {
            self.left.remove(&id);
            let name = &self.plan.archives[&id].0.name;
            let why = if disc_present {
                format!("archive {name} is missing from disc {disc:04}")
            } else {
                format!("disc {disc:04} ({name}) was not at hand")
            };
            if disc_present {
                self.summary.damaged.push(why.clone());
            }
            self.fail_archive(id, |_| true, &why);
        }
    }

    /// Reads the archives still left whose files are in `found` (archive name -> path).
    fn read_found(&mut self, found: &HashMap<String, PathBuf>) {
        let ids: Vec<i64> = self
            .left
            .iter()
            .copied()
            .filter(|id| found.contains_key(&self.plan.archives[id].0.name))
            .collect();
        for id in &ids {
            self.left.remove(id);
        }
        for (id, result) in self.read_in_parallel(&ids, found) {
            let path = &found[&self.plan.archives[&id].0.name];
            let disc = self.disc_of(id);
            if damaged(&result) && self.parity.group_of(disc).is_some() {
                // Beyond the disc's own recovery data: its parity disc may rebuild it.
                let item = (id, Some((path.clone(), result)));
                self.deferred.entry(disc).or_default().push(item);
                continue;
            }
            match result {
                Ok(got) => self.take_in(id, path, got),
                Err(e) => self.give_up_archive(id, e),
            }
        }
    }

    /// Reads archives `ids` at once. Archives are independent: each writes only its own
    /// members' byte ranges into the staging files, so no two threads write the same bytes.
    fn read_in_parallel(
        &self,
        ids: &[i64],
        found: &HashMap<String, PathBuf>,
    ) -> Vec<(i64, Result<Got>)> {
        let pass = self.opts.keys.as_ref();
        ids.par_iter()
            .map(|id| {
                let (archive, wanted) = &self.plan.archives[id];
                let path = &found[&archive.name];
                let plan = &*self.plan;
                let got =
                    read_archive(path, archive, pass, wanted, plan, self.stage, self.progress);
                if !damaged(&got) {
                    return (*id, got);
                }
                // Damage: the disc's recovery data may rebuild the archive.
                let Some(rebuilt) = path
                    .parent()
                    .and_then(|dir| self.rebuild(dir, &archive.name))
                else {
                    return (*id, got);
                };
                let again = read_archive(
                    &rebuilt,
                    archive,
                    pass,
                    wanted,
                    plan,
                    self.stage,
                    self.progress,
                );
                let _ = std::fs::remove_file(&rebuilt);
                (*id, again)
            })
            .collect()
    }

    /// Counts the members read from archive `id` (file `path`) and records its damage.
    fn take_in(&mut self, id: i64, path: &Path, got: Got) {
        let name = self.plan.archives[&id].0.name.clone();
        for &k in &got.members {
            let content = self.plan.archives[&id].1.content_of(k as usize);
            self.plan.piece_read(content);
        }
        for &content in &got.bad {
            let problem = format!("its content in {name} is damaged");
            self.plan.set_problem(content, problem);
        }
        if got.file_changed {
            let m = format!("{}: the file differs from what was written", path.display());
            self.progress.warn(&m);
            self.summary.damaged.push(m);
        }
        if let Some(e) = got.error {
            let m = e.to_string();
            self.progress.warn(&m);
            self.summary.damaged.push(m.clone());
            let mut read = vec![false; self.plan.archives[&id].1.len()];
            for &k in &got.members {
                read[k as usize] = true;
            }
            self.fail_archive(id, |k| !read[k], &m);
        }
    }

    /// Archive `id` could not be read at all.
    fn give_up_archive(&mut self, id: i64, e: Error) {
        let m = match e {
            // The keys opened the catalogue copy: an archive they do not open is damaged (its
            // key packets), or encrypted to recipients the set had before a change; either
            // way not a reason to stop the restore.
            Error::WrongKey(p, why) if why.is_empty() => format!(
                "{}: the passphrase of the backup does not open it; it is damaged",
                p.display()
            ),
            Error::WrongKey(p, why) => format!(
                "{}: the keys given do not open it ({why}); it is damaged, or encrypted to \
                 recipients the set had before --change-recipients",
                p.display()
            ),
            e => e.to_string(),
        };
        self.progress.warn(&m);
        self.summary.damaged.push(m.clone());
        self.fail_archive(id, |_| true, &m);
    }

    /// The contents of archive `id`'s members `which` (by index) cannot be restored, for this
    /// reason unless another is known.
    fn fail_archive(&mut self, id: i64, which: impl Fn(usize) -> bool, reason: &str) {
        let (_, members) = &self.plan.archives[&id];
        let contents: Vec<u32> = members
            .iter()
            .enumerate()
            .filter(|(k, _)| which(*k))
            .map(|(_, w)| w.content)
            .collect();
        self.plan.fail(contents, reason);
    }
}
