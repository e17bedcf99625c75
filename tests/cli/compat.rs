//! Every format version ever written stays readable: a small backup set written by the butcher
//! of each older format version is kept in tests/fixtures/format-vN, and today's butcher must
//! restore each of its snapshots exactly and verify it.
//!
//! | fixture   | written by the butcher of |
//! |-----------|---------------------------|
//! | format-v2 | 4d0623b                   |
//! | format-v3 | cade014                   |
//! | format-v4 | d2838ac                   |
//! | format-v5 | 4d8d6dd                   |
//!
//! To write the fixture of a version again (only ever with a butcher of that version, built
//! from a commit that writes it, e.g. in a `git worktree` of that commit):
//!
//! `BUTCHER_FIXTURE_BINARY=/path/to/butcher-of-that-version cargo test --test cli compat::`
//!
//! The version is read from what the binary writes (line 2 of each disc's README.txt,
//! `... format version N ...`), and tests/fixtures/format-vN is replaced; no other fixture is
//! touched. `BUTCHER_FIXTURE_VERSION=N` may be set as well: the version read must then be N
//! (and for a binary whose README does not state its version, N is taken as it).
//! `BUTCHER_FIXTURE_ARGS` adds options to both runs (a `--disc-size` among them replaces the
//! default 640K): the format-5 fixture was written with
//! `BUTCHER_FIXTURE_ARGS="--parity-discs=2 --disc-size=1M"`, so it holds a parity disc after
//! its two data discs.
//! To add the fixture of a new version, add a `format_vN_restores_exactly` test below.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use crate::common::{assert_trees_equal, disc_dirs, run_ok, sha256_file, TestEnv};

pub const PASS: &str = "fixture passphrase";

/// The disc size the fixtures are written for: `--disc-size 640K`.
const DISC_SIZE: u64 = 640 * 1024;

pub fn fixture_dir(version: u32) -> PathBuf {
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
pub fn fixture_tree(root: &Path, run: u32) {
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

/// Line 2 of a disc's README.txt: `backup set ID, format version V[, disc size N bytes]`.
fn readme_line2(disc: &Path) -> String {
    let readme = fs::read_to_string(disc.join("README.txt")).unwrap();
    readme
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("{disc:?}: README.txt has no line 2"))
        .to_owned()
}

/// The format version line 2 of a disc's README names, if it names one.
fn readme_version(disc: &Path) -> Option<u32> {
    let line = readme_line2(disc);
    let rest = line.split_once("format version ")?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The format version of the discs in `dest` a fixture binary wrote: what their READMEs say
/// (all the same), checked against `BUTCHER_FIXTURE_VERSION` when that is set, or taken from
/// it when the READMEs say nothing.
fn written_version(dest: &Path) -> u32 {
    let wanted = std::env::var("BUTCHER_FIXTURE_VERSION").ok().map(|v| {
        v.trim()
            .parse::<u32>()
            .unwrap_or_else(|_| panic!("BUTCHER_FIXTURE_VERSION={v:?} is not a number"))
    });
    let discs = disc_dirs(dest);
    assert!(!discs.is_empty(), "the fixture binary wrote no disc");
    let mut read: Vec<Option<u32>> = discs.iter().map(|d| readme_version(d)).collect();
    read.dedup();
    assert_eq!(
        read.len(),
        1,
        "the discs' READMEs disagree on the version: {read:?}"
    );
    match (read[0], wanted) {
        (Some(r), Some(w)) => {
            assert_eq!(
                r, w,
                "the binary writes format {r}, BUTCHER_FIXTURE_VERSION is {w}"
            );
            r
        }
        (Some(r), None) => r,
        (None, Some(w)) => w,
        (None, None) => {
            panic!("the binary's READMEs name no format version: set BUTCHER_FIXTURE_VERSION")
        }
    }
}

/// Writes a fixture with `binary`, a butcher of an older (or today's) format version: two
/// runs of the fixture tree, encrypted, on discs small enough that each run fills its own.
/// Replaces tests/fixtures/format-vN for the version N the binary writes, and returns N.
fn write_fixture(binary: &Path) -> u32 {
    let env = TestEnv::new().with_passphrase(PASS);
    let extra: Vec<String> = std::env::var("BUTCHER_FIXTURE_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // A disc size among them replaces the default one.
    let disc_size: &[&str] = if extra.iter().any(|a| a.starts_with("--disc-size")) {
        &[]
    } else {
        &["--disc-size", "640K"]
    };
    let backup = |run: u32| {
        fixture_tree(&env.src(), run);
        run_ok(
            env.cmd(binary)
                .arg("backup")
                .arg(env.src())
                .arg(env.dest())
                .args(["--archive-size", "64K", "-q"])
                .args(disc_size)
                .args(&extra),
        );
    };
    backup(1);
    backup(2);
    let version = written_version(&env.dest());
    let out = fixture_dir(version);
    if out.exists() {
        fs::remove_dir_all(&out).unwrap();
    }
    fs::create_dir_all(&out).unwrap();
    for d in disc_dirs(&env.dest()) {
        run_ok(env.cmd("cp").arg("-r").arg(&d).arg(&out));
    }
    version
}

/// When `BUTCHER_FIXTURE_BINARY` is set, writes the fixture of its version once per test
/// process, before any test reads a fixture.
fn write_fixture_if_asked() {
    static WRITTEN: OnceLock<Option<u32>> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let binary = std::env::var_os("BUTCHER_FIXTURE_BINARY")?;
        let version = write_fixture(Path::new(&binary));
        eprintln!("wrote {:?}", fixture_dir(version));
        Some(version)
    });
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

/// The fixture of `version` is two discs, one a run, each saying `version` on line 2 of its
/// README; butcher of today restores both its snapshots exactly and verifies it. Returns the
/// discs for the checks particular to the version.
fn fixture_restores_exactly(version: u32) -> Vec<PathBuf> {
    write_fixture_if_asked();
    let dir = fixture_dir(version);
    assert!(dir.is_dir(), "{dir:?} is missing");
    let discs = disc_dirs(&dir);
    let data = discs
        .iter()
        .filter(|d| !d.join("PARITY.txt").exists())
        .count();
    assert_eq!(data, 2, "the fixture has one data disc per run");
    let mut sets = Vec::new();
    for d in &discs {
        assert_eq!(
            readme_version(d),
            Some(version),
            "{d:?}: {}",
            readme_line2(d)
        );
        let line2 = readme_line2(d);
        sets.push(line2.split(',').next().unwrap().to_owned());
    }
    sets.dedup();
    assert_eq!(sets.len(), 1, "the discs are of one backup set: {sets:?}");
    restores_exactly(version, 2);
    restores_exactly(version, 1);
    let env = TestEnv::new().with_passphrase(PASS);
    env.butcher_ok(["verify".as_ref(), dir.as_os_str(), "--deep".as_ref()]);
    discs
}

/// The names SHA256SUMS of `disc` lists, in its order.
fn sums_names(disc: &Path) -> Vec<String> {
    fs::read_to_string(disc.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| l.split_once("  ").unwrap().1.to_owned())
        .collect()
}

/// Format 2: no FORMAT.txt, and line 2 of the README ends with the version (no disc size).
#[test]
fn format_v2_restores_exactly() {
    for d in fixture_restores_exactly(2) {
        assert!(!d.join("FORMAT.txt").exists(), "{d:?}");
        assert!(!sums_names(&d).iter().any(|n| n == "FORMAT.txt"), "{d:?}");
        let line2 = readme_line2(&d);
        assert!(line2.ends_with("format version 2"), "{line2}");
    }
}

/// Format 3: FORMAT.txt (format.md of version 3) on every disc, listed last in SHA256SUMS
/// with its checksum, the same on every disc and named by the README, and the disc size on
/// line 2 of the README.
#[test]
fn format_v3_restores_exactly() {
    let mut texts = Vec::new();
    for d in fixture_restores_exactly(3) {
        let format = d.join("FORMAT.txt");
        assert!(format.is_file(), "{d:?} has no FORMAT.txt");
        let text = fs::read_to_string(&format).unwrap();
        texts.push(text.clone());
        assert_eq!(
            text.lines().next(),
            Some("# butcher format, version 3"),
            "{format:?}"
        );
        let sums = fs::read_to_string(d.join("SHA256SUMS")).unwrap();
        let last = sums.lines().last().unwrap();
        assert_eq!(
            last,
            format!("{}  FORMAT.txt", sha256_file(&format)),
            "{d:?}: FORMAT.txt is last in SHA256SUMS, with its checksum"
        );
        let readme = fs::read_to_string(d.join("README.txt")).unwrap();
        assert!(
            readme.contains("FORMAT.txt"),
            "{d:?}: README names FORMAT.txt"
        );
        let line2 = readme_line2(&d);
        assert!(
            line2.ends_with(&format!(", format version 3, disc size {DISC_SIZE} bytes")),
            "{line2}"
        );
    }
    texts.dedup();
    assert_eq!(texts.len(), 1, "FORMAT.txt is the same on every disc");
}

/// Format 4: recovery files (disc-NNNN.par2 and its volume files) on every disc, listed in
/// SHA256SUMS after FORMAT.txt, protecting every other file but SHA256SUMS; par2cmdline
/// verifies them when it is installed.
#[test]
fn format_v4_restores_exactly() {
    for d in fixture_restores_exactly(4) {
        let line2 = readme_line2(&d);
        assert!(
            line2.ends_with(&format!(", format version 4, disc size {DISC_SIZE} bytes")),
            "{line2}"
        );
        let names = sums_names(&d);
        let at_format = names.iter().position(|n| n == "FORMAT.txt").unwrap();
        let recovery: Vec<String> = names[at_format + 1..].to_vec();
        let base = d.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(recovery.first(), Some(&format!("{base}.par2")), "{d:?}");
        assert!(recovery.len() >= 2, "{d:?}: index and volume files");
        let set = butcher_par2::load(&d, &recovery).unwrap();
        let mut protected: Vec<String> = set.files.iter().map(|f| f.name.clone()).collect();
        protected.sort();
        let mut others: Vec<String> = names[..=at_format].to_vec();
        others.sort();
        assert_eq!(
            protected, others,
            "{d:?}: every file but SHA256SUMS is protected"
        );
        if crate::common::require_tool("par2") {
            let out = std::process::Command::new("par2")
                .args(["verify", "-q", &format!("{base}.par2")])
                .current_dir(&d)
                .output()
                .unwrap();
            assert!(out.status.success(), "{d:?}: par2 verify: {out:?}");
        }
    }
}

/// Format 5: a parity disc (disc 3) after the two data discs, with PARITY.txt and its pieces;
/// each data disc, lost, is rebuilt from it: by restore (both snapshots exact) and by
/// `rebuild-disc`, file for file.
#[test]
fn format_v5_restores_exactly() {
    let discs = fixture_restores_exactly(5);
    let parity: Vec<&PathBuf> = discs
        .iter()
        .filter(|d| d.join("PARITY.txt").is_file())
        .collect();
    assert_eq!(parity.len(), 1, "one parity disc");
    let text = fs::read_to_string(parity[0].join("PARITY.txt")).unwrap();
    assert!(text.contains("protects 0001 0002"), "{text}");
    for lost in [1u32, 2] {
        let env = TestEnv::new().with_passphrase(PASS);
        let shelf = env.path("shelf");
        fs::create_dir_all(&shelf).unwrap();
        for d in &discs {
            if crate::common::disc_number(d) != lost {
                run_ok(env.cmd("cp").arg("-r").arg(d).arg(&shelf));
            }
        }
        for snapshot in [1u32, 2] {
            let target = env.path(format!("target-{snapshot}"));
            env.butcher_ok([
                "restore".as_ref(),
                shelf.as_os_str(),
                target.as_os_str(),
                "--snapshot".as_ref(),
                snapshot.to_string().as_ref(),
            ]);
            let expected = env.path(format!("expected-{snapshot}"));
            fixture_tree(&expected, snapshot);
            assert_trees_equal(&expected, &target);
        }
        let out = env.path("rebuilt");
        env.butcher_ok([
            "rebuild-disc".as_ref(),
            shelf.as_os_str(),
            lost.to_string().as_ref(),
            out.as_os_str(),
        ]);
        let original = &discs[lost as usize - 1];
        for ent in fs::read_dir(original).unwrap() {
            let p = ent.unwrap().path();
            let name = p.file_name().unwrap();
            assert_eq!(
                sha256_file(&p),
                sha256_file(&out.join(name)),
                "{name:?} of disc {lost}"
            );
        }
    }
}
