//! Which catalogue copy restore trusts: a copy of a newer format is refused, a damaged copy on
//! the newest disc gives way to the previous disc's, and a disc of another backup set is left
//! out with a message.

use std::fs;
use std::path::Path;

use crate::common::tree::make_small_tree;
use crate::common::{assert_trees_equal, disc_dirs, flip_byte, flip_middle_byte, require_tool};
use crate::common::{stderr, TestEnv};
use crate::util::{backup, pass_file, PASS};

use super::{
    assert_differences, edit_catalogue_copy, hide_working_catalogue, missing_line, restore,
};

/// A small tree backed up twice: disc-0001 holds snapshot 1, disc-0002 snapshot 2, which adds
/// `added.txt` at the top (whose mtime restore does not compare).
fn two_runs(env: &TestEnv) {
    make_small_tree(&env.src());
    // Without recovery data, which would repair a damaged copy in place of falling back to
    // another disc's (tests/cli/recovery.rs covers the repair).
    backup(env, &["--parity", "0"]);
    fs::write(env.src().join("added.txt"), b"only in snapshot 2\n").unwrap();
    backup(env, &["--parity", "0"]);
    assert_eq!(disc_dirs(&env.dest()).len(), 2);
}

#[test]
fn a_catalogue_copy_of_a_newer_format_is_refused() {
    if !require_tool("gpg") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    make_small_tree(&env.src());
    backup(&env, &[]);
    let disc = disc_dirs(&env.dest())[0].clone();
    edit_catalogue_copy(&env, &pass_file(&env), &disc, |db| {
        db.execute_batch("PRAGMA user_version = 99").unwrap();
    });
    hide_working_catalogue(&env.dest());
    let out = restore(&env, &env.dest(), &env.target(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("format version 99") && err.contains("newer"),
        "{err}"
    );
    assert!(!env.target().exists(), "restore wrote into the target");
}

/// Makes two runs and damages the newest disc's catalogue copy at byte `at` (the middle when
/// `None`). From DEST, restore reads the working catalogue and restores snapshot 2 exactly.
/// From the discs alone, snapshot 1 comes back whole from the previous disc's copy, with a
/// warning that the set has a newer snapshot and exit 3, never 0. Returns that restore's
/// stderr.
fn restore_past_a_damaged_newest_copy(at: Option<usize>) -> String {
    let env = TestEnv::new().with_passphrase(PASS);
    two_runs(&env);
    let copy = env.dest().join("disc-0002/catalogue.db.gpg");
    match at {
        Some(offset) => flip_byte(&copy, offset),
        None => flip_middle_byte(&copy),
    }
    let out = restore(&env, &env.dest(), &env.target(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("restored snapshot 2"), "{err}");
    assert_trees_equal(env.src(), env.target());

    hide_working_catalogue(&env.dest());
    let target = env.path("from-discs");
    let out = restore(&env, &env.dest(), &target, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("restored snapshot 1"), "{err}");
    assert!(err.contains("WARNING") && err.contains("newer"), "{err}");
    assert_differences(
        &env.src(),
        &target,
        [missing_line(Path::new("added.txt"), "file")],
    );
    err
}

#[test]
fn a_damaged_copy_on_the_newest_disc_gives_way_to_the_previous_one() {
    let err = restore_past_a_damaged_newest_copy(None);
    assert!(
        err.lines().any(|l| l.contains("disc-0002/catalogue.db.gpg")
            && l.contains("trying another disc's copy")),
        "the damaged copy is not reported:\n{err}"
    );
}

/// Regression: damage to the first bytes of the newest copy (its key packet) passed for a
/// wrong passphrase and stopped the restore, though the previous disc's copy opens with it.
#[test]
fn damage_to_the_key_packet_of_the_newest_copy_is_not_a_wrong_passphrase() {
    let err = restore_past_a_damaged_newest_copy(Some(8));
    assert!(
        err.lines()
            .any(|l| l.contains("disc-0002/catalogue.db.gpg") && l.contains("damaged")),
        "{err}"
    );
}

/// A wrong passphrase still stops at once when there are several copies to try.
#[test]
fn a_wrong_passphrase_over_several_discs_stops_at_once() {
    let mut env = TestEnv::new().with_passphrase(PASS);
    two_runs(&env);
    env.set_env("BUTCHER_PASSPHRASE", "not the passphrase");
    let out = restore(&env, &env.dest(), &env.target(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!env.target().exists(), "restore wrote into the target");
}

/// With one run over several discs, the copy before the last was written mid-run and knows no
/// complete snapshot: restore says so and writes nothing.
#[test]
fn a_damaged_last_copy_of_a_single_run_is_reported_and_nothing_is_written() {
    let (env, _) = crate::util::hostile_env();
    backup(&env, &["--parity", "0"]);
    let discs = disc_dirs(&env.dest());
    assert!(discs.len() >= 2);
    let last = discs.last().unwrap().join("catalogue.db.gpg");
    flip_middle_byte(&last);
    // From DEST the working catalogue is read: the damaged copy does not matter.
    let out = restore(&env, &env.dest(), &env.path("from-dest"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    hide_working_catalogue(&env.dest());
    let out = restore(&env, &env.dest(), &env.target(), &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&last.display().to_string()), "{err}");
    assert!(err.contains("no complete snapshot"), "{err}");
    assert!(!env.target().exists(), "restore wrote into the target");
}

/// Another backup set: the small tree, changed, backed up twice into `dest-other`.
fn other_set(env: &TestEnv) -> std::path::PathBuf {
    let src = env.path("src-other");
    make_small_tree(&src);
    fs::write(src.join("other.txt"), b"another set\n").unwrap();
    let dest = env.path("dest-other");
    for round in 0..2 {
        fs::write(src.join("round.txt"), format!("round {round}\n")).unwrap();
        env.butcher_ok([
            "backup".as_ref(),
            src.as_os_str(),
            dest.as_os_str(),
            "--archive-size".as_ref(),
            "64K".as_ref(),
            "--disc-size".as_ref(),
            "640K".as_ref(),
        ]);
    }
    dest
}

/// Backs up the small tree, puts disc `disc` of another backup set in a folder given with
/// `--discs`, restores, and checks that the restore succeeds whole. Returns its stderr.
fn restore_beside_a_disc_of_another_set(disc: &str) -> String {
    let env = TestEnv::new().with_passphrase(PASS);
    make_small_tree(&env.src());
    backup(&env, &[]);
    let other = other_set(&env);
    let mixed = env.path("mixed");
    fs::create_dir(&mixed).unwrap();
    fs::rename(other.join(disc), mixed.join(disc)).unwrap();
    let out = restore(
        &env,
        &env.dest(),
        &env.target(),
        &["--discs".as_ref(), mixed.as_os_str()],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_trees_equal(env.src(), env.target());
    err
}

#[test]
fn a_disc_of_another_backup_set_is_left_out_with_a_message() {
    let err = restore_beside_a_disc_of_another_set("disc-0001");
    assert!(
        err.lines().any(|l| l.contains("mixed/disc-0001")
            && l.contains("another backup set")
            && l.contains("ignoring")),
        "{err}"
    );
}

/// Regression: a disc of another set with a higher number than any of SOURCE took over, and
/// SOURCE's own discs were ignored as "another backup set". SOURCE's set wins.
#[test]
fn a_higher_numbered_disc_of_another_set_does_not_take_over() {
    let err = restore_beside_a_disc_of_another_set("disc-0002");
    assert!(
        err.lines()
            .any(|l| l.contains("mixed/disc-0002") && l.contains("another backup set")),
        "{err}"
    );
}
