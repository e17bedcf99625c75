//! A crafted or rotten catalogue copy (issue 25, point 3): ids far out of range, a zero or
//! huge parity size, a directory chain thousands deep, unusable symlink targets and paths, a
//! hard-link group whose members differ. Restore, `ls` and `rebuild-disc` lose only the bad
//! entries, with a named loss, and never panic, abort, hang or write a huge file.
//!
//! The sets are unencrypted, so the catalogue copy on a disc is a plain SQLite file to edit;
//! the disc's SHA256SUMS is written again to agree with it.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::tree::Rng;
use crate::common::{add_entry, cp_a, disc_dirs, run_within, stderr, TestEnv};

use super::rewrite_sums;

/// Long enough for any command on these tiny sets; only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

/// `butcher ARGS` within [`LIMIT`], whatever its exit code.
fn butcher(env: &TestEnv, args: &[&Path]) -> Output {
    run_within(env.butcher_command().args(args), LIMIT)
}

/// Panics when `out` is a crash: killed by a signal (an abort), a panic, or an exit code
/// `--help` does not document.
fn assert_no_crash(out: &Output, what: &str) {
    let err = stderr(out);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=4)),
        "{what}: exit {:?}\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// The content of the files of the small tree, by name.
const FILES: [(&str, &[u8]); 4] = [
    ("a.txt", b"content of a\n"),
    ("b.txt", b"content of b, not the same\n"),
    ("sub/c.txt", b"content of c\n"),
    ("sub/deeper/d.txt", b"content of d\n"),
];

/// An unencrypted backup of a small tree (the files of [`FILES`], `a.txt` hard-linked as
/// `sub/a-link.txt`, a symlink), its discs copied to a shelf of their own (no working
/// catalogue beside them). Returns the shelf.
fn small_set(env: &TestEnv) -> PathBuf {
    for (name, data) in FILES {
        let p = env.src().join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    fs::hard_link(env.src().join("a.txt"), env.src().join("sub/a-link.txt")).unwrap();
    std::os::unix::fs::symlink("a.txt", env.src().join("link")).unwrap();
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--no-encryption".as_ref(),
        "-q".as_ref(),
    ]);
    shelve(env, &env.dest())
}

/// The disc directories of `dest` copied to a fresh shelf.
fn shelve(env: &TestEnv, dest: &Path) -> PathBuf {
    let shelf = env.path("shelf");
    fs::create_dir(&shelf).unwrap();
    for d in disc_dirs(dest) {
        cp_a(&d, &shelf.join(d.file_name().unwrap()));
    }
    shelf
}

/// Runs `edit` on the catalogue copy of every disc of `shelf` that has one, and writes the
/// disc's SHA256SUMS again to agree with it.
fn edit_copies(shelf: &Path, edit: &dyn Fn(&rusqlite::Connection)) {
    for disc in disc_dirs(shelf) {
        let db = disc.join("catalogue.db");
        if !db.is_file() {
            continue;
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        // A crafted copy need not keep its references whole.
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        edit(&conn);
        drop(conn);
        rewrite_sums(&disc);
    }
}

/// The path id of `path` (a top-level name) in a catalogue copy.
fn path_id(conn: &rusqlite::Connection, name: &str) -> i64 {
    conn.query_row(
        "SELECT id FROM paths WHERE parent = 0 AND name = CAST(?1 AS BLOB)",
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

/// Restores `shelf` into `target` within [`LIMIT`].
fn restore(env: &TestEnv, shelf: &Path, target: &Path) -> Output {
    butcher(env, &[Path::new("restore"), shelf, target])
}

/// Asserts the restore `out` into `target` finished incomplete (exit 3), naming each of
/// `lost` as not restored, with every file of [`FILES`] but `except` restored right.
fn assert_lost_only(out: &Output, target: &Path, lost: &[&str], except: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for l in lost {
        assert!(
            err.lines()
                .any(|line| line.contains("not restored") && line.contains(l)),
            "{l} not named as lost:\n{err}"
        );
    }
    for (name, data) in FILES.iter().filter(|(n, _)| !except.contains(n)) {
        assert_eq!(
            fs::read(target.join(name)).ok().as_deref(),
            Some(*data),
            "{name}\n{err}"
        );
    }
}

/// A `paths` row whose id is 2^36 (a vector indexed by it would take a terabyte): that
/// entry alone is lost, named by its id.
#[test]
fn a_path_id_far_out_of_range_loses_only_its_entry() {
    let env = TestEnv::new();
    let shelf = small_set(&env);
    edit_copies(&shelf, &|c| {
        let id = path_id(c, "b.txt");
        c.execute_batch(&format!(
            "UPDATE paths SET id = 68719476736 WHERE id = {id};
             UPDATE versions SET path_id = 68719476736 WHERE path_id = {id};"
        ))
        .unwrap();
    });
    let out = restore(&env, &shelf, &env.target());
    assert_lost_only(&out, &env.target(), &["68719476736"], &["b.txt"]);
    let ls = butcher(&env, &[Path::new("ls"), &shelf]);
    assert_no_crash(&ls, "ls");
}

/// A piece whose offset is 1 TiB (the content would be staged as a terabyte sparse file and
/// read back whole): that file alone is lost, named.
#[test]
fn a_piece_offset_far_beyond_its_content_loses_only_its_file() {
    let env = TestEnv::new();
    let shelf = small_set(&env);
    edit_copies(&shelf, &|c| {
        let n = c
            .execute(
                "UPDATE pieces SET offset = 1099511627776 WHERE sha256 = (
                   SELECT v.sha256 FROM versions v JOIN paths p ON p.id = v.path_id
                   WHERE p.parent = 0 AND p.name = CAST('b.txt' AS BLOB))",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    });
    let out = restore(&env, &shelf, &env.target());
    assert_lost_only(&out, &env.target(), &["b.txt"], &["b.txt"]);
    assert!(stderr(&out).contains("do not follow one another"));
}

/// A directory chain 10,000 deep (each name one byte): the paths longer than the system
/// takes are lost, named, and the rest of the snapshot is restored; in time and memory
/// linear in the catalogue, not quadratic.
#[test]
fn a_directory_chain_ten_thousand_deep_is_cut_at_path_max() {
    let env = TestEnv::new();
    let shelf = small_set(&env);
    edit_copies(&shelf, &|c| {
        c.execute_batch(
            "CREATE TEMP TABLE chain AS
             WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 10000)
             SELECT k, (SELECT MAX(id) FROM paths) AS base FROM n;
             INSERT INTO paths (id, parent, name)
               SELECT base + k, CASE k WHEN 1 THEN 0 ELSE base + k - 1 END, CAST('d' AS BLOB)
               FROM chain;
             INSERT INTO versions (path_id, first_snapshot, kind, size, mtime_ns, mode, inode,
                                   ctime_ns)
               SELECT base + k, 1, 'dir', 0, 1700000000000000000, 493, 0, 0 FROM chain;",
        )
        .unwrap();
    });
    let out = restore(&env, &shelf, &env.target());
    assert_lost_only(&out, &env.target(), &["longer than"], &[]);
    // The chain is there as deep as the system allows.
    assert!(env.target().join("d/d/d/d/d/d/d/d").is_dir());
}

/// A name of `len` bytes made of names of 250 bytes or less, each of `fill`.
fn long_path(len: usize, fill: u8) -> Vec<u8> {
    let mut p = Vec::new();
    while p.len() < len {
        if !p.is_empty() {
            p.push(b'/');
        }
        let n = (len - p.len()).clamp(1, 250);
        p.extend(std::iter::repeat_n(fill, n));
    }
    p
}

/// Symlinks whose target is empty or holds a NUL byte, a directory whose path is longer than
/// PATH_MAX below TARGET only, and one longer than PATH_MAX in itself: each is lost, named;
/// the rest is restored.
#[test]
fn unusable_symlinks_and_paths_over_path_max_are_named_losses() {
    let env = TestEnv::new();
    let shelf = small_set(&env);
    let target = env.target();
    let over_in_target = long_path(4095 - target.as_os_str().len() + 5, b'a');
    let over = long_path(4300, b'b');
    edit_copies(&shelf, &|c| {
        add_entry(c, 1, b"empty-link", "symlink", 0, 0o777, None, Some(b""));
        add_entry(c, 1, b"nul-link", "symlink", 0, 0o777, None, Some(b"a\0b"));
        add_entry(c, 1, &over_in_target, "dir", 0, 0o755, None, None);
        add_entry(c, 1, &over, "dir", 0, 0o755, None, None);
    });
    let out = restore(&env, &shelf, &target);
    let lost = [
        "empty-link",
        "nul-link",
        "aaaaaaaa",
        "longer than 4095 bytes",
    ];
    assert_lost_only(&out, &target, &lost, &[]);
    assert_eq!(
        fs::read_link(target.join("link")).unwrap(),
        Path::new("a.txt")
    );
}

/// A hard-link group (one device and inode) whose members have different contents in the
/// catalogue: each path gets the content its own entry names, never another member's.
#[test]
fn a_hard_link_group_with_two_contents_gives_each_path_its_own() {
    let env = TestEnv::new();
    let shelf = small_set(&env);
    edit_copies(&shelf, &|c| {
        // sub/a-link.txt now says it holds b.txt's content (size and sha256).
        c.execute_batch(
            "UPDATE versions SET
               sha256 = (SELECT v.sha256 FROM versions v JOIN paths p ON p.id = v.path_id
                         WHERE p.parent = 0 AND p.name = CAST('b.txt' AS BLOB)),
               size = (SELECT v.size FROM versions v JOIN paths p ON p.id = v.path_id
                       WHERE p.parent = 0 AND p.name = CAST('b.txt' AS BLOB))
             WHERE path_id = (SELECT id FROM paths WHERE name = CAST('a-link.txt' AS BLOB));",
        )
        .unwrap();
    });
    let out = restore(&env, &shelf, &env.target());
    let err = stderr(&out);
    assert_no_crash(&out, "restore");
    let t = env.target();
    assert_eq!(fs::read(t.join("a.txt")).unwrap(), FILES[0].1, "{err}");
    assert_eq!(
        fs::read(t.join("sub/a-link.txt")).unwrap(),
        FILES[1].1,
        "{err}"
    );
    let ino = |p: &str| fs::metadata(t.join(p)).unwrap().ino();
    assert_ne!(ino("a.txt"), ino("sub/a-link.txt"), "{err}");
    // Said, since the link is not made again.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("sub/a-link.txt"), "{err}");
}

/// A hostile value for a cell of a catalogue table.
fn hostile_value(rng: &mut Rng) -> String {
    const VALUES: [&str; 14] = [
        "0",
        "-1",
        "1",
        "68719476736",
        "1099511627776",
        "9223372036854775807",
        "-9223372036854775808",
        "NULL",
        "''",
        "X''",
        "X'00'",
        "'../../outside'",
        "'/etc/passwd'",
        "X'2E2E2F78'",
    ];
    VALUES[rng.below(VALUES.len() as u64) as usize].to_string()
}

/// Sets one random cell of one random row of one of `tables` to a hostile value; returns
/// what it did.
fn mutate_one(c: &rusqlite::Connection, tables: &[&str], rng: &mut Rng) -> String {
    let table = tables[rng.below(tables.len() as u64) as usize];
    let columns: Vec<String> = c
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let column = &columns[rng.below(columns.len() as u64) as usize];
    let rows: i64 = c
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap();
    if rows == 0 {
        return format!("{table}: no rows");
    }
    let offset = rng.below(rows as u64);
    let value = hostile_value(rng);
    // A constraint may refuse the value (NOT NULL, a unique key): then the copy is unchanged
    // in that cell, which is a case too.
    let done = c.execute(
        &format!(
            "UPDATE {table} SET \"{column}\" = {value}
             WHERE rowid = (SELECT rowid FROM {table} LIMIT 1 OFFSET {offset})"
        ),
        [],
    );
    let done = done.or_else(|_| {
        // WITHOUT ROWID tables: the first row instead.
        c.execute(
            &format!(
                "UPDATE {table} SET \"{column}\" = {value}
                 WHERE \"{column}\" IS (SELECT \"{column}\" FROM {table} LIMIT 1)"
            ),
            [],
        )
    });
    format!("{table}.{column} row {offset} = {value}: {done:?}")
}

/// Sets `n` cells of `tables` to hostile values in every catalogue copy of `shelf` alike
/// (from `seed`); returns what the first copy got.
fn fuzz_copies(shelf: &Path, tables: &[&str], seed: u64, n: u64) -> Vec<String> {
    let done = std::cell::RefCell::new(Vec::new());
    edit_copies(shelf, &|c| {
        let mut r = Rng::new(seed);
        let this: Vec<String> = (0..n).map(|_| mutate_one(c, tables, &mut r)).collect();
        if done.borrow().is_empty() {
            *done.borrow_mut() = this;
        }
    });
    done.into_inner()
}

/// Everything below `root` except `skip`, with sizes: what must not change outside TARGET.
fn outside(root: &Path, skip: &Path) -> Vec<(PathBuf, u64)> {
    crate::common::walk(root)
        .into_iter()
        .filter(|p| !root.join(p).starts_with(skip))
        .map(|p| {
            let size = fs::symlink_metadata(root.join(&p)).unwrap().len();
            (p, size)
        })
        .collect()
}

/// Fuzz-style: copies of a small set's catalogue copy with one to three cells set to hostile
/// values (fixed seed, bounded count). Restore and `ls` never crash or hang, exit as `--help`
/// says, and write nothing outside TARGET.
#[test]
fn fuzzed_catalogue_copies_never_crash_restore() {
    let env = TestEnv::new();
    let base = small_set(&env);
    let tables = [
        "paths",
        "versions",
        "contents",
        "pieces",
        "archives",
        "snapshots",
        "discs",
    ];
    let mut rng = Rng::new(0x25_0003);
    for i in 0..40 {
        let shelf = env.path(format!("fuzz-{i}"));
        cp_a(&base, &shelf);
        let done = fuzz_copies(&shelf, &tables, rng.next_u64(), 1 + rng.below(3));
        let done = format!("case {i}: {done:?}");
        // Shown if the test fails, a hang included.
        eprintln!("{done}");
        let target = env.path(format!("target-{i}"));
        let before = outside(env.root(), &target);
        let out = restore(&env, &shelf, &target);
        assert_no_crash(&out, &format!("restore, {done:?}"));
        assert_eq!(
            outside(env.root(), &target),
            before,
            "restore wrote outside TARGET, {done:?}"
        );
        let ls = butcher(&env, &[Path::new("ls"), &shelf]);
        assert_no_crash(&ls, &format!("ls, {done:?}"));
    }
}

/// A parity set (unencrypted, two data discs and a parity disc at least), shelved.
fn parity_set(env: &TestEnv) -> PathBuf {
    let mut rng = Rng::new(0x25_0006);
    let d = env.src().join("p");
    fs::create_dir_all(&d).unwrap();
    for i in 0..16 {
        let len = 20_000 + rng.below(30_000) as usize;
        fs::write(d.join(format!("f{i:02}.bin")), rng.bytes(len)).unwrap();
    }
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--no-encryption".as_ref(),
        "--archive-size=128K".as_ref(),
        "--disc-size=1M".as_ref(),
        "--parity-discs=2".as_ref(),
        "-q".as_ref(),
    ]);
    let shelf = shelve(env, &env.dest());
    assert!(
        shelf.join("disc-0003/PARITY.txt").is_file(),
        "disc 3 is the parity disc"
    );
    shelf
}

/// Runs `rebuild-disc SHELF 1 OUT` and checks it ends as a clear error, within the limit,
/// with nothing large written in OUT.
fn assert_rebuild_refused(env: &TestEnv, shelf: &Path, out_dir: &Path, says: &str) {
    let out = butcher(
        env,
        &[Path::new("rebuild-disc"), shelf, Path::new("1"), out_dir],
    );
    let err = stderr(&out);
    assert_no_crash(&out, "rebuild-disc");
    assert!(matches!(out.status.code(), Some(1 | 4)), "{err}");
    assert!(err.contains(says), "{err}");
    let written = bytes_below(out_dir);
    assert!(written < 64 << 20, "{written} bytes written in OUT_DIR");
}

/// The apparent size of the files below `dir` (none when it does not exist).
fn bytes_below(dir: &Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    crate::common::walk(dir)
        .iter()
        .map(|p| fs::symlink_metadata(dir.join(p)).unwrap().len())
        .sum()
}

/// `parity_groups.piece_size` = 0 with data disc 1 lost: restore loses disc 1's files
/// (named) and `rebuild-disc` says the record is damaged; neither panics (a division by zero).
#[test]
fn a_zero_parity_piece_size_is_damage_not_a_panic() {
    let env = TestEnv::new();
    let shelf = parity_set(&env);
    fs::remove_dir_all(shelf.join("disc-0001")).unwrap();
    edit_copies(&shelf, &|c| {
        c.execute("UPDATE parity_groups SET piece_size = 0", [])
            .unwrap();
    });
    let out = restore(&env, &shelf, &env.target());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not restored"), "{err}");
    assert!(err.contains("piece size"), "{err}");
    assert_rebuild_refused(&env, &shelf, &env.path("out"), "piece size");
}

/// `parity_files.size` = 1 TiB for a file of lost disc 1: rebuild-disc refuses (the parity
/// disc holds far less), without writing a terabyte file or running for hours.
#[test]
fn a_huge_parity_file_size_is_refused_by_rebuild_disc() {
    let env = TestEnv::new();
    let shelf = parity_set(&env);
    fs::remove_dir_all(shelf.join("disc-0001")).unwrap();
    edit_copies(&shelf, &|c| {
        c.execute(
            "UPDATE parity_files SET size = 1099511627776
             WHERE disc = 1 AND name = (SELECT MIN(name) FROM parity_files WHERE disc = 1)",
            [],
        )
        .unwrap();
    });
    assert_rebuild_refused(&env, &shelf, &env.path("out"), "parity");
}

/// Fuzz-style: the parity tables (parity_groups, parity_members, parity_files) with one to
/// three cells set to hostile values (fixed seed, bounded count), data disc 1 lost. Restore
/// and rebuild-disc never crash or hang, exit as `--help` says, and write nothing large.
#[test]
fn fuzzed_parity_tables_never_crash_restore_or_rebuild() {
    let env = TestEnv::new();
    let base = parity_set(&env);
    fs::remove_dir_all(base.join("disc-0001")).unwrap();
    let tables = ["parity_groups", "parity_members", "parity_files"];
    let mut rng = Rng::new(0x25_0007);
    for i in 0..24 {
        let shelf = env.path(format!("fuzz-{i}"));
        cp_a(&base, &shelf);
        let done = fuzz_copies(&shelf, &tables, rng.next_u64(), 1 + rng.below(3));
        let what = format!("case {i}: {done:?}");
        eprintln!("{what}");
        let target = env.path(format!("target-{i}"));
        let out = restore(&env, &shelf, &target);
        assert_no_crash(&out, &format!("restore, {what}"));
        let out_dir = env.path(format!("out-{i}"));
        let out = butcher(
            &env,
            &[Path::new("rebuild-disc"), &shelf, Path::new("1"), &out_dir],
        );
        assert_no_crash(&out, &format!("rebuild-disc, {what}"));
        let written = bytes_below(&out_dir);
        assert!(written < 64 << 20, "{what}: {written} bytes in OUT_DIR");
    }
}
