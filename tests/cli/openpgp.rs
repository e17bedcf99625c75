//! The OpenPGP messages butcher writes (archives and catalogue copies) open in other readers:
//! GnuPG, rnp and PGPy each decrypt them to the same bytes, which are a zstd-compressed tar
//! stream holding the tree's file (the archive) and an SQLite database (the catalogue copy).
//! The archive is several MiB, so its packets use partial body lengths.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::Rng;
use crate::common::{disc_dirs, require_tool, run, run_ok, stderr, TestEnv};

const PASS: &str = "readers' passphrase";

/// Whether python3 can import pgpy; like `require_tool` otherwise.
fn require_pgpy(env: &TestEnv) -> bool {
    if !require_tool("python3") {
        return false;
    }
    if run(env.cmd("python3").args(["-c", "import pgpy"]))
        .status
        .success()
    {
        return true;
    }
    if std::env::var_os("BUTCHER_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("required python module pgpy is missing (BUTCHER_REQUIRE_TOOLS=1)");
    }
    eprintln!("skipping: python3 module pgpy not installed");
    false
}

fn gpg_decrypt(env: &TestEnv, file: &Path, passfile: &Path) -> Vec<u8> {
    run_ok(env.cmd("gpg").args([
        "--batch".as_ref(),
        "--pinentry-mode".as_ref(),
        "loopback".as_ref(),
        "--passphrase-file".as_ref(),
        passfile.as_os_str(),
        "-d".as_ref(),
        file.as_os_str(),
    ]))
    .stdout
}

fn rnp_decrypt(env: &TestEnv, file: &Path) -> Vec<u8> {
    let home = env.path("rnp-home");
    fs::create_dir_all(&home).unwrap();
    let out = env.path("rnp-out");
    let _ = fs::remove_file(&out);
    run_ok(env.cmd("rnp").args([
        "--homedir".as_ref(),
        home.as_os_str(),
        "--password".as_ref(),
        PASS.as_ref(),
        "-d".as_ref(),
        file.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ]));
    fs::read(&out).unwrap()
}

fn pgpy_decrypt(env: &TestEnv, file: &Path) -> Vec<u8> {
    let script = "import sys, pgpy\n\
        m = pgpy.PGPMessage.from_file(sys.argv[1])\n\
        d = m.decrypt(sys.argv[2])\n\
        b = d.message\n\
        sys.stdout.buffer.write(b if isinstance(b, (bytes, bytearray)) else b.encode())\n";
    run_ok(env.cmd("python3").args(["-c", script]).arg(file).arg(PASS)).stdout
}

fn one_file(dir: &Path, suffix: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

#[test]
fn gnupg_rnp_and_pgpy_read_what_butcher_writes() {
    let env = TestEnv::new();
    if !require_tool("gpg") || !require_tool("rnp") || !require_tool("zstd") || !require_pgpy(&env)
    {
        return;
    }
    // 3 MiB that does not compress, so the archive's packets span several 1 MiB chunks.
    let data = Rng::new(26).bytes(3 << 20);
    fs::write(env.src().join("photo.jpg"), &data).unwrap();
    fs::write(env.src().join("note.txt"), "a note\n".repeat(1000)).unwrap();
    let passfile = env.path("passfile");
    fs::write(&passfile, format!("{PASS}\n")).unwrap();
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--compression".as_ref(),
        "zstd".as_ref(),
        "--passphrase-file".as_ref(),
        passfile.as_os_str(),
    ]);
    let disc = disc_dirs(&env.dest()).into_iter().next().expect("a disc");
    let archive = one_file(&disc, ".tar.zst.gpg");
    let catalogue = disc.join("catalogue.db.gpg");

    for file in [&archive, &catalogue] {
        let by_gpg = gpg_decrypt(&env, file, &passfile);
        assert!(
            !by_gpg.is_empty(),
            "gpg decrypted {} to nothing",
            file.display()
        );
        assert_eq!(
            rnp_decrypt(&env, file),
            by_gpg,
            "rnp and gpg differ on {}",
            file.display()
        );
        assert_eq!(
            pgpy_decrypt(&env, file),
            by_gpg,
            "PGPy and gpg differ on {}",
            file.display()
        );
    }

    // The archive's plaintext is the tar stream holding the file, byte for byte.
    let plain = env.path("archive.tar.zst");
    fs::write(&plain, gpg_decrypt(&env, &archive, &passfile)).unwrap();
    let unpacked = env.path("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let out = run(env
        .cmd("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&plain)
        .arg("-C")
        .arg(&unpacked));
    assert!(out.status.success(), "tar: {}", stderr(&out));
    assert_eq!(fs::read(unpacked.join("photo.jpg")).unwrap(), data);
    // The catalogue copy's plaintext is an SQLite database.
    let db = gpg_decrypt(&env, &catalogue, &passfile);
    assert!(
        db.starts_with(b"SQLite format 3\0"),
        "not an SQLite database"
    );

    // A flipped byte in the middle of the archive fails every reader (the MDC, or the
    // decompression of what it decrypts to).
    let mut bytes = fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let damaged = env.path("damaged.gpg");
    fs::write(&damaged, &bytes).unwrap();
    let gpg = run(env.cmd("gpg").args([
        "--batch".as_ref(),
        "--pinentry-mode".as_ref(),
        "loopback".as_ref(),
        "--passphrase-file".as_ref(),
        passfile.as_os_str(),
        "-o".as_ref(),
        "/dev/null".as_ref(),
        "-d".as_ref(),
        damaged.as_os_str(),
    ]));
    assert!(!gpg.status.success(), "gpg accepted a damaged archive");
}
