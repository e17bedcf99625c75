//! No single damaged small file on a disc drops a disc, fakes a good restore or stops verify:
//! each case on a fresh two-run set of several discs, restored from DEST (its working
//! catalogue) and from a folder holding only copies of the discs, as a stranger has them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{assert_trees_equal, disc_dirs, run_ok, stderr, stdout, TestEnv};
use crate::safety::{restore, rewrite_sums};

/// The two-run set of `util::two_run_set`; returns a folder of copies of its discs (no
/// working catalogue beside them).
fn two_runs(env: &TestEnv, extra: &[&str]) -> PathBuf {
    crate::util::two_run_set(env, extra);
    let copies = env.path("copies");
    fs::create_dir(&copies).unwrap();
    for d in disc_dirs(&env.dest()) {
        run_ok(env.cmd("cp").arg("-r").arg(&d).arg(&copies));
    }
    copies
}

fn restore_code(env: &TestEnv, source: &Path, target: &Path) -> (Option<i32>, String) {
    let out = restore(env, source, target, &[]);
    (out.status.code(), stderr(&out))
}

fn verify(env: &TestEnv, source: &Path) -> (Option<i32>, String) {
    let out = env.butcher(["verify".as_ref(), source.as_os_str()]);
    (out.status.code(), stdout(&out) + &stderr(&out))
}

/// The disc directory of `copies` with the middle number.
fn middle(copies: &Path) -> PathBuf {
    let discs = disc_dirs(copies);
    discs[discs.len() / 2].clone()
}

/// Finding 1: a disc without its catalogue copy, or without SHA256SUMS, still gives up its
/// archives: the restore from the discs is exact; verify names that disc.
#[test]
fn a_disc_without_its_copy_or_sums_gives_up_its_archives() {
    for lost in ["catalogue.db.gpg", "SHA256SUMS"] {
        let env = TestEnv::new().with_passphrase("pw");
        let copies = two_runs(&env, &[]);
        let disc = middle(&copies);
        fs::remove_file(disc.join(lost)).unwrap();
        let (code, err) = restore_code(&env, &copies, &env.target());
        assert_eq!(code, Some(0), "{lost}: {err}");
        assert_trees_equal(env.src(), env.target());
        let (code, text) = verify(&env, &copies);
        assert_eq!(code, Some(4), "{lost}: {text}");
        let name = disc.file_name().unwrap().to_string_lossy().to_string();
        assert!(text.contains(&format!("{name}: DAMAGED")), "{lost}: {text}");
        let listed = text.lines().filter(|l| l.starts_with("disc-")).count();
        assert_eq!(
            listed,
            disc_dirs(&copies).len(),
            "every disc reported: {text}"
        );
    }
}

/// Finding 2: the newest disc's copy deleted. From DEST the working catalogue gives the newest
/// snapshot exactly; from the discs an older snapshot comes back with a WARNING and exit 3.
#[test]
fn a_lost_newest_copy_never_passes_an_older_snapshot_for_a_good_restore() {
    let env = TestEnv::new().with_passphrase("pw");
    let copies = two_runs(&env, &[]);
    let newest = disc_dirs(&copies).pop().unwrap();
    fs::remove_file(newest.join("catalogue.db.gpg")).unwrap();
    fs::remove_file(
        disc_dirs(&env.dest())
            .pop()
            .unwrap()
            .join("catalogue.db.gpg"),
    )
    .unwrap();
    let (code, err) = restore_code(&env, &env.dest(), &env.target());
    assert_eq!(code, Some(0), "{err}");
    assert_trees_equal(env.src(), env.target());
    let (code, err) = restore_code(&env, &copies, &env.path("from-discs"));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("WARNING") && err.contains("newer"), "{err}");
}

/// Finding 3: an older disc's copy put on the newest disc is passed over (SHA256SUMS flags
/// it): no "no complete snapshot" stop, but the best the other copies give, said loudly.
#[test]
fn an_older_copy_on_the_newest_disc_is_passed_over() {
    let env = TestEnv::new().with_passphrase("pw");
    let copies = two_runs(&env, &[]);
    let discs = disc_dirs(&copies);
    let newest = discs.last().unwrap();
    fs::copy(
        discs[0].join("catalogue.db.gpg"),
        newest.join("catalogue.db.gpg"),
    )
    .unwrap();
    let (code, err) = restore_code(&env, &copies, &env.target());
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("SHA256SUMS"),
        "the copy is not reported: {err}"
    );
    assert!(err.contains("WARNING"), "{err}");
    assert!(!err.contains("no complete snapshot"), "{err}");
}

/// Finding 4: one edit to the newest disc's README (a digit of the set id, or the disc
/// number) stops nothing: the discs' archives say which disc is which; verify reports it.
#[test]
fn readme_edits_do_not_stop_the_restore() {
    for line in [1, 2] {
        let env = TestEnv::new().with_passphrase("pw");
        let copies = two_runs(&env, &[]);
        let newest = disc_dirs(&copies).pop().unwrap();
        let readme = newest.join("README.txt");
        let text = fs::read_to_string(&readme).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[line - 1] = match line {
            1 => "butcher backup disc 0001".to_string(),
            _ => {
                let set_at = "backup set ".len();
                let mut l = lines[1].clone().into_bytes();
                l[set_at] = if l[set_at] == b'0' { b'1' } else { b'0' };
                String::from_utf8(l).unwrap()
            }
        };
        fs::write(&readme, lines.join("\n") + "\n").unwrap();
        let (code, err) = restore_code(&env, &copies, &env.target());
        assert_eq!(code, Some(0), "line {line}: {err}");
        assert_trees_equal(env.src(), env.target());
        let (code, text) = verify(&env, &copies);
        assert_eq!(code, Some(4), "line {line}: {text}");
    }
}

/// Finding 4, verify: a README renumbered and its SHA256SUMS fixed up is still reported: its
/// archives are another disc's.
#[test]
fn verify_reports_a_renumbered_disc_whose_sums_were_fixed_up() {
    let env = TestEnv::new().with_passphrase("pw");
    let copies = two_runs(&env, &[]);
    let disc = middle(&copies);
    let readme = disc.join("README.txt");
    let text = fs::read_to_string(&readme).unwrap();
    let rest = text.split_once('\n').unwrap().1;
    fs::write(&readme, format!("butcher backup disc 0010\n{rest}")).unwrap();
    rewrite_sums(&disc);
    let (code, text) = verify(&env, &copies);
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("names disc 0010"), "{text}");
    assert!(text.contains("its archives are those of disc"), "{text}");
}

/// Finding 7: entries a copy holds that restore cannot use (an unknown kind, a file below a
/// file) lose those entries only: the rest is restored exactly, exit 3, each named.
#[test]
fn bad_entries_lose_only_themselves() {
    let env = TestEnv::new();
    let copies = two_runs(&env, &["--no-encryption"]);
    let newest = disc_dirs(&copies).pop().unwrap();
    let conn = rusqlite::Connection::open(newest.join("catalogue.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO paths (id, parent, name)
           SELECT MAX(id) + 1, 0, CAST('notes.txt/child' AS BLOB) FROM paths;
         INSERT INTO versions (path_id, first_snapshot, kind, size, mtime_ns, mode, sha256,
                               inode, ctime_ns)
           SELECT (SELECT MAX(id) FROM paths), 1, kind, size, mtime_ns, mode, sha256, inode,
                  ctime_ns
           FROM versions WHERE id = (SELECT version_id FROM entries
                                     WHERE path = CAST('one/f1.bin' AS BLOB) LIMIT 1);
         PRAGMA ignore_check_constraints = ON;
         UPDATE versions SET kind = 'door' WHERE path_id =
           (SELECT id FROM path_names WHERE path = CAST('one/f2.bin' AS BLOB));",
    )
    .unwrap();
    drop(conn);
    rewrite_sums(&newest);
    let (code, err) = restore_code(&env, &copies, &env.target());
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("not restored: notes.txt/child"), "{err}");
    assert!(err.contains("not restored: notes.txt:"), "{err}");
    assert!(err.contains("not restored: one/f2.bin"), "{err}");
    assert!(err.contains("unknown kind"), "{err}");
    for kept in ["one/f0.bin", "one/f1.bin", "two/g0.bin"] {
        assert_eq!(
            fs::read(env.target().join(kept)).unwrap(),
            fs::read(env.src().join(kept)).unwrap(),
            "{kept}"
        );
    }
    // verify finds the crafted copy damaged (SQLite's integrity check counts the kind's CHECK
    // constraint) and names it.
    let (code, text) = verify(&env, &copies);
    assert_eq!(code, Some(4), "{text}");
    let name = newest.file_name().unwrap().to_string_lossy().to_string();
    assert!(text.contains(&format!("{name}/catalogue.db")), "{text}");
}

/// Finding 7: an archive row that cannot be read (`disc = -1`) loses the files it holds, not
/// the restore.
#[test]
fn an_unreadable_archive_row_loses_only_its_files() {
    let env = TestEnv::new();
    let copies = two_runs(&env, &["--no-encryption"]);
    let newest = disc_dirs(&copies).pop().unwrap();
    let conn = rusqlite::Connection::open(newest.join("catalogue.db")).unwrap();
    let member: Vec<u8> = conn
        .query_row(
            "SELECT member FROM pieces WHERE archive_id = 1 ORDER BY piece LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; UPDATE archives SET disc = -1 WHERE id = 1;")
        .unwrap();
    drop(conn);
    rewrite_sums(&newest);
    let lost = String::from_utf8(member).unwrap();
    let lost = lost.split(".butcher-piece-").next().unwrap().to_string();
    let (code, err) = restore_code(&env, &copies, &env.target());
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains(&format!("not restored: {lost}")), "{err}");
    assert!(err.contains("archive 1"), "{err}");
    assert_eq!(
        fs::read(env.target().join("two/g2.bin")).unwrap(),
        fs::read(env.src().join("two/g2.bin")).unwrap()
    );
}
