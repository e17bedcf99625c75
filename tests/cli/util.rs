//! Shared steps of the integration tests: a standard backup of the hostile tree, disc checks.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::{make_hostile_tree, TreeFacts};
use crate::common::{disc_dirs, require_tool, TestEnv};

pub const PASS: &str = "correct horse battery staple";
/// Archive and disc sizes small enough that the hostile tree spans several of each.
pub const ARCHIVE: u64 = 64 * 1024;
pub const DISC: u64 = 640 * 1024;

/// A TestEnv with the passphrase in the environment and the hostile tree in src/.
pub fn hostile_env() -> (TestEnv, TreeFacts) {
    let env = TestEnv::new().with_passphrase(PASS);
    let facts = make_hostile_tree(&env.src(), ARCHIVE);
    (env, facts)
}

/// `butcher backup src dest` with the small sizes and `extra` arguments.
pub fn backup(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "backup".into(),
        env.src().display().to_string(),
        env.dest().display().to_string(),
        "--archive-size".into(),
        ARCHIVE.to_string(),
        "--disc-size".into(),
        DISC.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.butcher_ok(&args)
}

/// Files directly inside a disc directory, by name.
pub fn disc_files(disc: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(disc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Archive files on all discs.
pub fn archives(dest: &Path) -> Vec<PathBuf> {
    disc_dirs(dest)
        .iter()
        .flat_map(|d| disc_files(d))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with('a') && n.contains(".tar")
        })
        .collect()
}

/// Writes the passphrase to a file and returns its path.
pub fn pass_file(env: &TestEnv) -> PathBuf {
    let p = env.path("pass");
    fs::write(&p, format!("{PASS}\n")).unwrap();
    p
}

/// `butcher restore dest target`, then the restored tree must equal src.
pub fn restore_and_compare(env: &TestEnv) {
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
    ]);
    crate::common::assert_trees_equal(env.src(), env.target());
}

/// True when every tool the by-hand restore script uses is installed (see `require_tool`).
pub fn by_hand_tools_present() -> bool {
    ["bash", "gpg", "tar", "bzip2", "sqlite3", "sha256sum"]
        .iter()
        .all(|t| require_tool(t))
}

/// Two runs onto discs of 900K: the first stores four 500,000-byte random files and a note
/// (at least two discs), the second three more files and a changed note; four discs or more
/// in all. `extra` goes to both `butcher backup` commands.
pub fn two_run_set(env: &TestEnv, extra: &[&str]) {
    let backup = || {
        let mut args = vec![
            "backup".to_string(),
            env.src().display().to_string(),
            env.dest().display().to_string(),
            "--archive-size=256K".to_string(),
            "--disc-size=900K".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        env.butcher_ok(&args);
    };
    let write = |rel: &str, seed: u64| {
        let p = env.src().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, crate::common::tree::Rng::new(seed).bytes(500_000)).unwrap();
    };
    for i in 0..4 {
        write(&format!("one/f{i}.bin"), 30 + i);
    }
    std::fs::write(env.src().join("notes.txt"), "run one\n".repeat(50)).unwrap();
    backup();
    let first_run = crate::common::disc_dirs(&env.dest()).len();
    assert!(first_run >= 2, "the first run wrote {first_run} disc(s)");
    for i in 0..3 {
        write(&format!("two/g{i}.bin"), 40 + i);
    }
    std::fs::write(env.src().join("notes.txt"), "run two\n".repeat(50)).unwrap();
    backup();
    let discs = crate::common::disc_dirs(&env.dest()).len();
    assert!(discs >= 4, "{discs} discs");
}

/// `butcher restore DEST TARGET --snapshot N --quiet`, which must succeed.
pub fn restore_snapshot(env: &TestEnv, snapshot: u32, target: &Path) {
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        target.as_os_str(),
        "--snapshot".as_ref(),
        snapshot.to_string().as_ref(),
        "--quiet".as_ref(),
    ]);
}
