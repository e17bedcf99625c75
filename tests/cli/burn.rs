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
