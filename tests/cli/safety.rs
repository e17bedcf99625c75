//! Nothing lost: crash-safe resume, damaged discs, hostile input.
//!
//! Each submodule attacks one promise; this file holds the checks they share: the state a
//! finished backup must leave in DEST, tree comparison with expected gaps, gpg and catalogue
//! surgery for crafted discs.

#[path = "safety/kill.rs"]
mod kill;
#[path = "safety/source.rs"]
mod source;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

use sha2::{Digest, Sha256};

use crate::common::{compare_trees, disc_dirs, TestEnv};

/// Lowercase hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> String {
    sha256_bytes(&fs::read(path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}")))
}

/// Lowercase hex sha256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stderr of a run, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

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
