//! A set of format 5 (the fixture, with its working catalogue made from the newest disc's
//! copy) is continued by today's butcher: the run upgrades the working catalogue, says so,
//! the discs already written keep their format-5 copies, and every snapshot restores exactly.
//! A kill at any moment of the upgrade leaves the old catalogue or the new one.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{assert_trees_equal, disc_dirs, require_tool, run_ok, sha256_file, TestEnv};
use crate::compat::{fixture_dir, fixture_tree, PASS};

/// DEST as the format-5 set's owner has it: the fixture's discs and a working catalogue (the
/// copy on the newest disc, decrypted with gpg).
fn format5_dest(env: &TestEnv) {
    older_dest(env, 5);
}

/// DEST of the fixture set of format `version`, with its working catalogue.
fn older_dest(env: &TestEnv, version: u32) {
    fs::create_dir_all(env.dest()).unwrap();
    for d in disc_dirs(&fixture_dir(version)) {
        run_ok(env.cmd("cp").arg("-r").arg(&d).arg(env.dest()));
    }
    let newest = disc_dirs(&env.dest()).pop().unwrap();
    let out = run_ok(
        env.cmd("gpg")
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", PASS, "-d"])
            .arg(newest.join("catalogue.db.gpg")),
    );
    fs::write(env.dest().join("catalogue.db"), out.stdout).unwrap();
    assert_eq!(user_version(&env.dest()), i64::from(version));
}

fn user_version(dest: &Path) -> i64 {
    let db = rusqlite::Connection::open(dest.join("catalogue.db")).unwrap();
    db.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn backup_args(env: &TestEnv) -> Vec<std::ffi::OsString> {
    vec![
        "backup".into(),
        env.src().into(),
        env.dest().into(),
        "--archive-size=64K".into(),
        "--disc-size=1M".into(),
    ]
}

fn restore_snapshot(env: &TestEnv, snapshot: u32, want: &Path) {
    let target = env.path(format!("restored-{snapshot}"));
    crate::util::restore_snapshot(env, snapshot, &target);
    assert_trees_equal(want, &target);
    fs::remove_dir_all(&target).unwrap();
}

/// The tree of the fixture's run `run`, in a directory of its own.
fn tree(env: &TestEnv, run: u32) -> std::path::PathBuf {
    let p = env.path(format!("tree-{run}"));
    if !p.exists() {
        fixture_tree(&p, run);
    }
    p
}

#[test]
fn a_format_5_set_is_upgraded_by_a_run_and_restores_exactly() {
    if !require_tool("gpg") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    format5_dest(&env);
    let old_copies: Vec<(std::path::PathBuf, String)> = disc_dirs(&env.dest())
        .into_iter()
        .map(|d| {
            let sum = sha256_file(&d.join("catalogue.db.gpg"));
            (d, sum)
        })
        .collect();
    fixture_tree(&env.src(), 2);
    fs::write(env.src().join("added.txt"), "after the upgrade\n").unwrap();
    let out = env.butcher_ok(backup_args(&env));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upgrading the working catalogue from format 5 to format 6"),
        "{err}"
    );
    assert_eq!(user_version(&env.dest()), 6);
    for (d, sum) in &old_copies {
        assert_eq!(
            &sha256_file(&d.join("catalogue.db.gpg")),
            sum,
            "{d:?} keeps its format-5 copy"
        );
    }
    // Snapshots 1 and 2 of format 5 and the new one, from the set as it is now.
    restore_snapshot(&env, 1, &tree(&env, 1));
    restore_snapshot(&env, 2, &tree(&env, 2));
    restore_snapshot(&env, 3, &env.src());
    // A second run finds nothing to upgrade.
    let out = env.butcher_ok(backup_args(&env));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("upgrading"));
}

/// Sets of formats 2 to 4 (no parity tables, an older disc layout) are upgraded by a run as
/// well, and every snapshot restores exactly.
#[test]
fn older_sets_are_upgraded_by_a_run_too() {
    if !require_tool("gpg") {
        return;
    }
    for version in 2..=4 {
        let env = TestEnv::new().with_passphrase(PASS);
        older_dest(&env, version);
        fixture_tree(&env.src(), 2);
        fs::write(env.src().join("added.txt"), "after the upgrade\n").unwrap();
        let out = env.butcher_ok([
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--archive-size=64K".as_ref(),
            "--disc-size=640K".as_ref(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "upgrading the working catalogue from format {version} to format 6"
            )),
            "{err}"
        );
        assert_eq!(user_version(&env.dest()), 6, "format {version}");
        restore_snapshot(&env, 1, &tree(&env, 1));
        restore_snapshot(&env, 2, &tree(&env, 2));
        restore_snapshot(&env, 3, &env.src());
    }
}

/// Pads the working catalogue with ten killed (`running`) snapshots of 4,000 directory
/// entries each, all different, so that the upgrade takes long enough to be killed in.
fn pad(dest: &Path) {
    let db = rusqlite::Connection::open(dest.join("catalogue.db")).unwrap();
    let tx = db.unchecked_transaction().unwrap();
    for s in 3..13i64 {
        tx.execute(
            "INSERT INTO snapshots (id, started_ns, status, source) VALUES (?1, 0, 'running', X'2F')",
            [s],
        )
        .unwrap();
        let mut ins = tx
            .prepare(
                "INSERT INTO entries (snapshot_id, path, kind, size, mtime_ns, mode, inode,
                                      ctime_ns)
                 VALUES (?1, ?2, 'dir', 0, ?3, 493, 0, 0)",
            )
            .unwrap();
        for i in 0..4000i64 {
            let path = format!("pad/{:05}", i);
            ins.execute(rusqlite::params![s, path.as_bytes(), s * 1000 + i])
                .unwrap();
        }
    }
    drop(tx.commit());
}

/// The catalogue in DEST opens, is sound, and is of format 5 or 6; snapshot 1 has the same
/// paths in it as before.
fn check_catalogue(dest: &Path, paths_of_1: &[Vec<u8>]) -> i64 {
    let db = rusqlite::Connection::open(dest.join("catalogue.db")).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let v: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(v == 5 || v == 6, "user_version {v}");
    let mut st = db
        .prepare("SELECT path FROM entries WHERE snapshot_id = 1 ORDER BY path")
        .unwrap();
    let got: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|p| p.unwrap())
        .collect();
    assert_eq!(got, paths_of_1, "snapshot 1 in a catalogue of format {v}");
    v
}

#[test]
fn an_upgrade_killed_at_any_moment_leaves_the_old_or_the_new_catalogue() {
    if !require_tool("gpg") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    format5_dest(&env);
    pad(&env.dest());
    let paths_of_1: Vec<Vec<u8>> = {
        let db = rusqlite::Connection::open(env.dest().join("catalogue.db")).unwrap();
        let mut st = db
            .prepare("SELECT path FROM entries WHERE snapshot_id = 1 ORDER BY path")
            .unwrap();
        let v = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        v
    };
    fixture_tree(&env.src(), 2);
    // How long an uninterrupted run takes, on a copy.
    let spare = env.path("spare");
    run_ok(env.cmd("cp").arg("-a").arg(env.dest()).arg(&spare));
    let started = Instant::now();
    let mut args = backup_args(&env);
    args[2] = spare.clone().into();
    env.butcher_ok(&args);
    let whole = started.elapsed();
    // Kill moments spread over the run (the upgrade is most of it), fixed so that a failure
    // names a moment that can be replayed.
    let mut seen = [false, false];
    // A kill that left the new catalogue half built beside the old one.
    let mut mid = false;
    for i in 1..=12u32 {
        let delay = whole.mul_f64(f64::from(i) / 14.0);
        let mut child = env
            .butcher_command()
            .args(backup_args(&env))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let building = env.dest().join("catalogue.db.upgrade.partial");
        let v = check_catalogue(&env.dest(), &paths_of_1);
        seen[(v - 5) as usize] = true;
        mid |= v == 5 && building.exists();
        if v == 6 {
            break;
        }
        // Still format 5: what the killed upgrade left does not get in the way.
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen[0], "no kill landed before the upgrade was done");
    assert!(
        mid,
        "no kill landed while the new catalogue was being built"
    );
    env.butcher_ok(backup_args(&env));
    assert_eq!(check_catalogue(&env.dest(), &paths_of_1), 6);
    restore_snapshot(&env, 1, &tree(&env, 1));
    restore_snapshot(&env, 2, &tree(&env, 2));
}
