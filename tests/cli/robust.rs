//! What a careless setup or a damaged small file must not do: back up the backup, read a
//! device without end, stop verify or refuse a message any OpenPGP reader accepts.

use std::fs;

use crate::common::{assert_trees_equal, stderr, stdout, TestEnv};

/// `butcher backup src src/backup`: DEST inside the source is left out with one note, so a
/// second run finds nothing new and stores nothing, and the restore is the source without it.
#[test]
fn dest_inside_the_source_is_left_out() {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    let dest = env.src().join("backup");
    let run = || {
        env.butcher_ok([
            "backup".as_ref(),
            env.src().as_os_str(),
            dest.as_os_str(),
            "--json".as_ref(),
        ])
    };
    let first = run();
    let err = stderr(&first);
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("inside the source"))
        .collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("DEST"), "{err}");
    assert!(!err.contains("not backed up"), "{err}");
    let second = run();
    let json = stdout(&second);
    assert!(json.contains("\"archives\":0"), "{json}");
    assert!(json.contains("\"new_bytes\":0"), "{json}");
    assert!(json.contains("\"discs\":[]"), "{json}");

    env.butcher_ok([
        "restore".as_ref(),
        dest.as_os_str(),
        env.target().as_os_str(),
    ]);
    fs::rename(&dest, env.path("backup-moved")).unwrap();
    assert_trees_equal(env.src(), env.target());
}

/// A catalogue copy and an archive decrypted and encrypted again by hand with gpg's defaults
/// (which put a compressed data packet inside): any OpenPGP reader accepts that, and so does
/// restore.
#[test]
fn messages_re_encrypted_by_gpg_with_compression_restore() {
    if !crate::common::require_tool("gpg") {
        return;
    }
    let env = TestEnv::new().with_passphrase(crate::util::PASS);
    crate::common::tree::make_small_tree(&env.src());
    crate::util::backup(&env, &[]);
    let pass = crate::util::pass_file(&env);
    let disc = crate::common::disc_dirs(&env.dest()).pop().unwrap();
    // A plain .tar archive: gpg does not compress what is compressed already (.tar.bz2).
    let archive = crate::util::archives(&env.dest())
        .into_iter()
        .find(|a| a.to_string_lossy().ends_with(".tar.gpg"))
        .expect("auto mode stored the random files in a plain .tar archive");
    for file in [disc.join("catalogue.db.gpg"), archive] {
        let plain = env.path("plain");
        crate::safety::gpg_decrypt(&env, &pass, &file, &plain);
        fs::remove_file(&file).unwrap();
        crate::common::run_ok(
            env.cmd("gpg")
                .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
                .arg("--passphrase-file")
                .arg(&pass)
                .args(["--compress-algo", "zlib", "--symmetric", "-o"])
                .arg(&file)
                .arg(&plain),
        );
        let packets = crate::common::run_ok(
            env.cmd("gpg")
                .args(["--batch", "--pinentry-mode", "loopback", "--list-packets"])
                .arg("--passphrase-file")
                .arg(&pass)
                .arg(&file),
        );
        let listing = stdout(&packets);
        assert!(listing.contains("compressed packet"), "{listing}");
        fs::remove_file(&plain).unwrap();
    }
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
    ]);
    assert_trees_equal(env.src(), env.target());
}

/// Two runs of the small tree: two discs, in DEST and copied to a folder of their own (no
/// working catalogue beside them).
fn two_disc_set(env: &TestEnv, extra: &[&str]) -> std::path::PathBuf {
    crate::common::tree::make_small_tree(&env.src());
    crate::util::backup(env, extra);
    fs::write(env.src().join("second.txt"), "second run\n").unwrap();
    crate::util::backup(env, extra);
    let copies = env.path("copies");
    fs::create_dir(&copies).unwrap();
    for d in crate::common::disc_dirs(&env.dest()) {
        crate::common::run_ok(env.cmd("cp").arg("-r").arg(&d).arg(&copies));
    }
    assert_eq!(crate::common::disc_dirs(&copies).len(), 2);
    copies
}

fn verify(env: &TestEnv, what: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["verify".to_string(), what.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = env.butcher(&args);
    (out.status.code(), stdout(&out) + &stderr(&out))
}

/// A byte that is not UTF-8 in one disc's SHA256SUMS is damage of that disc; the other disc
/// is still checked.
#[test]
fn a_non_utf8_sha256sums_is_damage_of_its_disc_only() {
    let env = TestEnv::new().with_passphrase("pw");
    let copies = two_disc_set(&env, &[]);
    let sums = copies.join("disc-0001/SHA256SUMS");
    let mut bytes = fs::read(&sums).unwrap();
    bytes.extend_from_slice(b"\xff\xfe not a line\n");
    fs::write(&sums, bytes).unwrap();
    let (code, text) = verify(&env, &copies, &[]);
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("disc-0001: DAMAGED"), "{text}");
    assert!(text.contains("disc-0002: ok"), "{text}");
}

/// verify --deep with a wrong passphrase is a wrong passphrase (exit 2), from DEST (whose
/// working catalogue is not encrypted) and from discs alike; no archive is called damaged.
#[test]
fn verify_deep_with_a_wrong_passphrase_says_so() {
    let mut env = TestEnv::new().with_passphrase("pw");
    let copies = two_disc_set(&env, &[]);
    env.set_env("BUTCHER_PASSPHRASE", "not the passphrase");
    for what in [env.dest(), copies] {
        let (code, text) = verify(&env, &what, &["--deep"]);
        assert_eq!(code, Some(2), "{text}");
        assert!(text.contains("wrong passphrase"), "{text}");
        assert!(!text.contains("DAMAGED"), "{text}");
    }
}

/// An archive name in a catalogue copy that is not one the format writes is reported, and the
/// file it points to (outside the disc) is never opened.
#[test]
fn an_archive_name_outside_the_disc_is_reported_not_opened() {
    let env = TestEnv::new();
    let copies = two_disc_set(&env, &["--no-encryption"]);
    fs::write(env.path("outside"), "not an archive").unwrap();
    let db = copies.join("disc-0002/catalogue.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n = conn
        .execute(
            "UPDATE archives SET name = '../../outside' WHERE id = 1",
            [],
        )
        .unwrap();
    assert!(n >= 1);
    drop(conn);
    // A crafted copy: its SHA256SUMS agrees with it.
    crate::safety::rewrite_sums(&copies.join("disc-0002"));
    let (code, text) = verify(&env, &copies, &[]);
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("\"../../outside\""), "{text}");
    assert!(text.contains("not an archive name"), "{text}");
    assert!(
        !text.contains("bytes, "),
        "the outside file was looked at: {text}"
    );
}

/// `butcher backup SRC DEST --no-encryption` with `extra` arguments.
fn backup_args(env: &TestEnv, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "backup".to_string(),
        env.src().display().to_string(),
        env.dest().display().to_string(),
        "--no-encryption".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A first run whose disc size leaves no room for one archive of the size asked is refused
/// before DEST is touched, saying how far to lower --archive-size; `close` then finds no
/// backup, instead of finishing an empty disc (issue 25). The size it says works.
#[test]
fn a_disc_too_small_for_one_archive_is_refused_before_dest_is_touched() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    let err = env.butcher_fails(
        backup_args(&env, &["--archive-size=64M", "--disc-size=1M"]),
        2,
    );
    assert!(!env.dest().exists(), "DEST was created: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("lower --archive-size"), "{err}");
    assert!(!err.contains("  "), "{err}");
    let closed = env.butcher_fails(
        [
            "close".as_ref(),
            env.dest().as_os_str(),
            "--no-encryption".as_ref(),
        ],
        2,
    );
    assert!(closed.contains("does not exist"), "{closed}");
    let size = err
        .split("--archive-size to ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no size said: {err}"));
    let archive = format!("--archive-size={size}");
    env.butcher_ok(backup_args(&env, &[&archive, "--disc-size=1M"]));
    crate::util::restore_and_compare(&env);
}

/// The STATUS column of snapshot `id` in `butcher snapshots DEST`.
fn snapshot_status(env: &TestEnv, id: u32) -> String {
    let out = env.butcher_ok(["snapshots".as_ref(), env.dest().as_os_str()]);
    let text = stdout(&out);
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&id.to_string().as_str()))
        .and_then(|w| w.get(3).map(|s| s.to_string()))
        .unwrap_or_else(|| panic!("no snapshot {id}: {text}"))
}

/// A run stopped by an error marks its snapshot interrupted, and a run killed before it could
/// is marked so by the next; `snapshots` and `status` show them so, not `running` forever
/// (issue 25).
#[test]
fn interrupted_runs_are_shown_as_interrupted() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    env.butcher_ok(backup_args(&env, &[]));
    // A file where the next disc directory goes stops the next run after it has begun.
    fs::write(env.src().join("new.txt"), "new").unwrap();
    let blocker = env.dest().join("disc-0002");
    fs::write(&blocker, "in the way").unwrap();
    env.butcher_fails(backup_args(&env, &[]), 1);
    assert_eq!(snapshot_status(&env, 2), "interrupted");
    fs::remove_file(&blocker).unwrap();

    // As a killed run leaves the catalogue: its snapshot begun and never finished.
    let conn = rusqlite::Connection::open(env.dest().join("catalogue.db")).unwrap();
    conn.execute(
        "INSERT INTO snapshots (started_ns, status, source) VALUES (1, 'running', x'2f')",
        [],
    )
    .unwrap();
    drop(conn);
    let out = env.butcher_ok(backup_args(&env, &[]));
    assert!(
        stderr(&out).contains("snapshot 3 was interrupted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot_status(&env, 3), "interrupted");
    assert_eq!(snapshot_status(&env, 4), "complete");
    let status = stdout(&env.butcher_ok(["status".as_ref(), env.dest().as_os_str()]));
    assert!(!status.contains("running"), "{status}");
    assert_eq!(status.matches("interrupted").count(), 2, "{status}");
}

/// Ctrl-C (SIGINT) in a backup prints one line saying the run was interrupted and that the
/// next run resumes, instead of ending silently (issue 25); the next run does resume, marks
/// the snapshot interrupted, and the set restores.
#[test]
fn an_interrupted_backup_says_so_and_the_next_run_resumes() {
    use std::os::unix::process::ExitStatusExt;
    let env = TestEnv::new();
    let mut rng = crate::common::tree::Rng::new(25);
    for i in 0..24 {
        fs::write(env.src().join(format!("f{i:02}.bin")), rng.bytes(200_000)).unwrap();
    }
    let sizes = ["--archive-size=128K", "--disc-size=1M"];
    let mut child = env
        .butcher_command()
        .args(backup_args(&env, &sizes))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !env.dest().join("disc-0001").exists() {
        if child.try_wait().unwrap().is_some() || started.elapsed().as_secs() > 60 {
            let _ = child.kill();
            panic!("the backup ended or hung before it could be interrupted");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGINT: i32 = 2;
    // SAFETY: kill() has no memory-safety preconditions; the child is not reaped yet.
    unsafe { kill(child.id() as i32, SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.signal(), Some(SIGINT), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("butcher: interrupted: "), "{err}");
    assert!(last.contains("resumes"), "{err}");

    let out = env.butcher_ok(backup_args(&env, &sizes));
    assert!(
        stderr(&out).contains("snapshot 1 was interrupted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot_status(&env, 1), "interrupted");
    crate::util::restore_and_compare(&env);
}
