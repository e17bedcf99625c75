//! `restore --json` and `verify --json`: one JSON object on stdout that names each file lost,
//! why, and the damaged archive with the files in it; empty lists for an intact set.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::common::json::Json;
use crate::common::tree::Rng;
use crate::common::{disc_dirs, flip_middle_byte, list_files, sha256_file, sha_blob, TestEnv};
use crate::common::{stderr, stdout};
use crate::util::backup;

/// A file name that is not UTF-8: the JSON gives it lossily and, byte exact, in hex.
const NOT_UTF8: &[u8] = b"caf\xe9.bin";
/// Files in the set, and the bytes of each.
const FILES: usize = 13;
const FILE_BYTES: usize = 20_000;

/// An unencrypted set of twelve random files in three directories and one whose name is not
/// UTF-8, in archives of 64 KiB; `extra` goes to `butcher backup`.
fn small_set(extra: &[&str]) -> TestEnv {
    let env = TestEnv::new();
    let mut rng = Rng::new(7);
    for i in 0..FILES - 1 {
        let dir = env.src().join(format!("d{}", i % 3));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i:02}.bin")), rng.bytes(FILE_BYTES)).unwrap();
    }
    let odd = env.src().join(OsStr::from_bytes(NOT_UTF8));
    fs::write(odd, rng.bytes(FILE_BYTES)).unwrap();
    let mut args = vec!["--no-encryption", "-q"];
    args.extend(extra);
    backup(&env, &args);
    env
}

/// The archive holding the start of the file named [`NOT_UTF8`] (found in the working
/// catalogue), its path on its disc, and the paths (relative, raw bytes) of every file of the
/// source with content in it: the files a restore loses with it.
fn archive_of_odd_file(env: &TestEnv) -> (String, PathBuf, BTreeSet<Vec<u8>>) {
    let db = rusqlite::Connection::open(env.dest().join("catalogue.db")).unwrap();
    let odd = env.src().join(OsStr::from_bytes(NOT_UTF8));
    let name: String = db
        .query_row(
            "SELECT a.name FROM pieces p JOIN archives a ON a.id = p.archive_id
             WHERE p.sha256 = ?1 AND p.piece = 1",
            [sha_blob(&sha256_file(&odd))],
            |r| r.get(0),
        )
        .unwrap();
    let mut query = db
        .prepare(
            "SELECT lower(hex(p.sha256)) FROM pieces p JOIN archives a ON a.id = p.archive_id
             WHERE a.name = ?1",
        )
        .unwrap();
    let contents: BTreeSet<String> = query
        .query_map([&name], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let src = env.src();
    let lost: BTreeSet<Vec<u8>> = list_files(&src)
        .into_iter()
        .filter(|f| contents.contains(&sha256_file(f)))
        .map(|f| {
            f.strip_prefix(&src)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        })
        .collect();
    assert!(lost.contains(NOT_UTF8), "{lost:?}");
    assert!(lost.len() < FILES, "every file is in {name}");
    let file = disc_dirs(&env.dest())
        .iter()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is on no disc"));
    (name, file, lost)
}

/// A set without recovery data whose archive holding [`NOT_UTF8`] is deleted: its name and
/// the files lost with it.
fn set_with_a_lost_archive() -> (TestEnv, String, BTreeSet<Vec<u8>>) {
    let env = small_set(&["--parity", "0"]);
    let (name, file, lost) = archive_of_odd_file(&env);
    fs::remove_file(file).unwrap();
    (env, name, lost)
}

/// Runs `butcher ARGS`, which must exit with `code`, and parses its stdout: one JSON value
/// and nothing else.
fn json_of(env: &TestEnv, args: &[&OsStr], code: i32) -> (Json, String) {
    let out = env.butcher(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    let text = stdout(&out);
    let json = Json::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (json, err)
}

/// `butcher restore DEST TARGET --json`: the JSON and stderr.
fn restore_json(env: &TestEnv, code: i32) -> (Json, String) {
    let (dest, target) = (env.dest(), env.target());
    let args = [
        "restore".as_ref(),
        dest.as_os_str(),
        target.as_os_str(),
        "--json".as_ref(),
    ];
    json_of(env, &args, code)
}

/// `butcher verify DEST --json EXTRA`.
fn verify_json(env: &TestEnv, extra: &[&str], code: i32) -> Json {
    let dest = env.dest();
    let mut args: Vec<&OsStr> = vec!["verify".as_ref(), dest.as_os_str(), "--json".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    json_of(env, &args, code).0
}

/// A path as the JSON gives it: `path`, or byte exact `path_hex` when it is not UTF-8.
fn path_of(o: &Json) -> Vec<u8> {
    if !o.has("path_hex") {
        return o.get("path").str().as_bytes().to_vec();
    }
    let hex = o.get("path_hex").str();
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn paths_of(list: &Json) -> BTreeSet<Vec<u8>> {
    list.arr().iter().map(path_of).collect()
}

fn strings_of(list: &Json) -> Vec<&str> {
    list.arr().iter().map(Json::str).collect()
}

#[test]
fn restore_json_lists_each_lost_file_with_why_and_the_damaged_archive() {
    let (env, name, lost) = set_with_a_lost_archive();
    let (j, err) = restore_json(&env, 3);
    assert_eq!(paths_of(j.get("not_restored")), lost, "{j:?}");
    for item in j.get("not_restored").arr() {
        let why = item.get("why").str();
        assert!(why.contains(&name) && why.contains("missing"), "{why}");
    }
    let odd = j
        .get("not_restored")
        .arr()
        .iter()
        .find(|o| o.has("path_hex"))
        .expect("the name that is not UTF-8 comes with path_hex");
    assert_eq!(odd.get("path").str(), "caf\u{fffd}.bin");
    assert_eq!(odd.get("path_hex").str(), "636166e92e62696e");
    let damaged = strings_of(j.get("damaged"));
    assert!(damaged.iter().any(|l| l.contains(&name)), "{damaged:?}");
    assert_eq!(j.get("snapshot").u64(), 1);
    assert_eq!(j.get("files").u64() as usize, FILES - lost.len());
    assert_eq!(
        j.get("bytes").u64() as usize,
        (FILES - lost.len()) * FILE_BYTES
    );
    assert_eq!(j.get("dirs").u64(), 3);
    assert_eq!(j.get("symlinks").u64(), 0);
    assert!(j.get("missing_discs").arr().is_empty(), "{j:?}");
    assert!(j.get("repaired").arr().is_empty(), "{j:?}");
    assert!(j.get("older").is_null());
    j.get("owners_kept").bool();
    j.get("metadata").arr();
    // The files said lost are the files missing from the target.
    for f in list_files(&env.src()) {
        let rel = f.strip_prefix(env.src()).unwrap();
        let is_lost = lost.contains(rel.as_os_str().as_bytes());
        assert_eq!(!env.target().join(rel).exists(), is_lost, "{rel:?}");
    }
    // The messages stay on stderr.
    assert!(err.contains("butcher: not restored: "), "{err}");
}

#[test]
fn verify_json_names_the_damaged_archive_and_the_files_in_it() {
    let (env, name, lost) = set_with_a_lost_archive();
    for (extra, deep) in [(&[][..], false), (&["--deep"][..], true)] {
        let j = verify_json(&env, extra, 4);
        assert_eq!(j.get("verdict").str(), "damaged");
        assert!(j.get("catalogue_checked").bool());
        assert_eq!(j.get("deep_checked").bool(), deep);
        let discs = j.get("discs").arr();
        assert_eq!(discs.len(), disc_dirs(&env.dest()).len());
        let (bad, good): (Vec<&Json>, Vec<&Json>) =
            discs.iter().partition(|d| d.get("status").str() != "ok");
        assert_eq!(bad.len(), 1, "{j:?}");
        let d = bad[0];
        // Without recovery data (--parity 0) nothing repairs it.
        assert_eq!(d.get("status").str(), "damaged");
        assert!(!d.get("recovery").get("repairable").bool());
        let archives = d.get("damaged_archives").arr();
        assert_eq!(archives.len(), 1, "{d:?}");
        assert_eq!(archives[0].get("name").str(), name);
        assert_eq!(paths_of(archives[0].get("files")), lost);
        let problems = strings_of(archives[0].get("problems"));
        assert_eq!(problems[0], "missing", "{problems:?}");
        assert_eq!(problems.len(), if deep { 2 } else { 1 }, "{problems:?}");
        let files = d.get("damaged_files").arr();
        assert!(files.iter().any(|f| f.get("name").str() == name), "{d:?}");
        for g in good {
            assert!(g.get("damaged_archives").arr().is_empty(), "{g:?}");
            assert!(g.get("problems").arr().is_empty(), "{g:?}");
        }
    }
}

#[test]
fn an_intact_set_has_nothing_lost_and_no_damage_in_json() {
    let env = small_set(&[]);
    let (j, _) = restore_json(&env, 0);
    for list in ["not_restored", "missing_discs", "damaged", "repaired"] {
        assert!(j.get(list).arr().is_empty(), "{list}: {j:?}");
    }
    assert!(j.get("older").is_null());
    assert_eq!(j.get("files").u64() as usize, FILES);
    assert_eq!(j.get("bytes").u64() as usize, FILES * FILE_BYTES);
    crate::common::assert_trees_equal(env.src(), env.target());

    let j = verify_json(&env, &[], 0);
    assert_eq!(j.get("verdict").str(), "ok");
    assert!(j.get("problems").arr().is_empty());
    assert!(!j.get("deep_checked").bool());
    for d in j.get("discs").arr() {
        assert_eq!(d.get("status").str(), "ok", "{d:?}");
        assert!(d.get("disc").u64() >= 1);
        assert!(d.get("files_checked").u64() >= 1);
        assert!(d.get("damaged_files").arr().is_empty(), "{d:?}");
        assert!(d.get("damaged_archives").arr().is_empty(), "{d:?}");
        assert!(d.get("recovery").is_null(), "{d:?}");
    }
}

#[test]
fn damage_within_the_recovery_data_is_repairable_in_verify_json_and_repaired_by_restore() {
    let env = small_set(&[]);
    let (name, file, lost) = archive_of_odd_file(&env);
    flip_middle_byte(&file);
    let disc = file
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();

    let j = verify_json(&env, &[], 4);
    assert_eq!(j.get("verdict").str(), "damaged");
    let bad: Vec<&Json> = j
        .get("discs")
        .arr()
        .iter()
        .filter(|d| d.get("status").str() != "ok")
        .collect();
    assert_eq!(bad.len(), 1, "{j:?}");
    let d = bad[0];
    assert_eq!(d.get("status").str(), "repairable");
    assert_eq!(
        d.get("path").str(),
        file.parent().unwrap().to_str().unwrap()
    );
    let recovery = d.get("recovery");
    assert_eq!(recovery.get("state").str(), "damaged");
    assert!(recovery.get("repairable").bool());
    assert_eq!(strings_of(recovery.get("files")), [name.as_str()]);
    let archives = d.get("damaged_archives").arr();
    assert_eq!(archives.len(), 1, "{d:?}");
    assert_eq!(archives[0].get("name").str(), name);
    assert_eq!(paths_of(archives[0].get("files")), lost);

    let (j, _) = restore_json(&env, 0);
    assert!(j.get("not_restored").arr().is_empty(), "{j:?}");
    let repaired = strings_of(j.get("repaired"));
    assert!(repaired.iter().any(|l| l.contains(&*disc)), "{repaired:?}");
    crate::common::assert_trees_equal(env.src(), env.target());
}
