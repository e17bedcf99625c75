//! Bad input: one clear line on stderr, a non-zero exit, nothing that looks like a backup.

use std::fs;

use crate::common::{is_root, TestEnv};
use crate::util::{backup, PASS};

fn args<'a>(v: &'a [&'a std::ffi::OsStr]) -> &'a [&'a std::ffi::OsStr] {
    v
}

/// A restore that stops after it has opened the catalogue (decrypted into its staging
/// directory inside TARGET) leaves neither the staging directory nor a TARGET it created.
#[test]
fn a_restore_path_matching_nothing_leaves_no_target() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let err = env.butcher_fails(
        args(&[
            "restore".as_ref(),
            env.dest().as_os_str(),
            env.target().as_os_str(),
            "--path".as_ref(),
            "no/such/path*".as_ref(),
        ]),
        2,
    );
    assert!(err.contains("no path of the snapshot matches"), "{err}");
    assert!(!env.target().exists(), "restore left the target behind");
}

#[test]
fn wrong_passphrase_restores_nothing() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let mut env = env;
    env.set_env("BUTCHER_PASSPHRASE", "not the passphrase");
    let err = env.butcher_fails(
        args(&[
            "restore".as_ref(),
            env.dest().as_os_str(),
            env.target().as_os_str(),
        ]),
        2,
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!env.target().exists(), "restore wrote into the target");
}

#[test]
fn missing_source_is_refused() {
    let env = TestEnv::new().with_passphrase(PASS);
    let missing = env.path("nope");
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            missing.as_os_str(),
            env.dest().as_os_str(),
        ],
        2,
    );
    assert!(
        err.contains("nope") && err.contains("No such file"),
        "{err}"
    );
    assert!(!env.dest().join("disc-0001").exists());
}

#[test]
fn source_that_is_a_file_is_refused() {
    let env = TestEnv::new().with_passphrase(PASS);
    let f = env.path("file");
    fs::write(&f, "x").unwrap();
    let err = env.butcher_fails(
        ["backup".as_ref(), f.as_os_str(), env.dest().as_os_str()],
        2,
    );
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn unreadable_source_is_refused() {
    if is_root() {
        eprintln!("skipping: root reads every directory (covered by the unprivileged tests)");
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(env.src(), fs::Permissions::from_mode(0o000)).unwrap();
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
        ],
        1,
    );
    fs::set_permissions(env.src(), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn dest_that_cannot_be_created_is_refused() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    let blocker = env.path("blocker");
    fs::write(&blocker, "a file, not a directory").unwrap();
    let dest = blocker.join("dest");
    let err = env.butcher_fails(
        ["backup".as_ref(), env.src().as_os_str(), dest.as_os_str()],
        2,
    );
    assert!(err.contains("destination"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn dest_that_is_not_a_backup_is_refused_and_left_alone() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    fs::create_dir(env.dest()).unwrap();
    fs::write(env.dest().join("holiday.jpg"), "not mine").unwrap();
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("not a butcher backup"), "{err}");
    let names: Vec<_> = fs::read_dir(env.dest())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("holiday.jpg")]);
}

#[test]
fn target_not_empty_is_refused_writing_nothing() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    fs::create_dir(env.target()).unwrap();
    fs::write(env.target().join("keep.txt"), "mine").unwrap();
    let err = env.butcher_fails(
        [
            "restore".as_ref(),
            env.dest().as_os_str(),
            env.target().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("not empty"), "{err}");
    let names: Vec<_> = fs::read_dir(env.target())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keep.txt")]);
}

#[test]
fn no_passphrase_without_a_terminal_is_an_error() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
        ],
        1,
    );
    assert!(err.contains("no passphrase"), "{err}");
    assert!(!env.dest().join("disc-0001").exists());
}

#[test]
fn restore_from_a_folder_without_discs_is_an_error() {
    let env = TestEnv::new().with_passphrase(PASS);
    fs::create_dir(env.dest()).unwrap();
    let err = env.butcher_fails(
        [
            "restore".as_ref(),
            env.dest().as_os_str(),
            env.target().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("no butcher disc"), "{err}");
}

#[test]
fn bad_sizes_are_usage_errors() {
    let env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--archive-size".as_ref(),
            "lots".as_ref(),
        ],
        2,
    );
    assert!(err.contains("lots"), "{err}");
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--disc-size".as_ref(),
            "10K".as_ref(),
        ],
        2,
    );
    assert!(err.contains("too small"), "{err}");
    assert!(!env.dest().join("disc-0001").exists());
}

#[test]
fn a_later_run_with_another_passphrase_is_refused() {
    let mut env = TestEnv::new().with_passphrase(PASS);
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    fs::write(env.src().join("new.txt"), "new").unwrap();
    env.set_env("BUTCHER_PASSPHRASE", "another passphrase");
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!env.dest().join("disc-0002").exists());
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--no-encryption".as_ref(),
        ],
        2,
    );
    assert!(err.contains("encrypted"), "{err}");
}
