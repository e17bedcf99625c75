//! Backup then restore gives back the same tree.

use std::fs;

use crate::common::{assert_trees_equal, disc_dirs, disc_number, sha256_file, stderr, TestEnv};
use crate::util::{archives, backup, hostile_env, ARCHIVE, DISC};

#[test]
fn hostile_tree_round_trip_over_several_archives_and_discs() {
    let (env, facts) = hostile_env();
    assert!(
        facts.total_file_bytes > 8 * ARCHIVE,
        "tree too small for the test"
    );
    let out = backup(&env, &[]);
    let stderr = stderr(&out);
    assert!(stderr.contains("snapshot 1"), "no summary: {stderr}");

    let discs = disc_dirs(&env.dest());
    assert!(
        discs.len() >= 2,
        "expected several discs, got {}",
        discs.len()
    );
    let archives = archives(&env.dest());
    assert!(
        archives.len() >= 8,
        "expected several archives, got {}",
        archives.len()
    );
    for a in &archives {
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        // The default (auto) writes compressible content to .tar.bz2 and the rest to .tar.
        assert!(
            name.ends_with(".tar.bz2.gpg") || name.ends_with(".tar.gpg"),
            "{name}"
        );
        assert!(name.is_ascii() && name.len() <= 24, "{name}");
    }
    // Identical contents are stored once: the archives hold less than the tree.
    let stored: u64 = archives
        .iter()
        .map(|a| fs::metadata(a).unwrap().len())
        .sum();
    assert!(
        stored < facts.total_file_bytes,
        "{stored} >= {}",
        facts.total_file_bytes
    );

    crate::util::restore_and_compare(&env);
}

#[test]
fn every_disc_but_the_last_is_filled_close_to_full() {
    let (env, _) = hostile_env();
    backup(&env, &[]);
    let discs = disc_dirs(&env.dest());
    assert!(discs.len() >= 2);
    for d in &discs[..discs.len() - 1] {
        let used: u64 = crate::util::disc_files(d)
            .iter()
            .map(|f| fs::metadata(f).unwrap().len())
            .sum();
        assert!(used <= DISC, "{} holds {used} > {DISC}", d.display());
        // The room left must be less than what closing reserves plus one useful archive. The
        // disc's image also holds the ISO 9660 structures, which butcher reserves room for
        // (format 3): xorriso writes 67,584 bytes of them for a directory of a few files.
        let with_iso = used + 67_584;
        assert!(
            with_iso * 10 >= DISC * 7,
            "{} holds only {used} of {DISC}, {with_iso} with the ISO structures",
            d.display()
        );
    }
}

fn round_trip_with(compression: &str, encrypted: bool) {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    let mut extra = vec!["--compression", compression];
    if !encrypted {
        extra.push("--no-encryption");
    }
    backup(&env, &extra);
    let ext = match compression {
        "bzip2" => ".tar.bz2",
        "zstd" => ".tar.zst",
        _ => ".tar",
    };
    for a in archives(&env.dest()) {
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        let want = format!("{ext}{}", if encrypted { ".gpg" } else { "" });
        assert!(name.ends_with(&want), "{name} does not end with {want}");
    }
    let copy = if encrypted {
        "catalogue.db.gpg"
    } else {
        "catalogue.db"
    };
    assert!(disc_dirs(&env.dest())[0].join(copy).is_file());
    crate::util::restore_and_compare(&env);
}

#[test]
fn zstd_round_trip() {
    round_trip_with("zstd", true);
}

#[test]
fn uncompressed_unencrypted_round_trip() {
    round_trip_with("none", false);
}

#[test]
fn restore_of_a_subset_with_path_globs() {
    let env = TestEnv::new().with_passphrase("pw");
    let src = env.src();
    fs::create_dir_all(src.join("photos/2019")).unwrap();
    fs::create_dir_all(src.join("docs")).unwrap();
    fs::write(src.join("photos/2019/a.jpg"), b"jpeg a").unwrap();
    fs::write(src.join("photos/b.jpg"), b"jpeg b").unwrap();
    fs::write(src.join("docs/c.txt"), b"text c").unwrap();
    backup(&env, &[]);
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
        "--path".as_ref(),
        "photos/2019".as_ref(),
        "--path".as_ref(),
        "docs/*.txt".as_ref(),
    ]);
    let t = env.target();
    assert_eq!(fs::read(t.join("photos/2019/a.jpg")).unwrap(), b"jpeg a");
    assert_eq!(fs::read(t.join("docs/c.txt")).unwrap(), b"text c");
    assert!(!t.join("photos/b.jpg").exists());
}

#[test]
fn passphrase_from_file_and_flag() {
    let env = TestEnv::new();
    crate::common::tree::make_small_tree(&env.src());
    let pf = crate::util::pass_file(&env);
    let pf_arg = format!("--passphrase-file={}", pf.display());
    backup(&env, &[&pf_arg]);
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
        format!("--passphrase={}", crate::util::PASS).as_ref(),
    ]);
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn a_disc_left_open_by_an_interrupted_run_is_finished_by_the_next() {
    if !crate::common::require_tool("sqlite3") {
        return;
    }
    let (env, _) = crate::util::hostile_env();
    backup(&env, &[]);
    let discs = disc_dirs(&env.dest());
    let last = discs.last().unwrap().clone();
    let number = disc_number(&last);
    // As a killed run leaves it: the disc still open, not closed, and an archive file written
    // but never recorded.
    for f in ["SHA256SUMS", "README.txt", "catalogue.db.gpg"] {
        fs::remove_file(last.join(f)).unwrap();
    }
    fs::write(last.join("a999999.tar.bz2.gpg"), "stray").unwrap();
    crate::common::run_ok(
        env.cmd("sqlite3")
            .arg(env.dest().join("catalogue.db"))
            .arg(format!(
                "UPDATE discs SET status = 'open' WHERE number = {number}"
            )),
    );
    fs::write(env.src().join("added after the crash.txt"), "more").unwrap();
    backup(&env, &[]);
    assert!(
        last.join("SHA256SUMS").is_file(),
        "the open disc was not finished"
    );
    assert!(
        !last.join("a999999.tar.bz2.gpg").exists(),
        "stray file kept"
    );
    let out = crate::common::run(
        env.cmd("sha256sum")
            .arg("-c")
            .arg("SHA256SUMS")
            .current_dir(&last),
    );
    assert!(out.status.success());
    crate::util::restore_and_compare(&env);
}

#[test]
fn a_disc_whose_closing_was_interrupted_is_finished_by_the_next_run() {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let disc = disc_dirs(&env.dest()).pop().unwrap();
    // As a run killed after marking the disc closed leaves it: no SHA256SUMS (written last).
    fs::remove_file(disc.join("SHA256SUMS")).unwrap();
    fs::remove_file(disc.join("README.txt")).unwrap();
    let out = backup(&env, &[]);
    assert!(stderr(&out).contains("finished closing disc-0001"));
    let sums = fs::read_to_string(disc.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let (sha, name) = line.split_once("  ").unwrap();
        assert_eq!(sha256_file(&disc.join(name)), sha, "{name}");
    }
    assert!(disc.join("README.txt").is_file());
    crate::util::restore_and_compare(&env);
}

#[test]
fn auto_compression_stores_random_content_plain_and_text_compressed() {
    let env = TestEnv::new().with_passphrase("pw");
    let src = env.src();
    fs::create_dir_all(src.join("media")).unwrap();
    fs::create_dir_all(src.join("docs")).unwrap();
    let mut rng = crate::common::Rng::new(11);
    let random_bytes = 3 * 100_000u64;
    for i in 0..3 {
        fs::write(src.join(format!("media/IMG_{i}.jpg")), rng.bytes(100_000)).unwrap();
    }
    for i in 0..3 {
        let text: String = (0..8000)
            .map(|k| format!("line {} of note {i}\n", rng.below(50) + k % 7))
            .collect();
        fs::write(src.join(format!("docs/note-{i}.txt")), text).unwrap();
    }
    fs::write(src.join("docs/tiny.txt"), "hello\n").unwrap();
    fs::write(src.join("docs/empty.txt"), "").unwrap();
    backup(&env, &["--compression", "auto"]);

    let (mut plain_bytes, mut compressed) = (0u64, 0);
    for a in archives(&env.dest()) {
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".tar.gpg") {
            plain_bytes += fs::metadata(&a).unwrap().len();
        } else {
            assert!(name.ends_with(".tar.bz2.gpg"), "{name}");
            compressed += 1;
        }
    }
    // The random files (split over several archives) went into plain .tar archives, the text
    // into compressed ones.
    assert!(
        plain_bytes >= random_bytes,
        "{plain_bytes} < {random_bytes}"
    );
    assert!(compressed >= 1, "no compressed archive");
    crate::util::restore_and_compare(&env);
}

#[test]
fn progress_is_plain_lines_without_a_terminal_and_nothing_when_quiet() {
    let env = TestEnv::new()
        .with_passphrase("pw")
        .with_env("BUTCHER_PROGRESS_SECONDS", "0");
    crate::common::tree::make_small_tree(&env.src());
    let out = backup(&env, &[]);
    let err = stderr(&out);
    for stage in ["hashing:", "packing:"] {
        assert!(
            err.contains(&format!("butcher: {stage}")),
            "{stage} missing: {err}"
        );
    }
    assert!(
        !err.contains('\u{1b}'),
        "terminal escapes without a terminal: {err}"
    );
    let out = env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
        "--quiet".as_ref(),
    ]);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}
