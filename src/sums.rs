//! A disc's `SHA256SUMS`: reading it, and checking a directory against it. One reader for
//! verify, repair, restore and the catalogue's copy check.

use std::fs;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layout::SUMS_NAME;

/// The most of a SHA256SUMS file that is read: about 40,000 lines, far more than any disc has.
const MAX_SUMS_BYTES: u64 = 4 << 20;

/// One line of a `SHA256SUMS`.
enum Line<'a> {
    /// `sha256  name`.
    Entry(&'a str, &'a str),
    /// A line without the two-space separator.
    Unreadable(&'a str),
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().map(|l| match l.split_once("  ") {
        Some((sha, name)) => Line::Entry(sha, name),
        None => Line::Unreadable(l),
    })
}

fn read(dir: &Path) -> std::io::Result<String> {
    let bytes = crate::fsutil::read_head(&dir.join(SUMS_NAME), MAX_SUMS_BYTES)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// (sha256, name) of every readable line of the `SHA256SUMS` in `dir`; empty when it cannot
/// be read. The names are as listed: not checked to be plain file names.
pub(crate) fn entries(dir: &Path) -> Vec<(String, String)> {
    let Ok(text) = read(dir) else {
        return Vec::new();
    };
    lines(&text)
        .filter_map(|l| match l {
            Line::Entry(sha, name) => Some((sha.to_string(), name.to_string())),
            Line::Unreadable(_) => None,
        })
        .collect()
}

/// A file of a disc that does not match its `SHA256SUMS` (damaged, missing, not listed), or
/// `SHA256SUMS` itself when it cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file's name in the disc directory.
    pub name: String,
    /// What is wrong, as one line that names the file.
    pub line: String,
}

/// Checks the directory `dir` against its `SHA256SUMS`: every file listed is there with that
/// sha256, nothing unlisted lies beside it. Returns the problems, one line each; `hashed` hears
/// of the length of every file hashed. `SHA256SUMS` is not authenticated: a name in it that is
/// not a plain file name of the directory is reported, never opened.
pub(crate) fn check(dir: &Path, hashed: &mut dyn FnMut(u64)) -> Result<Vec<String>> {
    Ok(check_files(dir, hashed)?
        .into_iter()
        .map(|p| p.line)
        .collect())
}

/// [`check`], each problem with the file it concerns.
pub(crate) fn check_files(dir: &Path, hashed: &mut dyn FnMut(u64)) -> Result<Vec<FileProblem>> {
    let mut out = Vec::new();
    let mut bad = |name: &str, line: String| {
        out.push(FileProblem {
            name: name.to_string(),
            line,
        })
    };
    let text = match read(dir) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bad(SUMS_NAME, format!("{SUMS_NAME} is missing"));
            String::new()
        }
        Err(e) => {
            bad(SUMS_NAME, format!("{SUMS_NAME}: cannot read it: {e}"));
            String::new()
        }
    };
    let mut listed = std::collections::HashSet::new();
    for line in lines(&text) {
        let (sha, name) = match line {
            Line::Entry(sha, name) => (sha, name),
            Line::Unreadable(l) => {
                bad(SUMS_NAME, format!("{SUMS_NAME}: unreadable line {l:?}"));
                continue;
            }
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            bad(
                SUMS_NAME,
                format!("{SUMS_NAME}: names {name:?}, not a file of the disc"),
            );
            continue;
        }
        // Each file is hashed once, however often a crafted list names it.
        if !listed.insert(name.to_string()) {
            bad(
                SUMS_NAME,
                format!("{SUMS_NAME}: lists {name:?} more than once"),
            );
            continue;
        }
        match crate::fsutil::hash_file(&dir.join(name)) {
            Ok((got, len)) => {
                hashed(len);
                if got != sha {
                    bad(
                        name,
                        format!("{name}: sha256 differs from {SUMS_NAME} (damaged)"),
                    );
                }
            }
            Err(e) => bad(name, format!("{name}: {e}")),
        }
    }
    for ent in fs::read_dir(dir).ctx("read", dir)?.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name != SUMS_NAME && !listed.contains(&name) {
            bad(&name, format!("{name}: not listed in {SUMS_NAME}"));
        }
    }
    Ok(out)
}
