//! Damaged media: archives bit-flipped, truncated, deleted. Restore brings back every file
//! that is not in a damaged archive exactly, names the others with the reason, exits 3 and
//! leaves no half-written file and no staging directory in TARGET.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::common::{flip_byte, flip_middle_byte, stderr, truncate_to_half, TestEnv};
use crate::util::{archives, backup, hostile_env};

use super::{assert_differences, missing_line, paths_in_archive, restore};

/// `count` archives, spread over the set, whose files share no content with each other's.
fn disjoint_archives(dest: &Path, count: usize) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let all = archives(dest);
    let mut picked: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut seen = BTreeSet::new();
    for a in all.iter().skip(1).step_by(3).chain(all.iter()) {
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        let paths = paths_in_archive(dest, &name);
        if picked.len() == count || paths.is_empty() || paths.iter().any(|p| seen.contains(p)) {
            continue;
        }
        seen.extend(paths.iter().cloned());
        picked.push((a.clone(), paths));
    }
    assert_eq!(
        picked.len(),
        count,
        "not enough archives in {}",
        dest.display()
    );
    picked
}

/// Asserts every path of `paths` is named on stderr as not restored, with a reason that
/// mentions `archive`.
fn assert_named(err: &str, paths: &[PathBuf], archive: &Path) {
    let name = archive.file_name().unwrap().to_string_lossy();
    for p in paths {
        let lossy = String::from_utf8_lossy(p.as_os_str().as_bytes());
        let prefix = format!("not restored: {lossy}: ");
        let at = err
            .find(&prefix)
            .unwrap_or_else(|| panic!("{lossy:?} is not named as not restored:\n{err}"));
        let reason = err[at + prefix.len()..].lines().next().unwrap_or_default();
        assert!(
            reason.contains(&*name),
            "the reason for {lossy:?} does not name {name}: {reason}"
        );
    }
}

/// Restores and checks the outcome: exit 3, the files of `damaged` archives named, everything
/// else exact, nothing else in TARGET.
fn restore_around(env: &TestEnv, damaged: &[(PathBuf, Vec<PathBuf>)]) {
    let target = env.target();
    let out = restore(env, &env.dest(), &target, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for (archive, paths) in damaged {
        assert_named(&err, paths, archive);
    }
    for ent in fs::read_dir(&target).unwrap() {
        let name = ent.unwrap().file_name();
        assert!(
            !name.as_bytes().starts_with(b".butcher-restore"),
            "staging directory {name:?} left in TARGET"
        );
    }
    let missing = damaged.iter().flat_map(|(_, paths)| paths).map(|p| {
        missing_line(
            Path::new(OsStr::from_bytes(p.as_os_str().as_bytes())),
            "file",
        )
    });
    assert_differences(&env.src(), &target, missing);
}

#[test]
fn flipped_truncated_and_deleted_archives_lose_only_their_files() {
    let (env, _) = hostile_env();
    // Without recovery data, which would repair this damage (tests/cli/recovery.rs).
    backup(&env, &["--parity", "0"]);
    let damaged = disjoint_archives(&env.dest(), 3);
    flip_middle_byte(&damaged[0].0);
    truncate_to_half(&damaged[1].0);
    fs::remove_file(&damaged[2].0).unwrap();
    restore_around(&env, &damaged);
}

/// Regression: damage to the first bytes of an archive (its key packet) made the passphrase
/// look wrong, and that stopped the whole restore although the catalogue copy had just been
/// opened with it.
#[test]
fn an_archive_whose_key_packet_is_damaged_loses_only_its_files() {
    let (env, _) = hostile_env();
    backup(&env, &["--parity", "0"]);
    let damaged = disjoint_archives(&env.dest(), 1);
    flip_byte(&damaged[0].0, 8);
    restore_around(&env, &damaged);
}
