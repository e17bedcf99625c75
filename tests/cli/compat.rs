//! Every format version ever written stays readable: a small backup set written by an older
//! butcher is kept in tests/fixtures, and today's butcher must restore each of its snapshots
//! exactly.
//!
//! To write the fixture again (only ever with the butcher of that version):
//! `BUTCHER_FIXTURE_BINARY=/path/to/old/butcher cargo test --test cli compat::`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::common::{assert_trees_equal, disc_dirs, run_ok, TestEnv};

const PASS: &str = "fixture passphrase";

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/format-v{version}"))
}

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let t = UNIX_EPOCH + Duration::new(secs, nanos);
    let f = fs::File::open(path).unwrap();
    f.set_times(fs::FileTimes::new().set_modified(t)).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The tree of the fixture's snapshot `run` (1 or 2), every mode and mtime fixed.
fn fixture_tree(root: &Path, run: u32) {
    fs::create_dir_all(root.join("dir/empty")).unwrap();
    let big: Vec<u8> = (0..150_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut files: Vec<(&str, Vec<u8>, u32)> = vec![
        ("a.txt", b"alpha\n".to_vec(), 0o644),
        ("dup.txt", b"alpha\n".to_vec(), 0o600),
        ("dir/big.bin", big, 0o644),
        ("dir/empty.txt", Vec::new(), 0o644),
        ("note.txt", format!("run {run}\n").into_bytes(), 0o640),
    ];
    if run == 2 {
        files.push(("dir/b.txt", b"beta\n".to_vec(), 0o644));
    }
    for (name, data, mode) in &files {
        let p = root.join(name);
        fs::write(&p, data).unwrap();
        set_mode(&p, *mode);
        set_mtime(&p, 1_600_000_000 + u64::from(run), 123_456_789);
    }
    let link = root.join("link");
    if !link.exists() {
        std::os::unix::fs::symlink("a.txt", &link).unwrap();
    }
    for (dir, mode) in [("dir/empty", 0o700), ("dir", 0o755)] {
        let p = root.join(dir);
        set_mode(&p, mode);
        set_mtime(&p, 1_600_000_100, 500_000_000);
    }
}

/// Writes the fixture of `version` with `binary`, a butcher of that version: two runs of
/// the fixture tree, encrypted, on discs small enough that each run fills its own.
fn write_fixture(binary: &Path, version: u32) {
    let env = TestEnv::new().with_passphrase(PASS);
    let backup = |run: u32| {
        fixture_tree(&env.src(), run);
        run_ok(
            env.cmd(binary)
                .arg("backup")
                .arg(env.src())
                .arg(env.dest())
                .args(["--archive-size", "64K", "--disc-size", "640K", "-q"]),
        );
    };
    backup(1);
    backup(2);
    let out = fixture_dir(version);
    if out.exists() {
        fs::remove_dir_all(&out).unwrap();
    }
    fs::create_dir_all(&out).unwrap();
    for d in disc_dirs(&env.dest()) {
        run_ok(env.cmd("cp").arg("-r").arg(&d).arg(&out));
    }
}

/// Restores snapshot `snapshot` of the fixture of `version` and compares it with its tree.
fn restores_exactly(version: u32, snapshot: u32) {
    let env = TestEnv::new().with_passphrase(PASS);
    let discs = fixture_dir(version);
    env.butcher_ok([
        "restore".as_ref(),
        discs.as_os_str(),
        env.target().as_os_str(),
        "--snapshot".as_ref(),
        snapshot.to_string().as_ref(),
    ]);
    let expected = env.path("expected");
    fixture_tree(&expected, snapshot);
    assert_trees_equal(&expected, env.target());
}

/// The format-2 fixture is what a format-2 butcher wrote: no FORMAT.txt, version 2 in every
/// README, and butcher of today restores both its snapshots exactly and verifies it.
#[test]
fn a_format_2_set_restores_exactly() {
    if let Some(binary) = std::env::var_os("BUTCHER_FIXTURE_BINARY") {
        write_fixture(Path::new(&binary), 2);
    }
    let discs = disc_dirs(&fixture_dir(2));
    assert_eq!(discs.len(), 2, "the fixture has one disc per run");
    for d in &discs {
        assert!(!d.join("FORMAT.txt").exists());
        let readme = fs::read_to_string(d.join("README.txt")).unwrap();
        let line2 = readme.lines().nth(1).unwrap();
        assert!(line2.ends_with("format version 2"), "{line2}");
    }
    restores_exactly(2, 2);
    restores_exactly(2, 1);
    let env = TestEnv::new().with_passphrase(PASS);
    env.butcher_ok([
        "verify".as_ref(),
        fixture_dir(2).as_os_str(),
        "--deep".as_ref(),
    ]);
}
