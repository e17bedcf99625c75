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
