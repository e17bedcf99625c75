//! Recovery data on every disc (format 4): damage on a copy of a disc is repaired by
//! par2cmdline, by `butcher repair` and by `butcher restore` on the fly; damage beyond it is
//! reported as such and loses only the files of the damaged archives.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::damage::flip_byte;
use crate::common::tree::Rng;
use crate::common::{assert_trees_equal, cp_a, disc_dirs, require_tool, stdout, TestEnv};

const PASS: &str = "recovery test passphrase";

/// A one-disc encrypted backup of 40 files that do not compress, in 13 archives of 64 KiB, at
/// 20 % recovery data.
fn one_disc_set() -> TestEnv {
    let env = TestEnv::new().with_passphrase(PASS);
    let mut rng = Rng::new(14);
    for i in 0..40 {
        let dir = env.src().join(format!("d{}", i % 4));
        fs::create_dir_all(&dir).unwrap();
        let len = 15_000 + rng.below(10_000) as usize;
        fs::write(dir.join(format!("f{i:02}.bin")), rng.bytes(len)).unwrap();
    }
    let src = env.src();
    let dest = env.dest();
    env.butcher_ok([
        "backup".as_ref(),
        src.as_os_str(),
        dest.as_os_str(),
        "--archive-size=64K".as_ref(),
        "--disc-size=8M".as_ref(),
        "--parity=20".as_ref(),
        "-q".as_ref(),
    ]);
    assert_eq!(disc_dirs(&dest).len(), 1, "one disc");
    env
}

fn files_of(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    v.sort();
    v
}

fn archives_of(dir: &Path) -> Vec<PathBuf> {
    files_of(dir, |n| n.starts_with('a') && n.contains(".tar"))
}

/// Bytes of recovery data on the disc (the recovery slices of the volume files).
fn recovery_bytes(dir: &Path) -> u64 {
    let names: Vec<String> = files_of(dir, |n| n.ends_with(".par2"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let set = butcher_par2::load(dir, &names).unwrap();
    set.recovery.len() as u64 * set.slice_size
}

/// A fresh copy of the disc of `env` at `to`, damaged by `damage`.
fn damaged_copy(env: &TestEnv, to: &Path, damage: &dyn Fn(&Path)) -> PathBuf {
    let disc = &disc_dirs(&env.dest())[0];
    fs::create_dir_all(to).unwrap();
    let copy = to.join(disc.file_name().unwrap());
    cp_a(disc, &copy);
    damage(&copy);
    copy
}

/// Every file of `a` and `b` (two disc directories) has the same bytes.
fn assert_same_disc(a: &Path, b: &Path) {
    let names = |d: &Path| -> Vec<String> {
        files_of(d, |_| true)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(a), names(b));
    for n in names(a) {
        assert!(
            fs::read(a.join(&n)).unwrap() == fs::read(b.join(&n)).unwrap(),
            "{n} differs"
        );
    }
}

/// Damage done to a disc directory.
type Damage = Box<dyn Fn(&Path)>;

/// The damage patterns of the issue, each within the recovery data.
fn patterns() -> Vec<(&'static str, Damage)> {
    vec![
        (
            "a zeroed range of half the recovery size",
            Box::new(|d: &Path| {
                let half = recovery_bytes(d) / 2;
                let a = &archives_of(d)[3];
                let mut bytes = fs::read(a).unwrap();
                let start = 1000;
                let end = (start + half as usize).min(bytes.len());
                bytes[start..end].fill(0);
                // Spills into the next archive when this one is shorter.
                fs::write(a, &bytes).unwrap();
            }),
        ),
        (
            "20 flipped bytes in different archives",
            Box::new(|d: &Path| {
                let archives = archives_of(d);
                assert!(archives.len() >= 10, "{} archives", archives.len());
                for i in 0..20 {
                    let a = &archives[i % archives.len()];
                    let len = fs::metadata(a).unwrap().len() as usize;
                    // Different archives, and apart within one.
                    let offset = if i < archives.len() { 100 } else { len - 100 };
                    flip_byte(a, offset);
                }
            }),
        ),
        (
            "a deleted archive smaller than the recovery data",
            Box::new(|d: &Path| {
                let a = &archives_of(d)[5];
                assert!(fs::metadata(a).unwrap().len() < recovery_bytes(d));
                fs::remove_file(a).unwrap();
            }),
        ),
        (
            "a truncated catalogue copy",
            Box::new(|d: &Path| {
                let c = d.join("catalogue.db.gpg");
                let len = fs::metadata(&c).unwrap().len();
                let f = fs::File::options().write(true).open(&c).unwrap();
                f.set_len(len - len.min(recovery_bytes(d) / 2)).unwrap();
            }),
        ),
        (
            "a damaged README",
            Box::new(|d: &Path| {
                let r = d.join("README.txt");
                let mut text = fs::read(&r).unwrap();
                text[0..40].fill(b'#');
                let n = text.len();
                text[n - 10..].fill(b'~');
                fs::write(&r, text).unwrap();
            }),
        ),
    ]
}

#[test]
fn damage_within_the_recovery_data_is_repaired_by_par2cmdline_repair_and_restore() {
    let has_par2 = require_tool("par2");
    let env = one_disc_set();
    let original = disc_dirs(&env.dest())[0].clone();
    let name = original.file_name().unwrap().to_string_lossy().into_owned();
    let index = format!("{name}.par2");
    for (k, (what, damage)) in patterns().into_iter().enumerate() {
        // verify names the disc damaged and repairable, exit 4.
        let copy = damaged_copy(&env, &env.path(format!("v{k}")), &*damage);
        let out = env.butcher(["verify".as_ref(), copy.as_os_str(), "-q".as_ref()]);
        assert_eq!(out.status.code(), Some(4), "{what}: verify exit");
        let first = stdout(&out).lines().next().unwrap_or("").to_string();
        assert!(
            first.contains(": DAMAGED, repairable: ") && first.contains(" recovery slices needed"),
            "{what}: {first}"
        );

        // par2cmdline repairs a copy.
        if has_par2 {
            let copy = damaged_copy(&env, &env.path(format!("p{k}")), &*damage);
            let out = env
                .cmd("par2")
                .args(["repair", "-q", &index])
                .current_dir(&copy)
                .output()
                .unwrap();
            assert!(out.status.success(), "{what}: par2 repair: {out:?}");
            for backup in files_of(&copy, |n| n.ends_with(".1")) {
                fs::remove_file(backup).unwrap();
            }
            assert_same_disc(&copy, &original);
        }

        // butcher repair repairs a copy in place, to the same bytes.
        let copy = damaged_copy(&env, &env.path(format!("r{k}")), &*damage);
        env.butcher_ok(["repair".as_ref(), copy.as_os_str()]);
        assert_same_disc(&copy, &original);

        // restore from a damaged copy repairs on the fly: the exact tree, exit 0, a note
        // naming the disc; the copy is left as it was.
        let folder = env.path(format!("f{k}"));
        let copy = damaged_copy(&env, &folder, &*damage);
        let before: Vec<(PathBuf, Vec<u8>)> = files_of(&copy, |_| true)
            .into_iter()
            .map(|p| {
                let b = fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        let target = env.path(format!("t{k}"));
        let out = env.butcher_ok(["restore".as_ref(), folder.as_os_str(), target.as_os_str()]);
        assert_trees_equal(env.src(), &target);
        let err = crate::common::stderr(&out);
        if what != "a damaged README" {
            assert!(
                err.contains("repaired with its") && err.contains(&name),
                "{what}: {err}"
            );
        }
        for (p, b) in before {
            assert!(fs::read(&p).unwrap() == b, "{what}: restore changed {p:?}");
        }
    }
}

#[test]
fn damage_beyond_the_recovery_data_is_reported_and_loses_only_the_damaged_archives() {
    let env = one_disc_set();
    let folder = env.path("copies");
    let copy = damaged_copy(&env, &folder, &|d: &Path| {
        // Three archives gone and one overwritten: more slices than the recovery data has.
        let archives = archives_of(d);
        for k in [2, 5, 7] {
            fs::remove_file(&archives[k]).unwrap();
        }
        let a = &archives[9];
        let len = fs::metadata(a).unwrap().len() as usize;
        let mut b = fs::read(a).unwrap();
        b[..len].fill(7);
        fs::write(a, b).unwrap();
    });
    let out = env.butcher(["verify".as_ref(), copy.as_os_str()]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(text.contains(": DAMAGED, not repairable: "), "{text}");
    env.butcher_fails(["repair".as_ref(), copy.as_os_str()], 4);

    let target = env.target();
    let err = env.butcher_fails(
        ["restore".as_ref(), folder.as_os_str(), target.as_os_str()],
        3,
    );
    // Only the files of the three damaged archives are lost, and each is listed.
    let lost: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("butcher: not restored: "))
        .collect();
    assert!(!lost.is_empty(), "{err}");
    let mut restored = 0;
    for f in crate::common::list_files(&env.src()) {
        let rel = f.strip_prefix(env.src()).unwrap();
        let got = target.join(rel);
        if got.exists() {
            assert!(fs::read(&got).unwrap() == fs::read(&f).unwrap(), "{rel:?}");
            restored += 1;
        } else {
            let shown = rel.to_string_lossy();
            assert!(
                lost.iter().any(|l| l.starts_with(&*shown)),
                "{shown} not listed: {err}"
            );
        }
    }
    assert!(restored >= 24, "{restored} files restored");
    assert!(lost.len() <= 16, "{} lost", lost.len());
}

#[test]
fn damaged_recovery_files_alone_are_reported_and_restore_is_exact() {
    let env = one_disc_set();
    let folder = env.path("copies");
    let copy = damaged_copy(&env, &folder, &|d: &Path| {
        let vols = files_of(d, |n| n.contains(".vol"));
        flip_byte(&vols[0], 200);
        fs::remove_file(&vols[1]).unwrap();
    });
    let out = env.butcher(["verify".as_ref(), copy.as_os_str()]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("DAMAGED, repairable: the data is whole;")
            && text.contains("recovery slices damaged or missing"),
        "{text}"
    );
    let target = env.target();
    env.butcher_ok(["restore".as_ref(), folder.as_os_str(), target.as_os_str()]);
    assert_trees_equal(env.src(), &target);
    // repair writes the recovery files again, the same bytes as the disc had.
    env.butcher_ok(["repair".as_ref(), copy.as_os_str()]);
    assert_same_disc(&copy, &disc_dirs(&env.dest())[0]);
}

#[test]
fn parity_zero_writes_no_recovery_files_and_out_of_range_is_refused() {
    let env = TestEnv::new().with_passphrase(PASS);
    fs::write(env.src().join("a.txt"), "alpha\n").unwrap();
    let (src, dest) = (env.src(), env.dest());
    env.butcher_ok([
        "backup".as_ref(),
        src.as_os_str(),
        dest.as_os_str(),
        "--parity=0".as_ref(),
        "-q".as_ref(),
    ]);
    let disc = &disc_dirs(&dest)[0];
    assert!(files_of(disc, |n| n.ends_with(".par2")).is_empty());
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            src.as_os_str(),
            dest.as_os_str(),
            "--parity=101".as_ref(),
        ],
        2,
    );
    assert!(err.contains("101"), "{err}");
    // repair of a disc without recovery data says so.
    let copy = env.path("copy");
    cp_a(disc, &copy);
    let err = env.butcher_fails(["repair".as_ref(), copy.as_os_str()], 2);
    assert!(err.contains("no recovery files"), "{err}");
}

#[test]
fn a_damaged_sha256sums_is_vouched_for_by_the_recovery_data_and_written_again_by_repair() {
    let env = one_disc_set();
    let folder = env.path("copies");
    let copy = damaged_copy(&env, &folder, &|d: &Path| {
        let sums = d.join("SHA256SUMS");
        let mut text = fs::read(&sums).unwrap();
        // Every line's checksum garbled: SHA256SUMS vouches for nothing.
        for (i, b) in text.iter_mut().enumerate() {
            if i % 100 == 5 {
                *b = b'0' + (*b % 7);
            }
        }
        fs::write(&sums, text).unwrap();
    });
    let out = env.butcher(["verify".as_ref(), copy.as_os_str()]);
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("DAMAGED, repairable: the data is whole; only SHA256SUMS differs"),
        "{text}"
    );
    // Restore trusts the catalogue copy because the recovery data vouches for it.
    let target = env.target();
    let out = env.butcher_ok(["restore".as_ref(), folder.as_os_str(), target.as_os_str()]);
    assert_trees_equal(env.src(), &target);
    assert!(
        crate::common::stderr(&out).contains("its disc's recovery data does"),
        "{}",
        crate::common::stderr(&out)
    );
    env.butcher_ok(["repair".as_ref(), copy.as_os_str()]);
    assert_same_disc(&copy, &disc_dirs(&env.dest())[0]);
}

/// The catalogue copy of the last disc deleted, within that disc's recovery data: restore
/// rebuilds it from the recovery data (into TARGET's staging directory, never on the disc) and
/// restores the newest snapshot exactly, with exit 0, instead of asking for the last disc it
/// was given.
#[test]
fn a_deleted_catalogue_copy_on_the_last_disc_is_rebuilt_by_restore() {
    let env = TestEnv::new().with_passphrase(PASS);
    let mut rng = Rng::new(25);
    for i in 0..30 {
        let len = 15_000 + rng.below(10_000) as usize;
        fs::write(env.src().join(format!("f{i:02}.bin")), rng.bytes(len)).unwrap();
    }
    let (src, dest) = (env.src(), env.dest());
    env.butcher_ok([
        "backup".as_ref(),
        src.as_os_str(),
        dest.as_os_str(),
        "--archive-size=64K".as_ref(),
        "--disc-size=640K".as_ref(),
        "--parity=60".as_ref(),
        "-q".as_ref(),
    ]);
    let discs = disc_dirs(&dest);
    assert!(discs.len() >= 2, "{} disc(s)", discs.len());
    let folder = env.path("copies");
    fs::create_dir_all(&folder).unwrap();
    for d in &discs {
        cp_a(d, &folder.join(d.file_name().unwrap()));
    }
    let last = folder.join(discs.last().unwrap().file_name().unwrap());
    let copy = last.join("catalogue.db.gpg");
    assert!(fs::metadata(&copy).unwrap().len() < recovery_bytes(&last));
    fs::remove_file(&copy).unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = crate::common::list_files(&folder)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();

    let target = env.target();
    let out = env.butcher(["restore".as_ref(), folder.as_os_str(), target.as_os_str()]);
    let err = crate::common::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_trees_equal(env.src(), &target);
    assert!(
        err.contains("catalogue.db.gpg") && err.contains("repaired with its disc's recovery data"),
        "{err}"
    );
    let after: Vec<(PathBuf, Vec<u8>)> = crate::common::list_files(&folder)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert!(after == before, "restore changed the discs");
}
