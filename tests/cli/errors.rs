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
