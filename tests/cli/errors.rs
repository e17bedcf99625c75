//! Errors a user can act on: values that do not parse are one line and exit 2, a catalogue copy
//! that holds something unreadable is named with what is wrong and what to do.

use std::path::Path;

use crate::common::{disc_dirs, disc_number, stderr, TestEnv};
use crate::util::backup;

/// Runs `butcher backup` of a small tree with `BUTCHER_PROGRESS_SECONDS` set to `value`.
fn backup_with_progress_seconds(value: &str) -> (TestEnv, String) {
    let env = TestEnv::new().with_env("BUTCHER_PROGRESS_SECONDS", value);
    crate::common::tree::make_small_tree(&env.src());
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--no-encryption".as_ref(),
        ],
        2,
    );
    (env, err)
}

/// An interval too large for a `Duration` used to panic (exit 101); now it is a usage error in
/// one line that names the setting, and nothing is written.
#[test]
fn a_progress_interval_out_of_range_is_one_line_and_exit_2() {
    for value in ["1e20", "-1", "nan", "inf", "ten"] {
        let (env, err) = backup_with_progress_seconds(value);
        assert_eq!(err.trim().lines().count(), 1, "{value}: {err}");
        assert!(err.starts_with("butcher: "), "{value}: {err}");
        assert!(err.contains("progress-seconds"), "{value}: {err}");
        assert!(!err.contains("panicked"), "{value}: {err}");
        assert!(!env.dest().exists(), "{value}: DEST was created");
    }
}

/// A good interval is taken from the environment (0 prints a line at every step).
#[test]
fn a_progress_interval_from_the_environment_is_used() {
    let env = TestEnv::new()
        .with_env("BUTCHER_PROGRESS_SECONDS", "0")
        .with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    let out = backup(&env, &[]);
    let err = stderr(&out);
    assert!(err.contains("butcher: hashing: "), "{err}");
}

/// Sets the mode of every entry of a catalogue file to -1, as damage or a crafted copy
/// might.
fn break_modes(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let n = conn.execute("UPDATE versions SET mode = -1", []).unwrap();
    assert!(n > 0, "no entry was changed");
}

/// A catalogue copy whose `entries.mode` is out of range: restore names each path it loses
/// and why, the query commands say which copy, what is wrong in it, and what to do, instead of
/// SQLite's words.
#[test]
fn a_damaged_value_in_a_catalogue_copy_is_named_with_its_file_and_what_to_do() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &["--no-encryption"]);
    let discs = disc_dirs(&env.dest());
    let last = discs.last().unwrap();
    let number = disc_number(last);
    break_modes(&last.join("catalogue.db"));
    // A crafted copy: its SHA256SUMS agrees with it, and DEST's working catalogue is away.
    crate::safety::rewrite_sums(last);
    crate::safety::hide_working_catalogue(&env.dest());

    // Restore loses each entry it cannot read, naming it and why, and restores the rest.
    let out = env.butcher([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not restored: a/data.bin"), "{err}");
    assert!(err.contains("out of range in versions.mode"), "{err}");
    assert!(!err.contains("Integral"), "raw rusqlite text: {err}");

    // The query commands name the copy, what is wrong in it and what to do.
    let copy = format!("catalogue copy on disc {number:04}");
    let err = env.butcher_fails(["ls".as_ref(), last.as_os_str()], 1);
    assert!(err.contains(&copy), "{err}");
    assert!(err.contains("is damaged"), "{err}");
    assert!(err.contains("out of range in versions.mode"), "{err}");
    assert!(err.contains("earlier disc"), "{err}");
}

/// Runs `butcher ARGS` expecting exit 2 and one line on stderr that says what is wrong once
/// (the OS error is not repeated) and what to give instead (`hint`).
fn one_line_usage_error(env: &TestEnv, args: &[&std::ffi::OsStr], os_error: &str, hint: &str) {
    let err = env.butcher_fails(args, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(err.matches(os_error).count(), 1, "{err}");
    assert!(err.contains(hint), "{err}");
}

/// A missing SRC, a DEST that is a file, and a missing SOURCE of restore are what the command
/// line names being wrong: exit 2 as `--help` says, in one line with one hint, the OS error
/// said once (issue 25).
#[test]
fn a_missing_or_wrong_path_named_is_one_line_and_exit_2() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    let (src, dest, target) = (env.src(), env.dest(), env.target());
    let missing = env.path("nope");
    let file = env.path("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let below = file.join("dest");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let (backup, restore, no_enc) = (os("backup"), os("restore"), os("--no-encryption"));

    let args = [backup, missing.as_os_str(), dest.as_os_str(), no_enc];
    one_line_usage_error(&env, &args, "No such file", "give the folder to back up");
    assert!(!dest.exists(), "DEST was created");

    let args = [backup, src.as_os_str(), file.as_os_str(), no_enc];
    one_line_usage_error(
        &env,
        &args,
        "not a directory",
        "give a folder for the backup",
    );
    let args = [backup, src.as_os_str(), below.as_os_str(), no_enc];
    one_line_usage_error(
        &env,
        &args,
        "Not a directory",
        "give a folder for the backup",
    );

    let args = [restore, missing.as_os_str(), target.as_os_str()];
    one_line_usage_error(&env, &args, "No such file", "give a folder holding disc");
    assert!(!target.exists(), "TARGET was created");
    let args = [os("verify"), missing.as_os_str()];
    one_line_usage_error(&env, &args, "No such file", "give a folder holding disc");
}

/// `close` and `status` on a DEST that does not exist or holds no backup say which, in one
/// line, exit 2, before any passphrase is asked for (they used to say such a DEST "is not
/// empty", and `close` asked for the passphrase first); `snapshots` and `ls` on a missing
/// SOURCE are exit 2 too, not 1.
#[test]
fn commands_that_need_a_backup_say_when_there_is_none() {
    let env = TestEnv::new();
    let missing = env.path("nope");
    let other = env.path("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let os = std::ffi::OsStr::new;
    let hint = "give the DEST a backup was written to";
    for cmd in ["close", "status"] {
        for (dest, says) in [
            (&missing, "does not exist"),
            (&other, "holds no butcher catalogue"),
        ] {
            let err = env.butcher_fails([os(cmd), dest.as_os_str()], 2);
            assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
            assert!(err.contains(says) && err.contains(hint), "{cmd}: {err}");
            assert!(!err.contains("not empty"), "{cmd}: {err}");
            assert!(!err.contains("passphrase"), "{cmd}: {err}");
        }
    }
    assert!(!missing.exists(), "DEST was created");
    assert_eq!(
        std::fs::read_dir(&other).unwrap().count(),
        1,
        "DEST was written to"
    );
    for cmd in ["snapshots", "ls"] {
        let args = [os(cmd), missing.as_os_str()];
        one_line_usage_error(
            &env,
            &args,
            "No such file",
            "give DEST (holding catalogue.db)",
        );
    }
}

/// A repair that cannot be done names the disc directory once (it used to print it twice).
#[test]
fn a_repair_that_cannot_be_done_names_the_disc_once() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &["--no-encryption"]);
    let disc = disc_dirs(&env.dest()).remove(0);
    for f in std::fs::read_dir(&disc).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "par2") {
            std::fs::remove_file(f).unwrap();
        }
    }
    let err = env.butcher_fails(["repair".as_ref(), disc.as_os_str()], 4);
    let first = err.lines().next().unwrap();
    assert!(first.contains("recovery files cannot be read"), "{err}");
    let name = disc.display().to_string();
    assert_eq!(first.matches(&name).count(), 1, "{err}");
}

/// A wrong passphrase is the same exit code on every command, the one `--help` documents for
/// it (2): backup, restore, verify --deep and the query commands (issue 25).
#[test]
fn a_wrong_passphrase_is_exit_2_everywhere() {
    let mut env = TestEnv::new().with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let copies = env.path("copies");
    std::fs::create_dir(&copies).unwrap();
    for d in disc_dirs(&env.dest()) {
        crate::common::cp_a(&d, &copies.join(d.file_name().unwrap()));
    }
    env.set_env("BUTCHER_PASSPHRASE", "not the passphrase");
    let (src, dest, target) = (env.src(), env.dest(), env.target());
    let os = std::ffi::OsStr::new;
    let commands: [Vec<&std::ffi::OsStr>; 5] = [
        vec![os("backup"), src.as_os_str(), dest.as_os_str()],
        vec![os("restore"), dest.as_os_str(), target.as_os_str()],
        vec![os("restore"), copies.as_os_str(), target.as_os_str()],
        vec![os("verify"), dest.as_os_str(), os("--deep")],
        vec![os("snapshots"), copies.as_os_str()],
    ];
    for args in commands {
        let err = env.butcher_fails(&args, 2);
        assert!(err.contains("wrong passphrase"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(!target.exists(), "restore wrote into TARGET");
    let help = crate::common::stdout(&env.butcher_ok(["--help"]));
    let code_2 = help
        .split("\n  2 ")
        .nth(1)
        .and_then(|s| s.split("\n  3 ").next())
        .unwrap_or_default()
        .to_string();
    assert!(code_2.contains("passphrase"), "{help}");
}
