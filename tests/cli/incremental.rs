//! Incremental snapshots: only new content is stored, discs are numbered on after the burned
//! ones were removed, every snapshot comes back (with butcher and by hand), one disc at a time.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::Rng;
use crate::common::{assert_trees_equal, cp_a, disc_dirs, flip_byte, keeping_mtime, require_tool};
use crate::common::{run_ok, run_with_input, stderr, stdout, TestEnv};

const ARCH: &str = "4M";
const DISC: &str = "16M";

fn write_random(path: &Path, len: usize, seed: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, Rng::new(seed).bytes(len)).unwrap();
}

fn write_text(path: &Path, lines: usize, word: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = (0..lines).map(|i| format!("{word} line {i}\n")).collect();
    fs::write(path, text).unwrap();
}

/// `butcher backup --json` and the parsed numbers we look at.
struct Run {
    json: String,
    stderr: String,
    hashed_files: u64,
    archives: u64,
    written_bytes: u64,
    discs: Vec<u32>,
}

fn field(json: &str, key: &str) -> String {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else {
        rest.find([',', '}']).unwrap()
    };
    rest[..end].to_string()
}

fn backup_json(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec!["backup".to_string(), env.src().display().to_string()];
    args.push(env.dest().display().to_string());
    for a in [
        "--archive-size",
        ARCH,
        "--disc-size",
        DISC,
        "--compression",
        "zstd",
        "--json",
    ] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = env.butcher_ok(&args);
    let stderr = stderr(&out);
    let json = String::from_utf8(out.stdout).unwrap();
    let discs = field(&json, "discs");
    Run {
        json: json.clone(),
        stderr,
        hashed_files: field(&json, "hashed_files").parse().unwrap(),
        archives: field(&json, "archives").parse().unwrap(),
        written_bytes: field(&json, "written_bytes").parse().unwrap(),
        discs: discs
            .trim_matches(['[', ']'])
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect(),
    }
}

/// Moves the disc directories out of DEST, as after burning them.
fn burn(env: &TestEnv) -> usize {
    let shelf = env.path("shelf");
    fs::create_dir_all(&shelf).unwrap();
    let discs = disc_dirs(&env.dest());
    for d in &discs {
        fs::rename(d, shelf.join(d.file_name().unwrap())).unwrap();
    }
    discs.len()
}

fn keep_copy(env: &TestEnv, name: &str) -> PathBuf {
    let copy = env.path(name);
    cp_a(&env.src(), &copy);
    copy
}

fn restore_snapshot(env: &TestEnv, n: u32, into: &str) -> PathBuf {
    let target = env.path(into);
    env.butcher_ok([
        "restore".as_ref(),
        env.path("shelf").as_os_str(),
        target.as_os_str(),
        "--snapshot".as_ref(),
        n.to_string().as_ref(),
    ]);
    target
}

#[test]
fn three_snapshots_each_restore_exactly() {
    let env = TestEnv::new().with_passphrase("pw");
    let src = env.src();
    write_random(&src.join("media/big.bin"), 50 << 20, 1);
    write_random(&src.join("photos/2019/a.jpg"), 300_000, 2);
    write_random(&src.join("photos/2019/b.jpg"), 200_000, 3);
    write_text(&src.join("docs/letter.txt"), 2000, "dear");
    write_text(&src.join("docs/log.txt"), 500, "log");
    write_text(&src.join("docs/old.txt"), 100, "old");
    let first = backup_json(&env, &[]);
    assert!(
        first.archives > 10 && first.discs.len() >= 3,
        "{}",
        first.discs.len()
    );
    let snap1 = keep_copy(&env, "snap1");
    let discs1 = burn(&env);

    // Rename the 50 MiB file, move a directory, copy a file: no new content.
    fs::rename(src.join("media/big.bin"), src.join("media/big-renamed.bin")).unwrap();
    fs::create_dir_all(src.join("archive")).unwrap();
    fs::rename(src.join("photos/2019"), src.join("archive/2019")).unwrap();
    fs::copy(
        src.join("docs/letter.txt"),
        src.join("docs/letter copy.txt"),
    )
    .unwrap();
    let second = backup_json(&env, &[]);
    assert!(
        second.written_bytes < 1 << 20,
        "rename/move/copy wrote {}",
        second.written_bytes
    );
    assert!(second.archives <= 1);
    assert!(
        second.json.contains("\"renamed\":3,\"copied\":1,"),
        "{}",
        second.json
    );
    assert!(
        second.stderr.contains("0 changed")
            && second.stderr.contains("3 renamed or moved, 1 copied"),
        "{}",
        second.stderr
    );
    let snap2 = keep_copy(&env, "snap2");
    burn(&env);

    // Edit, append, delete, add.
    write_text(&src.join("docs/letter.txt"), 2000, "dearest");
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(src.join("docs/log.txt"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"one more line\n").unwrap();
    drop(log);
    fs::remove_file(src.join("docs/old.txt")).unwrap();
    write_random(&src.join("photos/2020/c.jpg"), 400_000, 4);
    let third = backup_json(&env, &[]);
    assert!(third.archives >= 1);
    let expected = (discs1 + second.discs.len()) as u32 + 1;
    assert_eq!(
        third.discs.first().copied(),
        Some(expected),
        "numbering goes on"
    );
    let snap3 = keep_copy(&env, "snap3");
    burn(&env);

    // Nothing changed: nothing read, nothing written.
    let fourth = backup_json(&env, &[]);
    assert_eq!((fourth.hashed_files, fourth.archives), (0, 0));
    assert!(fourth.discs.is_empty() && disc_dirs(&env.dest()).is_empty());

    for (n, want) in [(1, &snap1), (2, &snap2), (3, &snap3)] {
        let got = restore_snapshot(&env, n, &format!("restored{n}"));
        assert_trees_equal(want, &got);
    }
    if require_tool("gpg") && require_tool("sqlite3") && require_tool("zstd") {
        let pass = env.path("pass");
        fs::write(&pass, "pw\n").unwrap();
        for (n, want) in [(1, &snap1), (3, &snap3)] {
            let target = env.path(format!("by-hand{n}"));
            run_ok(
                env.cmd("bash")
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/scripts/restore-by-hand.sh"
                    ))
                    .arg(env.path("shelf"))
                    .arg(&target)
                    .arg(n.to_string())
                    .env("PASSFILE", &pass),
            );
            assert_trees_equal(want, &target);
        }
    }
}

fn tree_hash(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = crate::common::walk(dir)
        .into_iter()
        .map(|rel| {
            let p = dir.join(&rel);
            let data = if p.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (rel, data)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn dry_run_writes_nothing() {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    backup_json(&env, &[]);
    write_random(&env.src().join("new/file.bin"), 5 << 20, 9);
    let before = tree_hash(&env.dest());
    let mtime_before = fs::metadata(env.dest().join("catalogue.db"))
        .unwrap()
        .modified()
        .unwrap();
    let out = env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--archive-size=4M".as_ref(),
        "--disc-size=16M".as_ref(),
        "--dry-run".as_ref(),
    ]);
    let err = stderr(&out);
    assert!(err.contains("would store 5.2 MB"), "{err}");
    assert!(err.contains("disc-0002"), "{err}");
    assert_eq!(before, tree_hash(&env.dest()), "dry run changed DEST");
    let mtime_after = fs::metadata(env.dest().join("catalogue.db"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime_before, mtime_after);
    // And into a new DEST: nothing is created.
    let fresh = env.path("fresh");
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        fresh.as_os_str(),
        "--dry-run".as_ref(),
    ]);
    assert!(!fresh.exists());
}

#[test]
fn excludes_leave_paths_out() {
    let env = TestEnv::new().with_passphrase("pw");
    let src = env.src();
    write_text(&src.join("a.txt"), 3, "a");
    write_text(&src.join("b.tmp"), 3, "b");
    write_text(&src.join("keep.tmp"), 3, "k");
    write_text(&src.join("cache/x.txt"), 3, "x");
    write_text(&src.join("sub/cache/y.txt"), 3, "y");
    write_text(&src.join("sub/z.log"), 3, "z");
    let rules = env.path("rules");
    fs::write(&rules, "# comments are fine\ncache/\n!keep.tmp\n").unwrap();
    env.butcher_ok([
        "backup".as_ref(),
        src.as_os_str(),
        env.dest().as_os_str(),
        "--exclude".as_ref(),
        "*.tmp".as_ref(),
        "--exclude".as_ref(),
        "/sub/*.log".as_ref(),
        "--exclude-from".as_ref(),
        rules.as_os_str(),
    ]);
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
    ]);
    let got: Vec<String> = crate::common::walk(&env.target())
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(got, vec!["a.txt", "sub"], "{got:?}");
}

/// The hashes of a file whose content changed while size and mtime stayed (as bit rot does).
#[test]
fn rehash_reports_silent_changes() {
    let env = TestEnv::new().with_passphrase("pw");
    let f = env.src().join("photo.jpg");
    write_random(&f, 10_000, 5);
    backup_json(&env, &[]);
    // Same size, same mtime, one byte different.
    keeping_mtime(&f, || flip_byte(&f, 5000));
    let out = env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--rehash".as_ref(),
        "--json".as_ref(),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("photo.jpg") && err.contains("silent corruption"),
        "{err}"
    );
    let json = stdout(&out);
    assert_eq!(field(&json, "silent_changes"), "1");
    assert_eq!(field(&json, "hashed_files"), "1");
}

fn multi_disc_backup(env: &TestEnv) -> Vec<PathBuf> {
    for i in 0..6 {
        write_random(&env.src().join(format!("f{i}.bin")), 600_000, 10 + i);
    }
    // Text that compresses is packed after the media (--compression auto), so the last disc
    // holds it whole, whatever the capacity accounting leaves room for.
    fs::write(
        env.src().join("notes.txt"),
        "a note
"
        .repeat(100),
    )
    .unwrap();
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--archive-size=256K".as_ref(),
        "--disc-size=900K".as_ref(),
    ]);
    let discs = disc_dirs(&env.dest());
    assert!(discs.len() >= 4, "{}", discs.len());
    discs
}

#[test]
fn one_disc_at_a_time_through_the_prompt() {
    if !require_tool("script") {
        return;
    }
    let env = TestEnv::new().with_passphrase("pw");
    let discs = multi_disc_backup(&env);
    let last = discs.last().unwrap();
    // The drive holds the last disc. Asked for the last disc first (the drive's disc might not
    // be it), Enter says it is; each further disc is answered with its path, in order.
    let answers: String = std::iter::once("\n".to_string())
        .chain(
            discs[..discs.len() - 1]
                .iter()
                .map(|d| format!("{}\n", d.display())),
        )
        .collect();
    let cmd = format!(
        "{} restore {} {}",
        env!("CARGO_BIN_EXE_butcher"),
        last.display(),
        env.target().display()
    );
    // A restore that asks for one disc more than it is given waits for an answer that never
    // comes: the limit turns that into a failure.
    let out = run_with_input(
        env.cmd("script").args(["-qec", &cmd, "/dev/null"]),
        answers.as_bytes(),
        std::time::Duration::from_secs(120),
    );
    let shown = stdout(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("insert disc 0001"), "{shown}");
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn one_disc_without_a_terminal_restores_what_it_holds() {
    let env = TestEnv::new().with_passphrase("pw");
    let discs = multi_disc_backup(&env);
    let out = env.butcher([
        "restore".as_ref(),
        discs.last().unwrap().as_os_str(),
        env.target().as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("disc 0001 was needed but not at hand"),
        "{err}"
    );
    assert!(err.contains("not restored: f0.bin"), "{err}");
    // What the last disc holds whole is restored and checked; nothing partial is left.
    let restored = crate::common::walk(&env.target());
    assert!(!restored.is_empty());
    for rel in restored {
        let got = fs::read(env.target().join(&rel)).unwrap();
        assert_eq!(
            got,
            fs::read(env.src().join(&rel)).unwrap(),
            "{}",
            rel.display()
        );
    }
}
