//! The query commands (`snapshots`, `ls`, `diff`, `where`) on two snapshots of a tree changed
//! in every way a diff knows: rename, directory move, copy, delete, edit, add, chmod, type and
//! symlink target. They read DEST's working catalogue, and a folder of encrypted discs must
//! give the same answers.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::tree::bpath;
use crate::common::{disc_dirs, disc_number, os, require_tool, run_ok, sha256_hex, stderr, stdout};
use crate::common::{walk, Rng, TestEnv, PASSPHRASE_ENV};
use crate::util::{archives, backup, pass_file, PASS};

/// The mtime of every file and directory: 2023-11-14 22:13:20 UTC.
const T0: u64 = 1_700_000_000;
const T0_TEXT: &str = "2023-11-14 22:13:20";
/// A file name that is not UTF-8 and holds a newline.
const ODD: &[u8] = b"odd\xff\nname";

#[path = "query/diff.rs"]
mod diff;
#[path = "query/listing.rs"]
mod listing;
#[path = "query/sources.rs"]
mod sources;
#[path = "query/where_.rs"]
mod where_;

/// Two backups of the changing tree, and the discs each run wrote.
struct Fixture {
    env: TestEnv,
    run1: Vec<u32>,
    run2: Vec<u32>,
    started: SystemTime,
    ended: SystemTime,
}

fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn random(seed: u64, len: usize) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

/// Files 0644, directories 0755 (whatever the umask).
fn normalise_modes(root: &Path) {
    for rel in walk(root) {
        let p = root.join(rel);
        let t = fs::symlink_metadata(&p).unwrap().file_type();
        let mode = if t.is_dir() { 0o755 } else { 0o644 };
        if !t.is_symlink() {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// Every file and directory gets mtime T0, so only what a test changes on purpose differs.
fn pin_mtimes(root: &Path) {
    let t = UNIX_EPOCH + Duration::from_secs(T0);
    for rel in walk(root) {
        let p = root.join(rel);
        if !fs::symlink_metadata(&p).unwrap().file_type().is_symlink() {
            let f = fs::File::open(&p).unwrap();
            f.set_times(fs::FileTimes::new().set_modified(t)).unwrap();
        }
    }
}

fn first_tree(src: &Path) {
    put(src, "photos/2019/a.jpg", &random(1, 200_000));
    put(src, "photos/2019/b.jpg", &random(2, 150_000));
    put(src, "photos/2020/c.jpg", &random(3, 180_000));
    put(src, "docs/report.txt", &random(4, 20_000));
    put(src, "docs/notes.txt", b"notes\n");
    put(src, "docs/old.txt", b"old\n");
    put(src, "docs/edit.txt", b"version 1\n");
    put(src, "music/song.mp3", &random(5, 250_000));
    put(src, "meta.txt", b"meta\n");
    put(src, "typechange", b"a file for now\n");
    fs::write(src.join(bpath(ODD)), b"odd\n").unwrap();
    fs::create_dir(src.join("misc")).unwrap();
    symlink("../docs/notes.txt", src.join("misc/link")).unwrap();
    normalise_modes(src);
    pin_mtimes(src);
}

fn change_tree(src: &Path) {
    let p = |rel: &str| src.join(rel);
    fs::rename(p("docs/report.txt"), p("docs/report-final.txt")).unwrap();
    fs::create_dir(p("archive")).unwrap();
    fs::rename(p("photos/2019"), p("archive/2019")).unwrap();
    put(
        src,
        "backup/c-copy.jpg",
        &fs::read(p("photos/2020/c.jpg")).unwrap(),
    );
    fs::remove_file(p("docs/old.txt")).unwrap();
    fs::write(p("docs/edit.txt"), b"version 2, longer\n").unwrap();
    put(src, "new/fresh.bin", &random(6, 120_000));
    fs::remove_file(p("typechange")).unwrap();
    symlink("docs/notes.txt", p("typechange")).unwrap();
    fs::remove_file(p("misc/link")).unwrap();
    symlink("../docs/edit.txt", p("misc/link")).unwrap();
    normalise_modes(src);
    fs::set_permissions(p("meta.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(p("music"), fs::Permissions::from_mode(0o700)).unwrap();
    pin_mtimes(src);
}

fn disc_numbers(dest: &Path) -> Vec<u32> {
    disc_dirs(dest).iter().map(|d| disc_number(d)).collect()
}

fn two_snapshots() -> Fixture {
    let env = TestEnv::new().with_passphrase(PASS);
    first_tree(&env.src());
    let started = SystemTime::now();
    backup(&env, &[]);
    let run1 = disc_numbers(&env.dest());
    change_tree(&env.src());
    backup(&env, &[]);
    let ended = SystemTime::now();
    let run2 = disc_numbers(&env.dest())[run1.len()..].to_vec();
    assert!(run1.len() >= 2, "run 1 should span discs: {run1:?}");
    assert_eq!(run2.len(), 1, "run 2 should write one disc");
    Fixture {
        env,
        run1,
        run2,
        started,
        ended,
    }
}

/// `butcher CMD SOURCE ARGS...`, which must succeed; its stdout.
fn query(env: &TestEnv, cmd: &str, source: &Path, args: &[&str]) -> String {
    let mut v = vec![os(cmd), os(source)];
    v.extend(args.iter().map(os));
    String::from_utf8(env.butcher_ok(v).stdout).unwrap()
}

/// Like [`query`], but must exit with `code`; its stderr.
fn query_fails(env: &TestEnv, cmd: &str, source: &Path, args: &[&str], code: i32) -> String {
    let mut v = vec![os(cmd), os(source)];
    v.extend(args.iter().map(os));
    env.butcher_fails(v, code)
}

/// `[1,2]`
fn numbers<'a>(v: impl IntoIterator<Item = &'a u32>) -> String {
    let v: Vec<String> = v.into_iter().map(|n| n.to_string()).collect();
    format!("[{}]", v.join(","))
}

fn four(discs: &[u32]) -> String {
    let v: Vec<String> = discs.iter().map(|d| format!("{d:04}")).collect();
    v.join(" ")
}

/// One `ls` line: type, size, date, discs column, path.
struct LsRow {
    kind: String,
    size: u64,
    date: String,
    discs: String,
    path: String,
}

fn ls(f: &Fixture, args: &[&str]) -> Vec<LsRow> {
    let out = query(&f.env, "ls", &f.env.dest(), args);
    out.lines()
        .map(|l| {
            let (kind, size, date) = (&l[..7], &l[9..21], &l[23..42]);
            let (discs, path) = l[44..].split_once("  ").unwrap();
            LsRow {
                kind: kind.trim().into(),
                size: size.trim().parse().unwrap(),
                date: date.into(),
                discs: discs.trim().into(),
                path: path.trim_start().into(),
            }
        })
        .collect()
}

fn discs_of(rows: &[LsRow], path: &str) -> BTreeSet<u32> {
    let row = rows.iter().find(|r| r.path == path).unwrap();
    let list = row.discs.strip_prefix("disc ").unwrap();
    list.split(',').map(|d| d.parse().unwrap()).collect()
}

/// A folder holding copies of the given disc directories of DEST, and nothing else.
fn only_discs(f: &Fixture, name: &str, discs: &[u32]) -> std::path::PathBuf {
    let root = f.env.path(name);
    for d in discs {
        let from = f.env.dest().join(format!("disc-{d:04}"));
        let to = root.join(format!("disc-{d:04}"));
        fs::create_dir_all(&to).unwrap();
        for file in fs::read_dir(&from).unwrap() {
            let file = file.unwrap();
            fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
    root
}
