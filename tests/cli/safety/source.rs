//! Trouble in the source tree: what an unprivileged user cannot read, a FIFO, a file that
//! grows while it is read. The backup finishes, names what it left out, and everything else
//! comes back exactly.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::tree::{make_small_tree, Rng};
use crate::common::{is_root, require_tool, run_ok, run_within, stderr, TestEnv};
use crate::util::PASS;

use super::{assert_differences, missing_line, restore, shown, tree_differences};

/// How long a backup of these small trees may take. A backup that opens a FIFO for reading
/// (no writer ever comes) or reads a growing file until it stops growing never ends: the
/// limit makes that a failure instead of a hang.
const BACKUP_LIMIT: Duration = Duration::from_secs(120);

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory every user may enter, outside the 0700 TestEnv, with a copy of the binary
/// (the build directory may be out of reach of an unprivileged user).
struct OpenArea {
    dir: tempfile::TempDir,
}

impl OpenArea {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("butcher-unprivileged-")
            .tempdir_in(std::env::temp_dir())
            .unwrap();
        chmod(dir.path(), 0o755);
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        chmod(&bin, 0o755);
        fs::copy(TestEnv::butcher_exe(), bin.join("butcher")).unwrap();
        chmod(&bin.join("butcher"), 0o755);
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        chmod(&out, 0o777);
        OpenArea { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for OpenArea {
    fn drop(&mut self) {
        crate::common::make_writable(self.dir.path());
    }
}

/// `butcher ARGS` as user nobody when the tests run as root (as CI does), else as is.
fn unprivileged(env: &TestEnv, area: &OpenArea) -> Option<Command> {
    let exe = area.path("bin/butcher");
    let mut cmd = if is_root() {
        if !require_tool("setpriv") {
            return None;
        }
        let mut c = env.cmd("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
        c
    } else {
        env.cmd(exe)
    };
    cmd.current_dir(area.dir.path());
    Some(cmd)
}

#[test]
fn unreadable_paths_and_a_fifo_are_skipped_and_named_the_rest_restores_exactly() {
    if !require_tool("mkfifo") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let area = OpenArea::new();
    let src = area.path("src");
    make_small_tree(&src);
    chmod(&src, 0o755);
    fs::write(src.join("secret.bin"), b"nobody may read this\n").unwrap();
    chmod(&src.join("secret.bin"), 0o000);
    fs::create_dir(src.join("locked")).unwrap();
    fs::write(src.join("locked/inner.txt"), b"behind a locked door\n").unwrap();
    chmod(&src.join("locked"), 0o000);
    run_ok(env.cmd("mkfifo").arg(src.join("pipe")));

    let Some(mut cmd) = unprivileged(&env, &area) else {
        return;
    };
    let dest = area.path("out/dest");
    cmd.arg("backup").arg(&src).arg(&dest);
    let out = run_within(&mut cmd, BACKUP_LIMIT);
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(3), "{err}");
    if is_root() {
        let owner = fs::metadata(dest.join("catalogue.db")).unwrap().uid();
        assert_eq!(owner, 65534, "the backup did not run as nobody");
    }
    for name in ["secret.bin", "locked"] {
        let line = err
            .lines()
            .find(|l| l.contains("warning") && l.contains(&format!("src/{name}:")))
            .unwrap_or_else(|| panic!("no warning names {name}:\n{err}"));
        assert!(line.contains("Permission denied"), "{line}");
    }
    let pipe = err
        .lines()
        .find(|l| l.contains("src/pipe:"))
        .unwrap_or_else(|| panic!("the FIFO is not mentioned:\n{err}"));
    assert!(
        pipe.contains("left out") && !pipe.contains("warning"),
        "the FIFO deserves a note, not a warning: {pipe}"
    );

    let target = env.target();
    let out = restore(&env, &dest, &target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The locked directory itself was recorded (its parent lists it), its contents not.
    let locked = fs::metadata(target.join("locked")).unwrap();
    assert!(locked.is_dir());
    assert_eq!(locked.mode() & 0o7777, 0o000);
    chmod(&src.join("locked"), 0o700);
    chmod(&target.join("locked"), 0o700);
    assert_eq!(fs::read_dir(target.join("locked")).unwrap().count(), 0);
    assert_differences(
        &src,
        &target,
        [
            missing_line(Path::new("secret.bin"), "file"),
            missing_line(Path::new("locked/inner.txt"), "file"),
            missing_line(Path::new("pipe"), "fifo"),
        ],
    );
}

/// Appends a few bytes to `path` every 2 ms until `stop` is set.
fn keep_appending(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        let mut appended = 0;
        while !stop.load(Ordering::Relaxed) {
            f.write_all(b"more\n").unwrap();
            appended += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        appended
    })
}

/// Regression: a FIFO was counted as a file not backed up, so a tree holding one (or a
/// socket) made every run exit 3.
#[test]
fn a_fifo_alone_is_noted_and_the_run_is_complete() {
    if !require_tool("mkfifo") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    make_small_tree(&env.src());
    run_ok(env.cmd("mkfifo").arg(env.src().join("pipe")));
    let out = run_within(
        env.butcher_command()
            .arg("backup")
            .arg(env.src())
            .arg(env.dest()),
        BACKUP_LIMIT,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("left out") && l.contains("src/pipe:")),
        "the FIFO is not noted:\n{err}"
    );
    let out = restore(&env, &env.dest(), &env.target(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_differences(
        &env.src(),
        &env.target(),
        [missing_line(Path::new("pipe"), "fifo")],
    );
}

#[test]
fn a_file_growing_during_the_backup_is_a_consistent_prefix_or_flagged() {
    const SIZE: usize = 30 << 20;
    let env = TestEnv::new().with_passphrase(PASS);
    make_small_tree(&env.src());
    let growing = env.src().join("growing.log");
    fs::write(&growing, Rng::new(7).bytes(SIZE)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let appender = keep_appending(growing.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(20));
    let out = run_within(
        env.butcher_command()
            .arg("backup")
            .arg(env.src())
            .arg(env.dest())
            .args(["--compression", "none"]),
        BACKUP_LIMIT,
    );
    stop.store(true, Ordering::Relaxed);
    let appends = appender.join().unwrap();
    let err = stderr(&out);
    let flagged = err.contains("growing.log");
    match out.status.code() {
        Some(0) => assert!(!flagged, "exit 0 but a warning:\n{err}"),
        Some(3) => assert!(flagged, "exit 3 without naming the file:\n{err}"),
        other => panic!("backup exited with {other:?}:\n{err}"),
    }
    eprintln!(
        "{appends} appends during the run; backup exit {:?}",
        out.status.code()
    );
    assert!(appends > 10, "the file hardly grew during the run");

    let final_bytes = fs::read(&growing).unwrap();
    let target = env.target();
    let out = restore(&env, &env.dest(), &target, &[]);
    let restored = target.join("growing.log");
    if restored.exists() {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let got = fs::read(&restored).unwrap();
        assert!(got.len() >= SIZE, "restored {} bytes", got.len());
        assert!(
            final_bytes.starts_with(&got),
            "the restored file ({} bytes) is not the file as it was at some moment",
            got.len()
        );
    } else {
        assert!(flagged, "not restored, yet the backup did not flag it");
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("not restored: growing.log"));
    }
    // Everything else is exact.
    let name = shown(Path::new("growing.log"));
    let others: Vec<String> = tree_differences(&env.src(), &target)
        .into_iter()
        .filter(|l| !l.starts_with(&format!("{name}:")))
        .collect();
    assert_eq!(others, Vec::<String>::new());
}
