//! Self-tests of the shared test harness in `tests/common`.

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

const ARCHIVE_SIZE: u64 = 64 * 1024;

/// A small tree in `env.src()` and an exact copy in `env.target()`.
fn small_pair() -> TestEnv {
    let env = TestEnv::new();
    make_small_tree(&env.src());
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
    env
}

fn mtime_of(path: &Path) -> (i64, i64) {
    let md = fs::symlink_metadata(path).unwrap();
    (md.mtime(), md.mtime_nsec())
}

fn set_mtime(path: &Path, (secs, nanos): (i64, i64)) {
    let t = UNIX_EPOCH + Duration::new(secs as u64, nanos as u32);
    let f = fs::File::open(path).unwrap();
    f.set_times(fs::FileTimes::new().set_modified(t)).unwrap();
}

/// Runs `change` on `path`, then puts back the mtime of its parent dir, so
/// that only the intended difference remains.
fn keeping_parent_mtime(path: &Path, change: impl FnOnce()) {
    keeping_mtime(path.parent().unwrap(), change);
}

/// Asserts that the trees differ in exactly one reported difference,
/// mentioning `needle` (and `path`).
fn expect_single_difference(env: &TestEnv, path: &str, needle: &str) {
    let err = compare_trees(&env.src(), &env.target()).expect_err("trees should differ");
    let lines: Vec<&str> = err.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "expected exactly one difference:\n{err}");
    assert!(
        err.contains(needle),
        "difference should mention {needle:?}:\n{err}"
    );
    assert!(
        err.contains(&format!("{path:?}")),
        "should name {path:?}:\n{err}"
    );
    assert!(err.starts_with("1 difference(s)"), "{err}");
}

#[test]
fn env_layout() {
    let env = TestEnv::new();
    assert!(env.src().is_dir());
    assert!(!env.dest().exists());
    assert!(!env.target().exists());
    let gnupg = fs::metadata(env.gnupg_home()).unwrap();
    assert!(gnupg.is_dir());
    assert_eq!(gnupg.permissions().mode() & 0o7777, 0o700);
    for p in [env.src(), env.dest(), env.target(), env.gnupg_home()] {
        assert_eq!(p.parent().unwrap(), env.root());
    }
}

#[test]
fn cmd_sets_gnupghome_cwd_and_passphrase() {
    let env = TestEnv::new();
    let out = run_ok(env.cmd("sh").args([
        "-c",
        "printf '%s\\n' \"$GNUPGHOME\" \"$(pwd -P)\" \"${BUTCHER_PASSPHRASE-unset}\"",
    ]));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], env.gnupg_home().to_str().unwrap());
    assert_eq!(
        Path::new(lines[1]),
        fs::canonicalize(env.root()).unwrap().as_path()
    );
    assert_eq!(lines[2], "unset");

    let env = TestEnv::new().with_passphrase("correct horse");
    let out = run_ok(
        env.cmd("sh")
            .args(["-c", "printf '%s' \"$BUTCHER_PASSPHRASE\""]),
    );
    assert_eq!(out.stdout, b"correct horse");
}

#[test]
fn cmd_has_null_stdin_and_no_terminal() {
    let env = TestEnv::new();
    // With any other stdin, `cat` would wait for input: the limit makes that a failure.
    let out = run_within(
        env.cmd("sh").args([
            "-c",
            "cat; if (: < /dev/tty) 2>/dev/null; then echo tty; else echo no-tty; fi",
        ]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"no-tty\n");
}

#[test]
#[should_panic(expected = "timed out: still running after 1s, killed")]
fn run_within_kills_a_hanging_command_and_what_it_started() {
    let env = TestEnv::new();
    // The background sleep holds stdout open: only killing the whole group ends the run.
    run_within(
        env.cmd("sh").args(["-c", "sleep 300 & echo started; wait"]),
        Duration::from_secs(1),
    );
}

#[test]
fn run_with_input_feeds_stdin() {
    let env = TestEnv::new();
    let out = run_with_input(
        env.cmd("sh")
            .args(["-c", "read a; read b; echo \"$b $a\"; echo err >&2"]),
        b"one\ntwo\n",
        Duration::from_secs(60),
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out), "two one\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn damage_helpers_change_only_what_they_say() {
    let env = TestEnv::new();
    let p = env.src().join("f");
    fs::write(&p, [0u8, 1, 2, 3, 4]).unwrap();
    set_mtime(&p, (1_600_000_000, 123_456_789));
    keeping_mtime(&p, || flip_byte(&p, 1));
    assert_eq!(fs::read(&p).unwrap(), [0, 0xfe, 2, 3, 4]);
    assert_eq!(mtime_of(&p), (1_600_000_000, 123_456_789));
    flip_middle_byte(&p);
    assert_eq!(fs::read(&p).unwrap(), [0, 0xfe, 0xfd, 3, 4]);
    truncate_to_half(&p);
    assert_eq!(fs::read(&p).unwrap(), [0, 0xfe]);
    let panic = std::panic::catch_unwind(|| flip_byte(&p, 2)).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("has only 2 bytes"), "{msg}");
}

#[test]
fn sha256_helpers_give_lowercase_hex() {
    let env = TestEnv::new();
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(sha256_hex(b"abc"), abc);
    let p = env.src().join("abc");
    fs::write(&p, b"abc").unwrap();
    assert_eq!(sha256_file(&p), abc);
}

#[test]
fn butcher_help_runs() {
    let env = TestEnv::new();
    let out = env.butcher_ok(["--help"]);
    assert!(!out.stdout.is_empty());
}

#[test]
fn butcher_accepts_mixed_argument_types() {
    let env = TestEnv::new();
    let src = env.src();
    let out = env.butcher([os("--help"), os(&src)]);
    assert!(out.status.code().is_some());
    let out = env.butcher(["--help".as_ref(), src.as_os_str()]);
    assert!(out.status.code().is_some());
    let out = env.butcher(vec![String::from("--help")]);
    assert!(out.status.code().is_some());
}

#[test]
#[should_panic(expected = "expected exit code 97")]
fn butcher_fails_panics_on_other_exit_code() {
    let env = TestEnv::new();
    env.butcher_fails(["--help"], 97);
}

#[test]
fn require_tool_finds_tools() {
    assert!(require_tool("sh"));
    assert!(find_tool("sh").is_some());
    assert!(find_tool("/bin/sh").is_some());
    assert!(find_tool("butcher-no-such-tool-xyz").is_none());
    if std::env::var_os(REQUIRE_TOOLS_ENV).as_deref() != Some(OsStr::new("1")) {
        assert!(!require_tool("butcher-no-such-tool-xyz"));
    }
}

#[test]
fn identical_small_trees_compare_equal() {
    let env = small_pair();
    assert_eq!(compare_trees(&env.src(), &env.src()), Ok(()));
    assert_eq!(compare_trees(&env.src(), &env.target()), Ok(()));
}

#[test]
fn detects_changed_byte() {
    let env = small_pair();
    let p = env.target().join("a/b/three.txt");
    keeping_mtime(&p, || flip_byte(&p, 1234));
    expect_single_difference(&env, "a/b/three.txt", "byte offset 1234");
}

#[test]
fn detects_changed_last_byte_of_large_file() {
    let env = TestEnv::new();
    let data = Rng::new(7).bytes(3 * 65536 + 5);
    fs::write(env.src().join("big"), &data).unwrap();
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
    let p = env.target().join("big");
    keeping_mtime(&p, || flip_byte(&p, data.len() - 1));
    expect_single_difference(&env, "big", &format!("byte offset {}", data.len() - 1));
}

#[test]
fn detects_changed_size() {
    let env = small_pair();
    let p = env.target().join("c/seven.txt");
    keeping_mtime(&p, || {
        let mut data = fs::read(&p).unwrap();
        data.push(b'\n');
        fs::write(&p, &data).unwrap();
    });
    expect_single_difference(&env, "c/seven.txt", "size");
}

#[test]
fn detects_changed_file_mode() {
    let env = small_pair();
    let p = env.target().join("a/one.txt");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    expect_single_difference(&env, "a/one.txt", "mode differs: 0644 in a, 0600 in b");
}

#[test]
fn detects_changed_dir_mode() {
    let env = small_pair();
    let p = env.target().join("a/b");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
    expect_single_difference(&env, "a/b", "mode differs: 0755 in a, 0750 in b");
}

#[test]
fn detects_changed_file_mtime_by_one_nanosecond() {
    let env = small_pair();
    let p = env.target().join("a/two.txt");
    let (s, ns) = mtime_of(&p);
    let changed = if ns < 999_999_999 {
        (s, ns + 1)
    } else {
        (s, ns - 1)
    };
    set_mtime(&p, changed);
    expect_single_difference(&env, "a/two.txt", "mtime differs");
}

#[test]
fn detects_changed_file_mtime_seconds() {
    let env = small_pair();
    let p = env.target().join("readme.txt");
    let (s, ns) = mtime_of(&p);
    set_mtime(&p, (s + 1, ns));
    expect_single_difference(&env, "readme.txt", "mtime differs");
}

#[test]
fn detects_changed_dir_mtime() {
    let env = small_pair();
    let p = env.target().join("a/b/c");
    let (s, ns) = mtime_of(&p);
    set_mtime(&p, (s - 10, ns));
    expect_single_difference(&env, "a/b/c", "mtime differs");
}

#[test]
fn detects_changed_symlink_target() {
    let env = TestEnv::new();
    make_small_tree(&env.src());
    std::os::unix::fs::symlink("a/one.txt", env.src().join("link")).unwrap();
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
    let link = env.target().join("link");
    keeping_parent_mtime(&link, || {
        fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("a/two.txt", &link).unwrap();
    });
    expect_single_difference(&env, "link", "symlink target differs");
}

#[test]
fn symlinks_are_not_followed() {
    let env = TestEnv::new();
    fs::create_dir(env.src().join("real")).unwrap();
    fs::write(env.src().join("real/f"), b"x").unwrap();
    std::os::unix::fs::symlink("real", env.src().join("link")).unwrap();
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
    // A symlink in b where a has the directory it points to.
    let link = env.target().join("real");
    keeping_parent_mtime(&link, || {
        fs::remove_dir_all(&link).unwrap();
        std::os::unix::fs::symlink("elsewhere", &link).unwrap();
    });
    let err = compare_trees(&env.src(), &env.target()).unwrap_err();
    assert!(
        err.contains("\"real\": type differs: dir in a, symlink in b"),
        "{err}"
    );
    assert!(err.contains("\"real/f\": missing in b"), "{err}");
}

#[test]
fn detects_missing_file() {
    let env = small_pair();
    let p = env.target().join("a/b/c/five.txt");
    keeping_parent_mtime(&p, || fs::remove_file(&p).unwrap());
    expect_single_difference(&env, "a/b/c/five.txt", "missing in b");
}

#[test]
fn detects_extra_file() {
    let env = small_pair();
    let p = env.target().join("c/d/extra.txt");
    keeping_parent_mtime(&p, || fs::write(&p, b"extra").unwrap());
    expect_single_difference(&env, "c/d/extra.txt", "extra in b");
}

#[test]
fn detects_extra_empty_dir() {
    let env = small_pair();
    let p = env.target().join("new-dir");
    keeping_parent_mtime(&p, || fs::create_dir(&p).unwrap());
    expect_single_difference(&env, "new-dir", "extra in b (dir");
}

#[test]
fn detects_type_change() {
    let env = small_pair();
    let p = env.target().join("c/eight.bin");
    keeping_parent_mtime(&p, || {
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
    });
    expect_single_difference(&env, "c/eight.bin", "type differs: file in a, dir in b");
}

#[test]
fn detects_non_utf8_name_difference() {
    let env = TestEnv::new();
    fs::write(env.src().join(OsStr::from_bytes(b"n-\xff")), b"1").unwrap();
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
    let old = env.target().join(OsStr::from_bytes(b"n-\xff"));
    let new = env.target().join(OsStr::from_bytes(b"n-\xfe"));
    keeping_parent_mtime(&old, || fs::rename(&old, &new).unwrap());
    let err = compare_trees(&env.src(), &env.target()).unwrap_err();
    assert!(err.starts_with("2 difference(s)"), "{err}");
    assert!(err.contains("\"n-\\xFF\": missing in b"), "{err}");
    assert!(err.contains("\"n-\\xFE\": extra in b"), "{err}");
}

#[test]
fn reports_all_differences() {
    let env = small_pair();
    let t = env.target();
    fs::set_permissions(t.join("a/one.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(t.join("c/d/ten.txt")).unwrap();
    fs::write(t.join("a/extra"), b"").unwrap();
    let err = compare_trees(&env.src(), &t).unwrap_err();
    // mode of one.txt, missing ten.txt, extra file, mtimes of c/d and a.
    assert!(err.starts_with("5 difference(s)"), "{err}");
    for needle in [
        "\"a/one.txt\": mode differs",
        "\"c/d/ten.txt\": missing in b",
        "\"a/extra\": extra in b",
        "\"c/d\": mtime differs",
        "\"a\": mtime differs",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let panic = std::panic::catch_unwind(|| assert_trees_equal(env.src(), &t)).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("trees differ") && msg.contains("a/extra"),
        "{msg}"
    );
}

#[test]
fn missing_root_is_an_error() {
    let env = TestEnv::new();
    let err = compare_trees(&env.src(), &env.target()).unwrap_err();
    assert!(err.contains("target"), "{err}");
}

#[test]
fn small_tree_facts() {
    let env = TestEnv::new();
    let facts = make_small_tree(&env.src());
    assert_eq!(facts.files, 12);
    assert_eq!(facts.total_file_bytes, dir_size_bytes(env.src()));
    assert_eq!(list_files(&env.src()).len(), 12);
}

#[test]
fn hostile_tree_equals_its_cp_a_copy() {
    let env = TestEnv::new();
    make_hostile_tree(&env.src(), ARCHIVE_SIZE);
    cp_a(&env.src(), &env.target());
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn hostile_tree_is_deterministic() {
    let env = TestEnv::new();
    let f1 = make_hostile_tree(&env.src(), ARCHIVE_SIZE);
    let f2 = make_hostile_tree(&env.target(), ARCHIVE_SIZE);
    assert_eq!(f1.paths, f2.paths);
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn hostile_tree_has_what_it_promises() {
    let env = TestEnv::new();
    let root = env.src();
    let a = ARCHIVE_SIZE;
    let f = make_hostile_tree(&root, a);
    let md = |p: &Option<PathBuf>| fs::symlink_metadata(root.join(p.as_ref().unwrap())).unwrap();
    let mode = |p: &Option<PathBuf>| md(p).permissions().mode() & 0o7777;

    // Sizes.
    assert_eq!(f.total_file_bytes, dir_size_bytes(&root));
    assert!(
        f.total_file_bytes >= 11 * a && f.total_file_bytes <= 13 * a,
        "total {} for archive size {a}",
        f.total_file_bytes
    );
    assert_eq!(md(&f.exact_size_file).len(), a);
    assert_eq!(md(&f.minus_one_file).len(), a - 1);
    assert_eq!(md(&f.plus_one_file).len(), a + 1);
    assert_eq!(md(&f.big_file).len(), a * 7 / 2);
    assert_eq!(f.largest_file_bytes, a * 7 / 2);

    // Counts match a fresh walk.
    let all = walk(&root);
    assert_eq!(all, f.paths);
    assert_eq!(f.files, list_files(&root).len());
    assert!(f.files > 80, "{} files", f.files);

    // Modes.
    assert_eq!(mode(&f.private_dir), 0o700);
    assert_eq!(mode(&f.readonly_dir), 0o555);
    assert_eq!(mode(&f.readonly_file), 0o444);
    assert_eq!(mode(&f.executable_file), 0o755);
    assert_eq!(mode(&f.private_file), 0o600);

    // Empty things.
    for p in &f.empty_files {
        assert_eq!(fs::metadata(root.join(p)).unwrap().len(), 0);
    }
    for p in &f.empty_dirs {
        assert_eq!(fs::read_dir(root.join(p)).unwrap().count(), 0);
    }

    // Symlinks.
    assert!(f.symlinks >= 9);
    for p in &f.symlink_paths {
        assert!(md(&Some(p.clone())).file_type().is_symlink(), "{p:?}");
    }
    assert!(
        fs::read_link(root.join(f.absolute_symlink.as_ref().unwrap()))
            .unwrap()
            .is_absolute()
    );
    assert!(!root.join(f.dangling_symlink.as_ref().unwrap()).exists());
    assert!(root.join(f.dir_symlink.as_ref().unwrap()).is_dir());

    // Names.
    let non_utf8 = f.non_utf8_name.as_ref().unwrap();
    assert!(non_utf8.to_str().is_none());
    assert!(root.join(non_utf8).is_file());
    let long_name = f.long_name.as_ref().unwrap();
    assert_eq!(long_name.file_name().unwrap().len(), 200);
    assert!(f.long_path.as_ref().unwrap().as_os_str().len() > 300);
    let bytes: Vec<&[u8]> = f.paths.iter().map(|p| p.as_os_str().as_bytes()).collect();
    for needle in [
        &b" "[..],
        b"\n",
        b"\\",
        b"'",
        b"\"",
        b"*?[",
        b"/-",
        "é".as_bytes(),
        "日本".as_bytes(),
        "\u{1f980}".as_bytes(),
    ] {
        assert!(
            bytes
                .iter()
                .any(|b| b.windows(needle.len()).any(|w| w == needle)),
            "no name contains {:?}",
            OsStr::from_bytes(needle)
        );
    }

    // Duplicates and hard links.
    assert_eq!(f.duplicates.len(), 3);
    let first = fs::read(root.join(&f.duplicates[0])).unwrap();
    for p in &f.duplicates[1..] {
        assert_eq!(fs::read(root.join(p)).unwrap(), first);
    }
    let parents: std::collections::BTreeSet<_> =
        f.duplicates.iter().map(|p| p.parent().unwrap()).collect();
    assert_eq!(parents.len(), 3);
    let ino: Vec<u64> = f
        .hard_links
        .iter()
        .map(|p| fs::metadata(root.join(p)).unwrap().ino())
        .collect();
    assert_eq!(ino.len(), 2);
    assert_eq!(ino[0], ino[1]);

    // Mtimes: explicit, with nanoseconds, distinct per inode.
    let mut seen = std::collections::BTreeMap::new();
    for p in &f.paths {
        let m = fs::symlink_metadata(root.join(p)).unwrap();
        if m.file_type().is_symlink() {
            continue;
        }
        let t = (m.mtime(), m.mtime_nsec());
        if let Some(other) = seen.insert(t, (m.ino(), p.clone())) {
            assert_eq!(
                other.0,
                m.ino(),
                "{p:?} and {:?} share mtime {t:?}",
                other.1
            );
        }
    }
    let far = md(&f.far_future_file);
    assert!(far.mtime() > i64::from(i32::MAX));
    assert_eq!(far.mtime_nsec(), 999_999_999);
}

#[test]
fn drop_removes_read_only_trees() {
    let env = TestEnv::new();
    let root = env.root().to_path_buf();
    make_hostile_tree(&env.src(), 1024);
    fs::set_permissions(env.src(), fs::Permissions::from_mode(0o555)).unwrap();
    drop(env);
    assert!(!root.exists(), "{root:?} was not removed");
}

#[test]
fn make_writable_does_not_follow_symlinks() {
    let env = TestEnv::new();
    let outside = env.path("outside");
    fs::write(&outside, b"x").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o400)).unwrap();
    std::os::unix::fs::symlink(&outside, env.src().join("link")).unwrap();
    make_writable(&env.src());
    assert_eq!(
        fs::metadata(&outside).unwrap().permissions().mode() & 0o7777,
        0o400
    );
}

#[test]
fn disc_dirs_are_sorted_and_filtered() {
    let env = TestEnv::new();
    let dest = env.dest();
    for d in [
        "disc-0010",
        "disc-0002",
        "disc-0001",
        "disc-12345",
        "other",
        "disc-1",
        "disc-00a1",
    ] {
        fs::create_dir_all(dest.join(d)).unwrap();
    }
    fs::write(dest.join("disc-0003"), b"a file").unwrap();
    let names: Vec<String> = disc_dirs(&dest)
        .iter()
        .map(|p| {
            assert_eq!(p.parent().unwrap(), dest);
            p.file_name().unwrap().to_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(names, ["disc-0001", "disc-0002", "disc-0010", "disc-12345"]);
}

#[test]
fn disc_number_reads_the_directory_name() {
    assert_eq!(disc_number(Path::new("/x/dest/disc-0012")), 12);
    assert_eq!(disc_number(Path::new("disc-12345")), 12345);
    assert!(std::panic::catch_unwind(|| disc_number(Path::new("/x/other"))).is_err());
}

#[test]
fn dir_size_counts_regular_files_only() {
    let env = TestEnv::new();
    let d = env.src();
    fs::create_dir_all(d.join("x/y")).unwrap();
    fs::write(d.join("a"), vec![0u8; 100]).unwrap();
    fs::write(d.join("x/y/b"), vec![0u8; 23]).unwrap();
    std::os::unix::fs::symlink("a", d.join("x/link")).unwrap();
    assert_eq!(dir_size_bytes(&d), 123);
    assert_eq!(dir_size_bytes(d.join("a")), 100);
}

#[test]
fn the_json_reader_reads_json_and_refuses_what_is_not() {
    let v = json::Json::parse(
        "{\"a\":[1, 2.5,-3e2],\"s\":\"x\\\"\\u00e9\\ud83d\\ude00\\n\",\"t\":true,\"n\":null,\"o\":{}}",
    )
    .unwrap();
    assert_eq!(v.get("a").arr().len(), 3);
    assert_eq!(v.get("a").arr()[0].u64(), 1);
    assert_eq!(v.get("s").str(), "x\"é😀\n");
    assert!(v.get("t").bool());
    assert!(v.get("n").is_null());
    assert!(!v.has("z"));
    for bad in [
        "",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "1 2",
        "\"a",
        "{\"a\":1,\"a\":2}",
        "tru",
    ] {
        assert!(json::Json::parse(bad).is_err(), "{bad:?} accepted");
    }
}
