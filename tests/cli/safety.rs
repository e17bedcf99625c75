//! Nothing lost: crash-safe resume, damaged discs, hostile input.
//!
//! Each submodule attacks one promise; this file holds the checks they share: the state a
//! finished backup must leave in DEST, tree comparison with expected gaps, gpg and catalogue
//! surgery for crafted discs.

#[path = "safety/catalogue.rs"]
mod catalogue;
#[path = "safety/copies.rs"]
mod copies;
#[path = "safety/damage.rs"]
mod damage;
#[path = "safety/hostile.rs"]
mod hostile;
#[path = "safety/kill.rs"]
mod kill;
#[path = "safety/source.rs"]
mod source;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{compare_trees, disc_dirs, run_ok, sha256_file, TestEnv};

/// `butcher restore SOURCE TARGET [extra...]`, whatever its exit code.
pub fn restore(env: &TestEnv, source: &Path, target: &Path, extra: &[&OsStr]) -> Output {
    let mut args: Vec<&OsStr> = vec!["restore".as_ref(), source.as_os_str(), target.as_os_str()];
    args.extend_from_slice(extra);
    env.butcher(args)
}

/// Everything wrong with DEST as a finished backup leaves it: half-written files, a rollback
/// journal, a catalogue that fails its integrity check, a disc without SHA256SUMS or whose
/// files do not match it. Empty when all is well.
pub fn dest_problems(dest: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let discs = disc_dirs(dest);
    for dir in std::iter::once(dest.to_path_buf()).chain(discs.iter().cloned()) {
        for ent in fs::read_dir(&dir).unwrap() {
            let name = ent.unwrap().file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".partial") || name.ends_with("-journal") {
                problems.push(format!("{}: left behind", dir.join(&*name).display()));
            }
        }
    }
    match catalogue_integrity(&dest.join("catalogue.db")) {
        Ok(s) if s == "ok" => {}
        Ok(s) => problems.push(format!("catalogue.db integrity_check: {s}")),
        Err(e) => problems.push(format!("catalogue.db: {e}")),
    }
    for disc in &discs {
        problems.extend(disc_sums_problems(disc));
    }
    problems
}

fn catalogue_integrity(db: &Path) -> Result<String, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

/// What `sha256sum -c SHA256SUMS` in the disc directory would complain about, plus files on
/// the disc that SHA256SUMS does not list.
pub fn disc_sums_problems(disc: &Path) -> Vec<String> {
    let sums = disc.join("SHA256SUMS");
    let Ok(text) = fs::read_to_string(&sums) else {
        return vec![format!("{}: no SHA256SUMS", disc.display())];
    };
    let mut problems = Vec::new();
    let mut listed = vec!["SHA256SUMS".to_string()];
    for line in text.lines() {
        let Some((sum, name)) = line.split_once("  ") else {
            problems.push(format!("{}: bad line {line:?}", sums.display()));
            continue;
        };
        listed.push(name.to_string());
        let file = disc.join(name);
        if !file.is_file() {
            problems.push(format!("{}: listed but missing", file.display()));
        } else if sha256_file(&file) != sum {
            problems.push(format!("{}: FAILED sha256 check", file.display()));
        }
    }
    for ent in fs::read_dir(disc).unwrap() {
        let name = ent.unwrap().file_name().to_string_lossy().into_owned();
        if !listed.contains(&name) {
            problems.push(format!(
                "{}: not listed in SHA256SUMS",
                disc.join(name).display()
            ));
        }
    }
    problems
}

/// How `compare_trees` names a path in its report.
pub fn shown(rel: &Path) -> String {
    format!(
        "{:?}",
        Path::new(OsStr::from_bytes(rel.as_os_str().as_bytes()))
    )
}

/// The report line of `compare_trees` for a file of `a` that `b` lacks.
pub fn missing_line(rel: &Path, kind: &str) -> String {
    format!("{}: missing in b ({kind} in a)", shown(rel))
}

/// The difference lines `compare_trees(a, b)` reports, sorted (empty when the trees are equal).
pub fn tree_differences(a: &Path, b: &Path) -> Vec<String> {
    let Err(report) = compare_trees(a, b) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = report
        .split("\n  ")
        .skip(1)
        .map(|l| l.to_string())
        .collect();
    assert!(!lines.is_empty(), "unexpected compare report: {report}");
    lines.sort();
    lines
}

/// Asserts that `b` equals `a` except for exactly the `expected` differences (report lines of
/// `compare_trees`).
pub fn assert_differences(a: &Path, b: &Path, expected: impl IntoIterator<Item = String>) {
    let mut expected: Vec<String> = expected.into_iter().collect();
    expected.sort();
    expected.dedup();
    let got = tree_differences(a, b);
    if got != expected {
        let unexpected: Vec<_> = got.iter().filter(|l| !expected.contains(l)).collect();
        let absent: Vec<_> = expected.iter().filter(|l| !got.contains(l)).collect();
        panic!(
            "trees {a:?} and {b:?} differ other than expected\n\
             unexpected differences:\n  {unexpected:#?}\nexpected but not found:\n  {absent:#?}"
        );
    }
}

/// Moves DEST's working catalogue away, so that DEST is only a folder of discs and restore
/// reads the discs' catalogue copies (from DEST it reads the working catalogue).
pub fn hide_working_catalogue(dest: &Path) {
    fs::rename(dest.join("catalogue.db"), dest.join("catalogue.db.away")).unwrap();
}

/// Writes SHA256SUMS of a disc afresh (after a test changed files on it): archives, then the
/// catalogue copy, then README.txt, as butcher orders them.
pub fn rewrite_sums(disc: &Path) {
    let mut names: Vec<String> = fs::read_dir(disc)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort_by_key(|n| {
        (
            !n.starts_with('a'),
            n.starts_with("README"),
            n.starts_with("FORMAT"),
            n.clone(),
        )
    });
    let text: String = names
        .iter()
        .map(|n| format!("{}  {n}\n", sha256_file(&disc.join(n))))
        .collect();
    fs::write(disc.join("SHA256SUMS"), text).unwrap();
}

/// Relative path -> (is a dir, content) of everything below `root`, skipping `skip`: what
/// "nothing changed here" is checked against. Symlinks are recorded by their target.
pub fn listing(root: &Path, skip: &[&Path]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for rel in crate::common::walk(root) {
        if skip.iter().any(|s| rel.starts_with(s)) {
            continue;
        }
        let abs = root.join(&rel);
        let md = fs::symlink_metadata(&abs).unwrap();
        let content = if md.file_type().is_symlink() {
            let mut v = b"symlink -> ".to_vec();
            v.extend_from_slice(fs::read_link(&abs).unwrap().as_os_str().as_bytes());
            v
        } else if md.is_dir() {
            b"dir".to_vec()
        } else {
            fs::read(&abs).unwrap()
        };
        out.insert(rel, content);
    }
    out
}

/// Paths of snapshot 1 (in the working catalogue of `dest`) whose content has a piece in
/// archive `name`.
pub fn paths_in_archive(dest: &Path, name: &str) -> Vec<PathBuf> {
    let conn = rusqlite::Connection::open_with_flags(
        dest.join("catalogue.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = conn
        .prepare(
            "SELECT DISTINCT e.path FROM entries e JOIN pieces p ON p.sha256 = e.sha256
             JOIN archives a ON a.id = p.archive_id
             WHERE e.snapshot_id = 1 AND a.name = ?1 ORDER BY e.path",
        )
        .unwrap();
    let rows = st
        .query_map([name], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|p| PathBuf::from(OsStr::from_bytes(&p.unwrap())))
        .collect();
    rows
}

/// Decrypts `file` with gpg into `out` (replaced if it exists).
pub fn gpg_decrypt(env: &TestEnv, pass: &Path, file: &Path, out: &Path) {
    run_ok(
        env.cmd("gpg")
            .args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback"])
            .arg("--passphrase-file")
            .arg(pass)
            .arg("-o")
            .arg(out)
            .arg("-d")
            .arg(file),
    );
}

/// Encrypts `file` with gpg (symmetric, AES-256, no compression) into `out`.
pub fn gpg_encrypt(env: &TestEnv, pass: &Path, file: &Path, out: &Path) {
    run_ok(
        env.cmd("gpg")
            .args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback"])
            .arg("--passphrase-file")
            .arg(pass)
            .args([
                "--symmetric",
                "--cipher-algo",
                "AES256",
                "--compress-algo",
                "none",
            ])
            .arg("-o")
            .arg(out)
            .arg(file),
    );
}

/// Decrypts the catalogue copy of `disc`, lets `edit` change it, encrypts it back in place
/// and fixes the disc's SHA256SUMS.
pub fn edit_catalogue_copy(
    env: &TestEnv,
    pass: &Path,
    disc: &Path,
    edit: impl FnOnce(&rusqlite::Connection),
) {
    let copy = disc.join("catalogue.db.gpg");
    let plain = env.path("edited-catalogue.sqlite");
    let _ = fs::remove_file(&plain);
    gpg_decrypt(env, pass, &copy, &plain);
    {
        let conn = rusqlite::Connection::open(&plain).unwrap();
        edit(&conn);
    }
    gpg_encrypt(env, pass, &plain, &copy);
    fs::remove_file(&plain).unwrap();
    rewrite_sums(disc);
}
