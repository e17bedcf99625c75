//! The catalogue grows with what changed, not with files x snapshots (format 6): 20,000 small
//! files, a run that changes nothing, then runs that each rewrite 1 % of the files; the first
//! and the newest snapshot restore exactly, with butcher and (on a smaller set of the same
//! shape) by hand.

use std::fs;
use std::path::Path;

use crate::common::tree::Rng;
use crate::common::{assert_trees_equal, require_tool, run_ok, TestEnv};
use crate::util::{pass_file, restore_snapshot as restore, PASS};

/// `files` files of 50 to 2,000 random bytes, 1,000 to a directory.
fn make_tree(root: &Path, files: usize) {
    let mut rng = Rng::new(1);
    for i in 0..files {
        let d = root.join(format!("d{:04}", i / 1000));
        if i % 1000 == 0 {
            fs::create_dir_all(&d).unwrap();
        }
        let len = rng.range(50, 2001) as usize;
        fs::write(d.join(format!("f{i:07}.txt")), rng.bytes(len)).unwrap();
    }
}

/// Rewrites 1 % of the files (new random content and size), chosen by `run`.
fn churn(root: &Path, files: usize, run: u64) {
    let mut rng = Rng::new(1000 + run);
    for _ in 0..files / 100 {
        let i = rng.below(files as u64) as usize;
        let len = rng.range(50, 2001) as usize;
        let p = root.join(format!("d{:04}/f{i:07}.txt", i / 1000));
        fs::write(p, rng.bytes(len)).unwrap();
    }
}

fn backup(env: &TestEnv) -> u64 {
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--compression=zstd".as_ref(),
        "--quiet".as_ref(),
    ]);
    fs::metadata(env.dest().join("catalogue.db")).unwrap().len()
}

#[test]
fn the_catalogue_grows_with_what_changed_not_with_the_files() {
    const FILES: usize = 20_000;
    let env = TestEnv::new().with_passphrase(PASS);
    make_tree(&env.src(), FILES);
    let first = backup(&env);
    assert!(
        first <= 400 * FILES as u64,
        "first run: {first} bytes, {} a file",
        first / FILES as u64
    );
    let first_tree = env.path("first");
    run_ok(env.cmd("cp").arg("-a").arg(env.src()).arg(&first_tree));
    let unchanged = backup(&env);
    assert!(
        unchanged - first <= 64 * 1024,
        "a run that changes nothing added {} bytes",
        unchanged - first
    );
    let mut before = unchanged;
    // Nine more runs, each after rewriting 1 % of the files: ten runs with churn in all.
    for run in 3..=11 {
        churn(&env.src(), FILES, run);
        let after = backup(&env);
        assert!(
            after - before <= 256 * 1024,
            "run {run}, 1 % changed, added {} bytes",
            after - before
        );
        before = after;
    }
    eprintln!(
        "catalogue: {first} bytes after the first run, {unchanged} after a no-change run, \
         {before} after nine runs of 1 % churn"
    );
    let t1 = env.path("restored-1");
    restore(&env, 1, &t1);
    assert_trees_equal(&first_tree, &t1);
    let t11 = env.path("restored-11");
    restore(&env, 11, &t11);
    assert_trees_equal(env.src(), &t11);
}

/// The same shape with 300 files (the script starts a few programs a file), a file removed
/// and one renamed on the way: the first and the newest snapshot by hand.
#[test]
fn by_hand_the_first_and_the_newest_snapshot_of_a_churned_set() {
    if !crate::util::by_hand_tools_present() || !require_tool("zstd") {
        return;
    }
    const FILES: usize = 300;
    let env = TestEnv::new().with_passphrase(PASS);
    make_tree(&env.src(), FILES);
    backup(&env);
    let first_tree = env.path("first");
    run_ok(env.cmd("cp").arg("-a").arg(env.src()).arg(&first_tree));
    backup(&env);
    for run in 3..=10 {
        churn(&env.src(), FILES, run);
        if run == 5 {
            fs::remove_file(env.src().join("d0000/f0000003.txt")).unwrap();
            fs::rename(
                env.src().join("d0000/f0000004.txt"),
                env.src().join("d0000/renamed.txt"),
            )
            .unwrap();
        }
        backup(&env);
    }
    let pass = pass_file(&env);
    for (snapshot, want) in [("1", first_tree.clone()), ("10", env.src())] {
        let target = env.path(format!("by-hand-{snapshot}"));
        run_ok(
            env.cmd("bash")
                .arg(env!("CARGO_MANIFEST_DIR").to_string() + "/scripts/restore-by-hand.sh")
                .arg(env.dest())
                .arg(&target)
                .arg(snapshot)
                .env("PASSFILE", &pass),
        );
        assert_trees_equal(&want, &target);
    }
}
