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
