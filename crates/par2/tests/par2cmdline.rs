//! What this crate writes, par2cmdline verifies and repairs; what par2cmdline writes, this
//! crate checks and repairs. Skipped when `par2` is absent unless BUTCHER_REQUIRE_TOOLS is set.

use std::fs;
use std::path::Path;
use std::process::Command;

use butcher_par2::{check, create, load, rebuild, CreateOptions};

fn have_par2() -> bool {
    let ok = Command::new("par2")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var_os("BUTCHER_REQUIRE_TOOLS").is_some() {
        panic!("par2 (par2cmdline) is required");
    }
    ok
}

/// Deterministic bytes that do not compress.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("a000001.tar.bz2.gpg".into(), noise(1, 300_000)),
        ("a000002.tar.gpg".into(), noise(2, 123_457)),
        ("catalogue.db.gpg".into(), noise(3, 40_001)),
        ("README.txt".into(), b"read me\n".repeat(500)),
        ("FORMAT.txt".into(), b"format\n".repeat(3000)),
    ]
}

fn write_all(dir: &Path, fs_: &[(String, Vec<u8>)]) {
    for (n, d) in fs_ {
        fs::write(dir.join(n), d).unwrap();
    }
}

fn make(dir: &Path, percent: u32) -> Vec<(String, u64)> {
    let names: Vec<String> = files().into_iter().map(|f| f.0).collect();
    create(
        &CreateOptions {
            dir,
            files: &names,
            base: "disc-0001",
            percent,
            creator: "butcher-par2 test",
            tmp_suffix: ".partial",
            memory: 1 << 30,
        },
        &|_, _| {},
    )
    .unwrap()
}

fn par2(dir: &Path, args: &[&str]) -> bool {
    Command::new("par2")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

fn same(dir: &Path, fs_: &[(String, Vec<u8>)]) {
    for (n, d) in fs_ {
        assert!(fs::read(dir.join(n)).unwrap() == *d, "{n} differs");
    }
}

#[test]
fn par2cmdline_verifies_and_repairs_what_we_write() {
    if !have_par2() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let fs_ = files();
    write_all(t.path(), &fs_);
    let written = make(t.path(), 10);
    assert_eq!(written[0].0, "disc-0001.par2");
    for (n, len) in &written {
        assert_eq!(fs::metadata(t.path().join(n)).unwrap().len(), *len, "{n}");
    }
    let lengths: Vec<(&str, u64)> = fs_
        .iter()
        .map(|f| (f.0.as_str(), f.1.len() as u64))
        .collect();
    let planned = butcher_par2::rule::planned_files(&lengths, 10, "disc-0001", "butcher-par2 test");
    assert_eq!(planned, written, "the planned sizes are exact");
    assert!(par2(t.path(), &["verify", "-q", "disc-0001.par2"]));
    // Scattered damage: a byte in the first and in the last slice of two files, a deleted file.
    let mut a = fs_[0].1.clone();
    a[10] ^= 0xff;
    a[299_990] ^= 1;
    fs::write(t.path().join(&fs_[0].0), &a).unwrap();
    let mut b = fs_[1].1.clone();
    b[70_000] ^= 4;
    fs::write(t.path().join(&fs_[1].0), &b).unwrap();
    fs::remove_file(t.path().join("README.txt")).unwrap();
    assert!(!par2(t.path(), &["verify", "-q", "disc-0001.par2"]));
    assert!(par2(t.path(), &["repair", "-q", "disc-0001.par2"]));
    same(t.path(), &fs_);
}

#[test]
fn we_repair_what_we_write_and_what_par2cmdline_writes() {
    let ours = tempfile::tempdir().unwrap();
    let fs_ = files();
    write_all(ours.path(), &fs_);
    let written = make(ours.path(), 10);
    let mut dirs = vec![(
        ours,
        written.iter().map(|w| w.0.clone()).collect::<Vec<_>>(),
    )];
    if have_par2() {
        let theirs = tempfile::tempdir().unwrap();
        write_all(theirs.path(), &fs_);
        let mut args = vec!["create", "-q", "-s8192", "-r20", "theirs.par2"];
        let names: Vec<&str> = fs_.iter().map(|f| f.0.as_str()).collect();
        args.extend(names);
        assert!(par2(theirs.path(), &args));
        let list: Vec<String> = fs::read_dir(theirs.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".par2"))
            .collect();
        dirs.push((theirs, list));
    }
    for (dir, names) in &dirs {
        let d = dir.path();
        let set = load(d, names).unwrap();
        let clean = check(d, &set, &|_| {}).unwrap();
        assert!(clean.data_whole(&set));
        assert_eq!(clean.bad_slices, 0);
        // Damage: bytes in two files, a truncated file, a deleted file.
        let mut a = fs_[0].1.clone();
        a[5000] ^= 0x80;
        fs::write(d.join(&fs_[0].0), &a).unwrap();
        fs::write(d.join(&fs_[2].0), &fs_[2].1[..100]).unwrap();
        fs::remove_file(d.join("README.txt")).unwrap();
        let report = check(d, &set, &|_| {}).unwrap();
        assert!(!report.data_whole(&set));
        assert!(report.bad_slices >= 3);
        assert!(
            report.repairable(),
            "{} of {}",
            report.bad_slices,
            report.recovery
        );
        let all: Vec<usize> = (0..set.files.len()).collect();
        let out = tempfile::tempdir().unwrap();
        let rebuilt = rebuild(
            d,
            &set,
            &report,
            &all,
            &|k| out.path().join(&set.files[k].name),
            1 << 20,
        )
        .unwrap();
        assert_eq!(rebuilt, report.bad_slices);
        for (k, st) in report.files.iter().enumerate() {
            let name = &set.files[k].name;
            if !st.whole(set.files[k].len) {
                let want = &fs_.iter().find(|f| &f.0 == name).unwrap().1;
                assert!(fs::read(out.path().join(name)).unwrap() == *want, "{name}");
            }
        }
    }
}

#[test]
fn too_much_damage_is_not_repairable_and_small_memory_gives_the_same_files() {
    let t = tempfile::tempdir().unwrap();
    let fs_ = files();
    write_all(t.path(), &fs_);
    let big = make(t.path(), 5);
    let u = tempfile::tempdir().unwrap();
    write_all(u.path(), &fs_);
    let names: Vec<String> = fs_.iter().map(|f| f.0.clone()).collect();
    // Computed 64 bytes of every slice at a time: the very same files.
    let small = create(
        &CreateOptions {
            dir: u.path(),
            files: &names,
            base: "disc-0001",
            percent: 5,
            creator: "butcher-par2 test",
            tmp_suffix: ".partial",
            memory: 64,
        },
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(big, small);
    for (n, _) in &big {
        assert!(
            fs::read(t.path().join(n)).unwrap() == fs::read(u.path().join(n)).unwrap(),
            "{n}"
        );
    }
    let set = load(
        t.path(),
        &big.iter().map(|w| w.0.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    fs::remove_file(t.path().join(&fs_[0].0)).unwrap();
    let report = check(t.path(), &set, &|_| {}).unwrap();
    assert!(!report.repairable());
    let all: Vec<usize> = (0..set.files.len()).collect();
    let err = rebuild(
        t.path(),
        &set,
        &report,
        &all,
        &|k| t.path().join(format!("{k}.out")),
        1 << 20,
    )
    .unwrap_err();
    assert!(
        matches!(err, butcher_par2::RepairError::NotEnough { .. }),
        "{err}"
    );
}

/// Scattered damage: one flipped byte in as many separate slices as there are recovery slices
/// is repaired exactly (each costs one slice); one place more is beyond repair.
#[test]
fn as_many_damaged_places_as_recovery_slices_are_repaired() {
    let t = tempfile::tempdir().unwrap();
    let data = noise(7, 4 << 20);
    fs::write(t.path().join("a.bin"), &data).unwrap();
    let names = vec!["a.bin".to_string()];
    let written = create(
        &CreateOptions {
            dir: t.path(),
            files: &names,
            base: "d",
            percent: 10,
            creator: "butcher-par2 test",
            tmp_suffix: ".partial",
            memory: 1 << 30,
        },
        &|_, _| {},
    )
    .unwrap();
    let set = load(
        t.path(),
        &written.iter().map(|w| w.0.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    let r = set.recovery.len();
    let s = set.slice_size as usize;
    assert!(r >= 100, "{r} recovery slices");
    let mut damaged = data.clone();
    // A byte in every tenth slice, each at a different place within its slice.
    for k in 0..=r {
        damaged[k * 10 * s % data.len() + (k * 37) % s] ^= 0x5a;
    }
    let all = [0usize];
    // One place too many.
    fs::write(t.path().join("a.bin"), &damaged).unwrap();
    let report = check(t.path(), &set, &|_| {}).unwrap();
    assert_eq!(report.bad_slices, r + 1);
    assert!(!report.repairable());
    // Exactly as many places as recovery slices.
    let k = r;
    damaged[k * 10 * s % data.len() + (k * 37) % s] ^= 0x5a;
    fs::write(t.path().join("a.bin"), &damaged).unwrap();
    let report = check(t.path(), &set, &|_| {}).unwrap();
    assert_eq!(report.bad_slices, r);
    let out = t.path().join("a.out");
    rebuild(t.path(), &set, &report, &all, &|_| out.clone(), 1 << 20).unwrap();
    assert!(fs::read(&out).unwrap() == data);
}
