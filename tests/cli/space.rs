//! DEST running out of space: a clear error, and the next run resumes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::Rng;
use crate::common::{assert_trees_equal, is_root, run, TestEnv};

/// A small tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Option<Self> {
        fs::create_dir_all(path).unwrap();
        let out = run(std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path));
        out.status.success().then(|| SmallDisk(path.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let out = run(std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0));
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_dest_is_a_clear_error_and_the_next_run_resumes() {
    if !is_root() {
        eprintln!("skipping: mounting a small file system needs root");
        return;
    }
    let env = TestEnv::new().with_passphrase("pw");
    let mut rng = Rng::new(77);
    for i in 0..8 {
        fs::write(env.src().join(format!("f{i}.bin")), rng.bytes(700_000)).unwrap();
    }
    let Some(disk) = SmallDisk::mount(&env.path("small"), "2m") else {
        if std::env::var_os("BUTCHER_REQUIRE_TOOLS").is_some() {
            panic!("cannot mount a tmpfs as root");
        }
        eprintln!("skipping: cannot mount a tmpfs here");
        return;
    };
    let dest = disk.0.join("dest");
    let args = |d: &Path| {
        vec![
            "backup".into(),
            env.src().into_os_string(),
            d.as_os_str().to_owned(),
            std::ffi::OsString::from("--archive-size=512K"),
            "--disc-size=4M".into(),
        ]
    };
    let err = env.butcher_fails(args(&dest), 1);
    assert!(err.contains("the disk is full"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    disk.grow("64m");
    env.butcher_ok(args(&dest));
    let leftovers: Vec<_> = crate::common::walk(&dest)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    env.butcher_ok([
        "restore".as_ref(),
        dest.as_os_str(),
        env.target().as_os_str(),
    ]);
    assert_trees_equal(env.src(), env.target());
}
