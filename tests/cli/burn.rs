//! Disc images made by scripts/burn.sh read back and restore exactly.

use std::path::Path;

use crate::common::{assert_trees_equal, disc_dirs, require_tool, run, run_ok};
use crate::util::{backup, hostile_env};

fn burn_sh() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/burn.sh")
}

#[test]
fn iso_images_read_back_restore_exactly() {
    if !require_tool("xorriso") || !require_tool("sha256sum") {
        return;
    }
    let (env, _) = hostile_env();
    backup(&env, &[]);
    let readback = env.path("readback");
    std::fs::create_dir(&readback).unwrap();
    for d in disc_dirs(&env.dest()) {
        let name = d.file_name().unwrap().to_owned();
        let iso = env.path(format!("{}.iso", name.to_string_lossy()));
        run_ok(
            env.cmd("bash")
                .arg(burn_sh())
                .arg(&d)
                .arg("--iso")
                .arg(&iso),
        );
        assert!(iso.metadata().unwrap().len() > 0);
        run_ok(
            env.cmd("xorriso")
                .args(["-osirrox", "on", "-indev"])
                .arg(&iso)
                .args(["-extract", "/"])
                .arg(readback.join(&name)),
        );
    }
    env.butcher_ok([
        "restore".as_ref(),
        readback.as_os_str(),
        env.target().as_os_str(),
    ]);
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn burn_refuses_a_disc_whose_checksums_fail() {
    if !require_tool("xorriso") || !require_tool("sha256sum") {
        return;
    }
    let env = crate::common::TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let d = &disc_dirs(&env.dest())[0];
    std::fs::write(d.join("README.txt"), "tampered").unwrap();
    let out = run(env
        .cmd("bash")
        .arg(burn_sh())
        .arg(d)
        .arg("--iso")
        .arg(env.path("x.iso")));
    assert!(!out.status.success());
    assert!(!env.path("x.iso").exists());
}

/// Discs of the smallest size butcher accepts, filled by a tree much larger than one disc:
/// every image burn.sh makes fits the disc size the backup used, which the README names, and
/// a disc size the image exceeds is refused.
#[test]
fn images_of_the_smallest_discs_fit_them() {
    if !require_tool("xorriso") || !require_tool("sha256sum") {
        return;
    }
    let (env, _) = hostile_env();
    let smallest = butcher::MIN_DISC_BYTES;
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--archive-size".as_ref(),
        crate::util::ARCHIVE.to_string().as_ref(),
        "--disc-size".as_ref(),
        smallest.to_string().as_ref(),
    ]);
    let discs = disc_dirs(&env.dest());
    assert!(discs.len() >= 3, "{} discs", discs.len());
    let mut fullest = 0;
    for d in &discs {
        let readme = std::fs::read_to_string(d.join("README.txt")).unwrap();
        let line2 = readme.lines().nth(1).unwrap();
        assert!(
            line2.ends_with(&format!("disc size {smallest} bytes")),
            "{line2}"
        );
        let iso = env.path("disc.iso");
        run_ok(env.cmd("bash").arg(burn_sh()).arg(d).arg("--iso").arg(&iso));
        let size = iso.metadata().unwrap().len();
        assert!(size <= smallest, "{}: image of {size} bytes", d.display());
        fullest = fullest.max(size);
        std::fs::remove_file(&iso).unwrap();
    }
    // The discs were filled, not left mostly empty.
    assert!(
        fullest > smallest / 2,
        "the fullest image has {fullest} bytes"
    );

    let out = run(env
        .cmd("bash")
        .arg(burn_sh())
        .arg(&discs[0])
        .arg("--iso")
        .arg(env.path("small.iso"))
        .args(["--disc-size", "256K"]));
    assert!(!out.status.success());
    assert!(
        crate::common::stderr(&out).contains("more than the disc's 262144 bytes"),
        "{}",
        crate::common::stderr(&out)
    );
    assert!(!env.path("small.iso").exists());
}
