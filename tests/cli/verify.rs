//! `butcher verify` finds every kind of damage and reports nothing on an intact backup.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{cp_a, disc_dirs, flip_middle_byte, stderr, stdout, truncate_to_half, TestEnv};
use crate::util::{archives, backup, hostile_env};

fn verify(env: &TestEnv, source: &Path, extra: &[&str]) -> (i32, String) {
    let mut args: Vec<std::ffi::OsString> = vec!["verify".into(), source.into()];
    args.extend(extra.iter().map(|s| s.into()));
    let out = env.butcher(&args);
    (out.status.code().unwrap(), stdout(&out) + &stderr(&out))
}

fn damaged_copy(env: &TestEnv, name: &str) -> (PathBuf, Vec<PathBuf>) {
    let copy = env.path(name);
    cp_a(&env.dest(), &copy);
    let archives = archives(&copy);
    (copy, archives)
}

#[test]
fn intact_backup_verifies_clean_shallow_and_deep() {
    let (env, _) = hostile_env();
    backup(&env, &[]);
    let (code, text) = verify(&env, &env.dest(), &[]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("DAMAGED"), "{text}");
    assert_eq!(
        text.matches(": ok (").count(),
        disc_dirs(&env.dest()).len(),
        "{text}"
    );
    let (code, text) = verify(&env, &env.dest(), &["--deep"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("every file's sha256"), "{text}");
}

#[test]
fn verify_names_each_kind_of_damage_and_the_files_in_it() {
    let (env, _) = hostile_env();
    backup(&env, &[]);
    let (copy, a) = damaged_copy(&env, "damaged");
    assert!(a.len() >= 4);
    flip_middle_byte(&a[0]);
    truncate_to_half(&a[1]);
    fs::remove_file(&a[2]).unwrap();
    let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    // Without the passphrase (working catalogue in DEST: sizes and files are named).
    let (code, text) = verify(&env, &copy, &[]);
    assert_eq!(code, 4, "{text}");
    for (p, what) in [(&a[0], "differs"), (&a[1], "truncated"), (&a[2], "missing")] {
        let line = text
            .lines()
            .find(|l| l.contains(&name(p)) && l.contains(what) && l.contains("files in it: "));
        let line = line.unwrap_or_else(|| panic!("no {what} line for {}: {text}", name(p)));
        assert!(!line.ends_with("files in it: "), "no file named: {line}");
    }
    assert!(
        !text.contains(&format!("{}:", name(&a[3]))),
        "intact archive reported: {text}"
    );
    // Deep, from the discs alone.
    let (code, text) = verify(&env, &copy, &["--deep"]);
    assert_eq!(code, 4, "{text}");
}

#[test]
fn verify_finds_a_corrupt_catalogue_copy() {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let (copy, _) = damaged_copy(&env, "damaged");
    let disc = disc_dirs(&copy).pop().unwrap();
    flip_middle_byte(&disc.join("catalogue.db.gpg"));
    fs::remove_file(copy.join("catalogue.db")).unwrap();
    let (code, text) = verify(&env, &disc, &[]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("catalogue.db.gpg: sha256 differs"), "{text}");
    let (code, text) = verify(&env, &disc, &["--deep"]);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("catalogue: "),
        "the copy itself is not reported: {text}"
    );
}

#[test]
fn verify_needs_a_disc() {
    let env = TestEnv::new();
    fs::create_dir(env.dest()).unwrap();
    let (code, text) = verify(&env, &env.dest(), &[]);
    assert_eq!(code, 2, "{text}");
}
