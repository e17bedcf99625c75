//! Crash-safe resume: a backup killed with SIGKILL, then run again to completion, leaves a
//! sound DEST that restores exactly.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_trees_equal, TestEnv};
use crate::util::{ARCHIVE, DISC};

use super::{dest_problems, restore, stderr};

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

fn backup_to_completion(env: &TestEnv, dest: &Path) {
    let out = backup_command(env, dest)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the backup after the kill failed:\n{}",
        stderr(&out)
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
    let mut child = backup_command(&env, &dest).spawn().unwrap();
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
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
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
    let mut child = backup_command(&env, &dest).spawn().unwrap();
    let started = Instant::now();
    while !db.exists() && !partial.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no catalogue");
        assert!(child.try_wait().unwrap().is_none(), "ended unseen");
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
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
