//! Crash-safe resume: a multi-archive, multi-disc backup killed with SIGKILL at pseudo-random
//! moments, then run again to completion, leaves a sound DEST that restores exactly.
//!
//! The kill moments come from a fixed-seed PRNG spread over the length of one uninterrupted
//! run, so a failure names a moment that can be replayed.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tree::Rng;
use crate::common::{assert_trees_equal, disc_dirs, run, stderr, TestEnv};
use crate::util::{hostile_env, ARCHIVE, DISC};

use super::{dest_problems, restore};

const KILL_SEED: u64 = 0x6b11_1ed0_0000_0001;

fn backup_command(env: &TestEnv, dest: &Path) -> Command {
    let mut cmd = env.butcher_command();
    cmd.arg("backup")
        .arg(env.src())
        .arg(dest)
        .args(["--archive-size", &ARCHIVE.to_string()])
        .args(["--disc-size", &DISC.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A backup started in the background, killed with SIGKILL (and reaped) at the latest when
/// this value is dropped, so a test that fails while it runs leaves no process behind.
struct Running(Child);

impl Running {
    fn start(env: &TestEnv, dest: &Path) -> Self {
        Running(backup_command(env, dest).spawn().unwrap())
    }

    fn has_exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }

    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the backup and kills it after `delay`; true when it was still running then.
fn kill_after(env: &TestEnv, dest: &Path, delay: Duration) -> bool {
    let mut child = Running::start(env, dest);
    std::thread::sleep(delay);
    let running = !child.has_exited();
    child.kill();
    running
}

/// Runs the backup (within the harness's time limit: a run that cannot take up what a killed
/// one left would otherwise hang the test) and asserts it succeeds.
fn backup_to_completion(env: &TestEnv, dest: &Path) {
    let out = run(&mut backup_command(env, dest));
    assert_eq!(
        out.status.code(),
        Some(0),
        "the backup after the kill failed:\n{}",
        stderr(&out)
    );
}

/// The length of one uninterrupted run: the shorter of two (the first pays for loading the
/// binary and warming caches).
fn one_run(env: &TestEnv) -> Duration {
    let dest = env.path("dest-measure");
    let mut shortest = Duration::MAX;
    for _ in 0..2 {
        let started = Instant::now();
        backup_to_completion(env, &dest);
        shortest = shortest.min(started.elapsed());
        assert!(
            disc_dirs(&dest).len() >= 2,
            "the run must span several discs"
        );
        fs::remove_dir_all(&dest).unwrap();
    }
    shortest
}

/// Discs the catalogue (rolled back as the next run will see it) marks closed whose directory
/// has no SHA256SUMS: the state a kill in the middle of closing a disc leaves.
fn closed_without_sums(env: &TestEnv, dest: &Path) -> Vec<u32> {
    let db = dest.join("catalogue.db");
    if !db.is_file() {
        return Vec::new();
    }
    let scratch = env.path("scratch-catalogue");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir(&scratch).unwrap();
    fs::copy(&db, scratch.join("catalogue.db")).unwrap();
    let journal = dest.join("catalogue.db-journal");
    if journal.is_file() {
        fs::copy(&journal, scratch.join("catalogue.db-journal")).unwrap();
    }
    let Ok(conn) = rusqlite::Connection::open(scratch.join("catalogue.db")) else {
        return Vec::new();
    };
    let Ok(mut st) = conn.prepare("SELECT number FROM discs WHERE status = 'closed'") else {
        return Vec::new();
    };
    let closed: Vec<u32> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|n| n.unwrap())
        .collect();
    closed
        .into_iter()
        .filter(|n| !dest.join(format!("disc-{n:04}/SHA256SUMS")).is_file())
        .collect()
}

/// Runs the final backup, checks DEST and restores it; the problems found, if any.
fn finish_and_check(env: &TestEnv, dest: &Path, target: &Path) -> Vec<String> {
    backup_to_completion(env, dest);
    let mut problems = dest_problems(dest);
    let out = restore(env, dest, target, &[]);
    if out.status.code() != Some(0) {
        problems.push(format!(
            "restore exited with {:?}: {}",
            out.status.code(),
            stderr(&out).trim()
        ));
    } else if let Err(diff) = crate::common::compare_trees(&env.src(), target) {
        problems.push(format!("restored tree differs: {diff}"));
    }
    problems
}

/// One DEST per kill moment: kill, run again to completion, check, restore.
#[test]
fn killed_backups_resume_into_a_sound_restorable_dest() {
    let (env, _) = hostile_env();
    let duration = one_run(&env);
    let mut rng = Rng::new(KILL_SEED);
    let mut broken = Vec::new();
    let mut hits = 0;
    for i in 0..20 {
        let delay = Duration::from_micros(rng.below(duration.as_micros() as u64));
        let dest = env.path(format!("dest-{i:02}"));
        let target = env.path(format!("target-{i:02}"));
        let was_running = kill_after(&env, &dest, delay);
        let open = closed_without_sums(&env, &dest);
        hits += usize::from(!open.is_empty());
        let what = format!(
            "kill {i} after {delay:?} of {duration:?} (running: {was_running}; \
             discs closed without SHA256SUMS: {open:?})"
        );
        eprintln!("{what}");
        let problems = finish_and_check(&env, &dest, &target);
        if !problems.is_empty() {
            broken.push(format!("{what}:\n    {}", problems.join("\n    ")));
        }
        crate::common::make_writable(&target);
        let _ = fs::remove_dir_all(&target);
        let _ = fs::remove_dir_all(&dest);
    }
    assert!(
        broken.is_empty(),
        "{} of 20 kill moments ({hits} inside the closing of a disc) left a broken backup:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// One DEST killed again and again, each run taking up what the previous left, then finished.
#[test]
fn a_backup_killed_ten_times_in_a_row_still_completes() {
    let (env, _) = hostile_env();
    let duration = one_run(&env);
    let mut rng = Rng::new(KILL_SEED ^ 0xa5a5);
    let dest = env.dest();
    let mut kills = Vec::new();
    let mut unfinished = Vec::new();
    for i in 0..10 {
        let delay = Duration::from_micros(rng.below(duration.as_micros() as u64));
        let was_running = kill_after(&env, &dest, delay);
        unfinished = closed_without_sums(&env, &dest);
        kills.push(format!(
            "kill {i} after {delay:?} of {duration:?} (running: {was_running}; \
             discs closed without SHA256SUMS: {unfinished:?})"
        ));
    }
    eprintln!("{}", kills.join("\n"));
    let problems = finish_and_check(&env, &dest, &env.target());
    assert!(
        problems.is_empty(),
        "after 10 kills, which left {unfinished:?} closed without SHA256SUMS:\n{}\n\
         the backup is broken:\n{}",
        kills.join("\n"),
        problems.join("\n")
    );
}

/// Regression: a first run killed between recording "encrypted" and recording the passphrase
/// check left a set whose every later run failed ("cannot decrypt the passphrase check").
/// The run is killed as soon as the catalogue holds either key.
#[test]
fn a_first_run_killed_while_recording_the_passphrase_can_be_run_again() {
    let env = TestEnv::new().with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    let dest = env.dest();
    let mut child = Running::start(&env, &dest);
    let started = Instant::now();
    let recorded = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never recorded"
        );
        if let Some(keys) = encryption_keys(&dest.join("catalogue.db")) {
            if keys > 0 {
                break true;
            }
        }
        if child.has_exited() {
            break false;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    child.kill();
    assert!(recorded, "the run finished before it was seen recording");
    backup_to_completion(&env, &dest);
    assert_eq!(dest_problems(&dest), Vec::<String>::new());
    let out = restore(&env, &dest, &env.target(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
}

/// How many of the meta keys `encrypted` and `passphrase_check` a catalogue holds.
fn encryption_keys(db: &Path) -> Option<i64> {
    count(
        db,
        "SELECT COUNT(*) FROM meta WHERE key IN ('encrypted', 'passphrase_check')",
    )
}

/// A run killed after the catalogue marks a disc closed but before that disc's SHA256SUMS is
/// written: the next run must finish the disc, or it is never burned and its archives are
/// never found by restore.
#[test]
fn a_run_killed_while_closing_a_disc_has_that_disc_finished_by_the_next() {
    let (env, _) = hostile_env();
    let dest = env.dest();
    let mut child = Running::start(&env, &dest);
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no disc closed"
        );
        if closed_discs(&dest.join("catalogue.db")) > 0 {
            break;
        }
        assert!(
            !child.has_exited(),
            "the run ended before a disc was seen closing"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill();
    let unfinished = closed_without_sums(&env, &dest);
    assert!(
        !unfinished.is_empty(),
        "the kill came too late: the closed disc already has its SHA256SUMS"
    );
    let problems = finish_and_check(&env, &dest, &env.target());
    assert!(
        problems.is_empty(),
        "after a kill that left {unfinished:?} closed without SHA256SUMS:\n{}",
        problems.join("\n")
    );
}

/// Discs the catalogue marks closed; 0 while it cannot be read.
fn closed_discs(db: &Path) -> i64 {
    count(db, "SELECT COUNT(*) FROM discs WHERE status = 'closed'").unwrap_or(0)
}

/// The answer of a `SELECT COUNT(*)` on a catalogue another process is writing; `None` while
/// it cannot be read (not created yet, or locked by the writer).
fn count(db: &Path, sql: &str) -> Option<i64> {
    if !db.is_file() {
        return None;
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::ZERO).ok()?;
    conn.query_row(sql, [], |r| r.get(0)).ok()
}

/// Regression: a first run killed the moment its catalogue file appeared (before the schema
/// was in it) left an empty database that every later run refused as "not a butcher
/// catalogue". The run is killed as soon as the catalogue file, or its `.partial`, exists.
#[test]
fn a_first_run_killed_while_creating_the_catalogue_can_be_run_again() {
    let env = TestEnv::new().with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    let dest = env.dest();
    let db = dest.join("catalogue.db");
    let partial = dest.join("catalogue.db.partial");
    let mut child = Running::start(&env, &dest);
    let started = Instant::now();
    while !db.exists() && !partial.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no catalogue");
        assert!(!child.has_exited(), "ended unseen");
        std::thread::yield_now();
    }
    child.kill();
    backup_to_completion(&env, &dest);
    assert_eq!(dest_problems(&dest), Vec::<String>::new());
    let out = restore(&env, &dest, &env.target(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
}

/// Regression: the files a first run killed before its catalogue was in place leaves in DEST
/// made every later run refuse DEST as "not a butcher backup".
#[test]
fn leftovers_of_a_killed_first_run_do_not_make_dest_foreign() {
    let env = TestEnv::new().with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    let dest = env.dest();
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join(".butcher-probe.partial"), b"").unwrap();
    fs::write(dest.join("catalogue.db.partial"), b"half a catalogue").unwrap();
    fs::write(dest.join("catalogue.db.partial-journal"), b"half a journal").unwrap();
    backup_to_completion(&env, &dest);
    assert_eq!(dest_problems(&dest), Vec::<String>::new());
    let out = restore(&env, &dest, &env.target(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
}

/// A run killed while it writes a disc's recovery files (found by their `.partial` files):
/// the next run writes them again, and par2cmdline verifies the disc.
#[test]
fn a_run_killed_while_writing_recovery_data_has_it_written_by_the_next() {
    let env = TestEnv::new().with_passphrase("kill during parity");
    let mut rng = Rng::new(9);
    for i in 0..6 {
        fs::write(env.src().join(format!("f{i}.bin")), rng.bytes(5 << 20)).unwrap();
    }
    let dest = env.dest();
    let command = || {
        let mut cmd = env.butcher_command();
        cmd.arg("backup")
            .arg(env.src())
            .arg(&dest)
            .args(["--disc-size", "400M", "--parity", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let disc = dest.join("disc-0001");
    let mut child = Running(command().spawn().unwrap());
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no recovery file seen being written"
        );
        let writing = fs::read_dir(&disc)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.contains(".par2") && n.ends_with(".partial")
            });
        if writing {
            break;
        }
        assert!(
            !child.has_exited(),
            "the run ended before its recovery files were seen"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill();
    assert!(
        !disc.join("SHA256SUMS").exists(),
        "the kill came too late: the disc is finished"
    );
    let out = run(&mut command());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let leftovers: Vec<String> = fs::read_dir(&disc)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    if crate::common::require_tool("par2") {
        let out = env
            .cmd("par2")
            .args(["verify", "-q", "disc-0001.par2"])
            .current_dir(&disc)
            .output()
            .unwrap();
        assert!(out.status.success(), "par2 verify: {out:?}");
    }
    env.butcher_ok(["verify".as_ref(), dest.as_os_str()]);
    let target = env.target();
    let out = restore(&env, &dest, &target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), &target);
}
