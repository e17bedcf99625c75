//! Hostile recovery data and SHA256SUMS on a disc (issue 25, points 1 and 2): crafted PAR2
//! sets and crafted or damaged SHA256SUMS never make `verify`, `repair` or `restore` write
//! outside the disc, read a FIFO or a device, allocate what the disc's files do not justify,
//! panic or hang. Each ends with a clear finding and the exit code `--help` documents.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use butcher_par2::packet::{self, Md5Hash};

use crate::common::tree::Rng;
use crate::common::{
    cp_a, disc_dirs, flip_byte, run_ok, run_within, sha256_file, sha256_hex, stderr, stdout, walk,
    TestEnv,
};

const PASS: &str = "hostile recovery passphrase";

/// Long enough for a debug build on a busy machine; only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

/// A one-disc encrypted backup of 12 files that do not compress, in archives of 64 KiB, at
/// 20 % recovery data; `work/` is created beside it for copies of the disc.
fn one_disc() -> TestEnv {
    let env = TestEnv::new().with_passphrase(PASS);
    let mut rng = Rng::new(25);
    for i in 0..12 {
        let len = 15_000 + rng.below(10_000) as usize;
        fs::write(env.src().join(format!("f{i:02}.bin")), rng.bytes(len)).unwrap();
    }
    let (src, dest) = (env.src(), env.dest());
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
    fs::create_dir(env.path("work")).unwrap();
    env
}

/// A fresh copy of the disc at `work/disc-0001`.
fn fresh_copy(env: &TestEnv) -> PathBuf {
    let copy = env.path("work/disc-0001");
    if copy.exists() {
        fs::remove_dir_all(&copy).unwrap();
    }
    cp_a(&disc_dirs(&env.dest())[0], &copy);
    copy
}

/// Runs the binary with `args` within [`LIMIT`]: a hang fails the test.
fn butcher(env: &TestEnv, args: &[&std::ffi::OsStr]) -> Output {
    let mut cmd = env.butcher_command();
    cmd.args(args);
    run_within(&mut cmd, LIMIT)
}

fn verify(env: &TestEnv, disc: &Path) -> Output {
    butcher(env, &["verify".as_ref(), disc.as_os_str()])
}

fn repair(env: &TestEnv, disc: &Path) -> Output {
    butcher(env, &["repair".as_ref(), disc.as_os_str()])
}

/// The exit code, failing the test on a signal (an abort) or a panic (101).
fn code(out: &Output, what: &str) -> i32 {
    let c = out.status.code().unwrap_or_else(|| {
        panic!(
            "{what}: killed by a signal ({:?})\n{}",
            out.status,
            stderr(out)
        )
    });
    assert_ne!(c, 101, "{what}: panicked\n{}", stderr(out));
    c
}

/// Every path below the test's directory but the disc copy and the gpg home, with the sha256
/// of each regular file (or what else it is): a write outside the disc changes it.
fn outside(env: &TestEnv) -> BTreeMap<PathBuf, String> {
    walk(env.root())
        .into_iter()
        .filter(|rel| !rel.starts_with("work/disc-0001") && !rel.starts_with("gnupg"))
        .map(|rel| {
            let p = env.root().join(&rel);
            let md = fs::symlink_metadata(&p).unwrap();
            let what = if md.is_file() {
                sha256_file(&p)
            } else {
                format!("{:?}", md.file_type())
            };
            (rel, what)
        })
        .collect()
}

/// The recovery files of a disc directory.
fn par2_files(disc: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(disc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".par2"))
        .collect();
    v.sort();
    v
}

/// The files the disc's recovery data protects (all but SHA256SUMS and the recovery files).
fn protected(disc: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(disc)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS" && !n.ends_with(".par2"))
        .collect();
    v.sort();
    v
}

/// Writes SHA256SUMS again so that it lists every file of the disc as it now is: the disc
/// then looks whole to a check against it, whatever its recovery files hold.
fn relist(disc: &Path) {
    let mut text = String::new();
    for e in fs::read_dir(disc).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name != "SHA256SUMS" {
            text.push_str(&format!("{}  {name}\n", sha256_file(&disc.join(&name))));
        }
    }
    fs::write(disc.join("SHA256SUMS"), text).unwrap();
}

/// Replaces the disc's recovery files with a set over `files` (names relative to the disc,
/// as the set records them), written by the PAR2 code butcher uses.
fn replace_set(disc: &Path, files: &[String]) {
    for p in par2_files(disc) {
        fs::remove_file(p).unwrap();
    }
    let opts = butcher_par2::CreateOptions {
        dir: disc,
        files,
        base: "disc-0001",
        percent: 20,
        creator: "crafted",
        tmp_suffix: ".partial",
        memory: 16 << 20,
    };
    butcher_par2::create(&opts, &|_, _| {}).unwrap();
}

#[test]
fn repair_never_writes_where_a_crafted_file_name_points() {
    let env = one_disc();
    let abs = env.path("abs-victim");
    for name in ["../victim".to_string(), abs.to_string_lossy().into_owned()] {
        let disc = fresh_copy(&env);
        let victim = disc.join(&name);
        // The set vouches for the attacker's bytes under that name; the victim holds others.
        fs::write(&victim, vec![b'A'; 20_000]).unwrap();
        let mut files = protected(&disc);
        files.push(name.clone());
        replace_set(&disc, &files);
        fs::write(&victim, b"the victim's own bytes").unwrap();
        relist(&disc);
        let before = outside(&env);

        let out = repair(&env, &disc);
        let c = code(&out, "repair");
        assert_eq!(
            String::from_utf8_lossy(&fs::read(&victim).unwrap()),
            "the victim's own bytes",
            "{name}: repair wrote outside the disc\n{}",
            stderr(&out)
        );
        assert_eq!(
            outside(&env),
            before,
            "{name}: something changed outside the disc"
        );
        assert_eq!(c, 4, "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{name:?}, which is not a file")),
            "{name}: {}",
            stderr(&out)
        );

        // The disc matches its SHA256SUMS, but its recovery data cannot be used: damage.
        let out = verify(&env, &disc);
        assert_eq!(code(&out, "verify"), 4, "{name}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("{name:?}, which is not a file")),
            "{name}: {}",
            stdout(&out)
        );
        assert_eq!(
            outside(&env),
            before,
            "{name}: verify changed something outside"
        );
        let _ = fs::remove_file(&victim);
    }
}

/// Replaces the file `name` of `disc` with a FIFO.
fn mkfifo(disc: &Path, name: &str) {
    let p = disc.join(name);
    fs::remove_file(&p).unwrap();
    run_ok(Command::new("mkfifo").arg(&p));
}

#[test]
fn verify_and_repair_never_open_a_fifo_or_a_device() {
    let env = one_disc();
    let original = disc_dirs(&env.dest())[0].clone();
    let archive = protected(&original)
        .into_iter()
        .find(|n| n.starts_with('a'))
        .unwrap();
    let volume = par2_files(&original)[1]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, &str, Plant)> = vec![
        (
            "an archive as a FIFO",
            archive.as_str(),
            Box::new(|d: &Path| mkfifo(d, &archive)) as Plant,
        ),
        (
            "a volume file as a FIFO",
            volume.as_str(),
            Box::new(|d: &Path| mkfifo(d, &volume)) as Plant,
        ),
        (
            "an archive as a link to /dev/zero",
            archive.as_str(),
            Box::new(|d: &Path| {
                fs::remove_file(d.join(&archive)).unwrap();
                symlink("/dev/zero", d.join(&archive)).unwrap();
            }) as Plant,
        ),
    ];
    for (what, name, plant) in &cases {
        let disc = fresh_copy(&env);
        plant(&disc);
        let out = verify(&env, &disc);
        assert_eq!(code(&out, "verify"), 4, "{what}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("not a regular file") && stdout(&out).contains(*name),
            "{what}: {}",
            stdout(&out)
        );
        // Repair rebuilds the file in its place, a regular file again.
        let out = repair(&env, &disc);
        assert_eq!(code(&out, "repair"), 0, "{what}: {}", stderr(&out));
        let md = fs::symlink_metadata(disc.join(name)).unwrap();
        assert!(md.is_file(), "{what}: {md:?}");
        assert_eq!(
            sha256_file(&disc.join(name)),
            sha256_file(&original.join(name)),
            "{what}"
        );
        assert_eq!(code(&verify(&env, &disc), "verify"), 0, "{what}");
    }
}

/// The disc's real set, read with the PAR2 code butcher uses.
fn real_set(disc: &Path) -> butcher_par2::RecoverySet {
    let names: Vec<String> = par2_files(disc)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    butcher_par2::load(disc, &names).unwrap()
}

/// Replaces the disc's recovery files with one index file holding a set of the disc's files
/// with slices of `slice_size` bytes: their checksums are the true ones when `true_sums`,
/// else made up. `recovery` recovery slices (of made-up bytes) go with it.
fn crafted_set(disc: &Path, slice_size: u64, true_sums: bool, recovery: u32) {
    let real = real_set(disc);
    let ids: Vec<Md5Hash> = real.files.iter().map(|f| f.id).collect();
    let main = packet::main_body(slice_size, &ids);
    let set_id = packet::md5(&main);
    let mut out = packet::packet(&set_id, packet::MAIN, &main);
    for f in &real.files {
        let body = packet::file_desc_body(&f.id, &f.md5, &f.md5_16k, f.len, &f.name);
        out.extend(packet::packet(&set_id, packet::FILE_DESC, &body));
        let data = fs::read(disc.join(&f.name)).unwrap();
        let count = f.len.div_ceil(slice_size);
        let slices: Vec<(Md5Hash, u32)> = (0..count)
            .map(|j| {
                if !true_sums {
                    return ([j as u8; 16], 0);
                }
                let start = (j * slice_size) as usize;
                let mut s = data[start..(start + slice_size as usize).min(data.len())].to_vec();
                s.resize(slice_size as usize, 0);
                (packet::md5(&s), 0)
            })
            .collect();
        out.extend(packet::packet(
            &set_id,
            packet::IFSC,
            &packet::ifsc_body(&f.id, &slices),
        ));
    }
    for e in 0..recovery {
        let mut body = e.to_le_bytes().to_vec();
        body.extend(vec![7u8; slice_size as usize]);
        out.extend(packet::packet(&set_id, packet::RECOVERY, &body));
    }
    for p in par2_files(disc) {
        fs::remove_file(p).unwrap();
    }
    fs::write(disc.join("disc-0001.par2"), out).unwrap();
}

#[test]
fn a_crafted_slice_size_or_slice_count_is_refused_by_verify_restore_and_repair() {
    let env = one_disc();
    let (target, work) = (env.target(), env.path("work"));
    // Slices of 1 TiB; slices of 4 bytes, some 200,000 of them (PAR2 allows 32,768), with one
    // recovery slice for the one damaged slice, far into the set.
    let cases: [(&str, u64, bool, u32); 2] = [
        ("slices of 2^40 bytes", 1 << 40, false, 0),
        ("200,000 slices", 4, true, 1),
    ];
    for (what, slice_size, true_sums, recovery) in cases {
        let disc = fresh_copy(&env);
        crafted_set(&disc, slice_size, true_sums, recovery);
        // The last archive the set protects: a file restore needs (the set's order follows
        // file ids, which change with every run's random session keys, so the last file of
        // the set may be one restore never reads).
        let last = real_set(&disc_dirs(&env.dest())[0])
            .files
            .iter()
            .rev()
            .find(|f| f.name.contains(".tar"))
            .unwrap()
            .name
            .clone();
        let len = fs::metadata(disc.join(&last)).unwrap().len() as usize;
        // In the middle: a byte of its data, not of its integrity check.
        flip_byte(&disc.join(&last), len / 2);

        let out = verify(&env, &disc);
        assert_eq!(code(&out, "verify"), 4, "{what}: {}", stdout(&out));
        assert!(
            stdout(&out).contains("recovery files cannot be read"),
            "{what}: {}",
            stdout(&out)
        );
        let out = repair(&env, &disc);
        assert_eq!(code(&out, "repair"), 4, "{what}: {}", stderr(&out));
        let _ = fs::remove_dir_all(&target);
        let out = butcher(
            &env,
            &["restore".as_ref(), work.as_os_str(), target.as_os_str()],
        );
        let c = code(&out, "restore");
        assert!(
            c == 3 || c == 4,
            "{what}: restore exit {c}: {}",
            stderr(&out)
        );
    }
}

/// How a crafted change rewrites a packet's body.
type Change = Box<dyn Fn(&mut Vec<u8>)>;

/// A crafted change to the set's description: which packets it touches and how.
struct Craft {
    kind: [u8; 16],
    /// For a file description or slice checksums: the file's ID.
    file: Option<Md5Hash>,
    change: Change,
}

/// Chooses a crafted change to the description of a set of the files `ids`: huge or zero sizes and counts,
/// hostile names, cut or repeated checksum lists.
fn choose_craft(rng: &mut Rng, ids: &[Md5Hash], abs_victim: &str) -> Craft {
    let huge = [0u64, 4, 1 << 32, 1 << 40, u64::MAX - 3, u64::MAX];
    let value = huge[rng.below(huge.len() as u64) as usize];
    let names = [
        "../victim",
        abs_victim,
        "a\0b",
        "..",
        ".",
        "x/y",
        "",
        "SHA256SUMS",
        "disc-0001.par2",
    ];
    let name = names[rng.below(names.len() as u64) as usize].to_string();
    let file = Some(ids[rng.below(ids.len() as u64) as usize]);
    let cut = 16 + 20 * rng.below(3) as usize;
    let keep = 12 + 16 * rng.below(3) as usize;
    match rng.below(7) {
        0 => Craft {
            kind: *packet::MAIN,
            file: None,
            change: Box::new(move |b| b[0..8].copy_from_slice(&value.to_le_bytes())),
        },
        1 => Craft {
            kind: *packet::MAIN,
            file: None,
            change: Box::new(|b| b[8..12].copy_from_slice(&u32::MAX.to_le_bytes())),
        },
        2 => Craft {
            kind: *packet::MAIN,
            file: None,
            change: Box::new(move |b| b.truncate(keep)),
        },
        3 => Craft {
            kind: *packet::FILE_DESC,
            file,
            change: Box::new(move |b| b[48..56].copy_from_slice(&value.to_le_bytes())),
        },
        4 | 5 => Craft {
            kind: *packet::FILE_DESC,
            file,
            change: Box::new(move |b| {
                b.truncate(56);
                b.extend(name.as_bytes());
            }),
        },
        _ => Craft {
            kind: *packet::IFSC,
            file,
            change: Box::new(move |b| {
                if cut < b.len() && value.is_multiple_of(2) {
                    b.truncate(cut);
                } else {
                    let list = b[16..].to_vec();
                    for _ in 0..50 {
                        b.extend(&list);
                    }
                }
            }),
        },
    }
}

/// Applies `craft` to every copy of the description in `bytes` (a recovery file), each packet
/// re-signed so that the reader takes it.
fn apply_craft(craft: &Craft, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    for p in packet::scan(bytes) {
        let start = p.body_at as usize - packet::HEADER_LEN;
        let end = (p.body_at + p.body_len) as usize;
        let mut body = bytes[p.body_at as usize..end].to_vec();
        let mine = p.kind == craft.kind
            && craft
                .file
                .is_none_or(|id| body.len() >= 16 && body[0..16] == id);
        if !mine {
            continue;
        }
        (craft.change)(&mut body);
        out.extend(&bytes[at..start]);
        out.extend(packet::packet(&p.set_id, &p.kind, &body));
        at = end;
    }
    out.extend(&bytes[at..]);
    out
}

/// Damages the recovery files of `disc`: a crafted description in every file, or raw damage
/// to one (cut, flipped bits, a recovery slice's exponent changed), chosen by `rng`.
fn damage_set(rng: &mut Rng, disc: &Path, ids: &[Md5Hash], abs_victim: &str) {
    let files = par2_files(disc);
    if rng.below(2) == 0 {
        let craft = choose_craft(rng, ids, abs_victim);
        for f in &files {
            let bytes = apply_craft(&craft, &fs::read(f).unwrap());
            fs::write(f, bytes).unwrap();
        }
        return;
    }
    let f = &files[rng.below(files.len() as u64) as usize];
    let mut bytes = fs::read(f).unwrap();
    match rng.below(3) {
        0 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len().max(1) as u64) as usize;
                if at < bytes.len() {
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
        }
        _ => {
            let exponent = (rng.next_u64() as u32).to_le_bytes();
            let craft = Craft {
                kind: *packet::RECOVERY,
                file: None,
                change: Box::new(move |b| b[0..4].copy_from_slice(&exponent)),
            };
            bytes = apply_craft(&craft, &bytes);
        }
    }
    fs::write(f, bytes).unwrap();
}

/// Runs verify and repair on `disc`: neither panics, aborts or hangs, both exit as `--help`
/// says, nothing outside the disc changes, and a disc repair calls whole verifies. Returns
/// the exit code of the first verify.
fn check_runs(env: &TestEnv, disc: &Path, case: &str) -> i32 {
    let before = outside(env);
    let out = verify(env, disc);
    let first = code(&out, "verify");
    assert!(
        first == 0 || first == 4,
        "{case}: verify exit {first}: {}",
        stderr(&out)
    );
    let out = repair(env, disc);
    let c = code(&out, "repair");
    assert!(
        c == 0 || c == 1 || c == 4,
        "{case}: repair exit {c}: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("panicked"),
        "{case}: {}",
        stderr(&out)
    );
    if c == 0 {
        let out = verify(env, disc);
        assert_eq!(code(&out, "verify"), 0, "{case}: {}", stdout(&out));
    }
    assert_eq!(
        outside(env),
        before,
        "{case}: something changed outside the disc"
    );
    first
}

#[test]
fn fuzzed_recovery_files_never_crash_hang_or_write_outside_the_disc() {
    let env = one_disc();
    let abs = env.path("abs-victim");
    fs::write(&abs, b"outside").unwrap();
    fs::write(env.path("work/victim"), b"outside too").unwrap();
    let abs = abs.to_string_lossy().into_owned();
    let ids: Vec<Md5Hash> = real_set(&disc_dirs(&env.dest())[0])
        .files
        .iter()
        .map(|f| f.id)
        .collect();
    let mut rng = Rng::new(0x25_0001);
    for i in 0..10 {
        let disc = fresh_copy(&env);
        for _ in 0..1 + rng.below(3) {
            damage_set(&mut rng, &disc, &ids, &abs);
        }
        if rng.below(2) == 0 {
            let a = disc.join(protected(&disc)[0].clone());
            flip_byte(&a, 100);
        }
        if rng.below(2) == 0 {
            relist(&disc);
        }
        check_runs(&env, &disc, &format!("case {i}"));
    }
}

/// One mutation of a SHA256SUMS text, chosen by `rng`.
fn mutate_sums(rng: &mut Rng, text: &[u8], abs_victim: &str) -> Vec<u8> {
    let mut t = text.to_vec();
    let first = String::from_utf8_lossy(text)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let sha = sha256_hex(b"outside");
    match rng.below(6) {
        0 => t.truncate(rng.below(t.len() as u64 + 1) as usize),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(t.len().max(1) as u64) as usize;
                if at < t.len() {
                    t[at] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            for name in ["../victim", abs_victim, "a\0b", "..", ".", "", "x/y"] {
                t.extend(format!("{sha}  {name}\n").as_bytes());
            }
        }
        // The same line 40,000 times: each file is hashed once however often it is listed.
        3 => {
            for _ in 0..40_000 {
                t.extend(format!("{first}\n").as_bytes());
            }
        }
        // Volume names with huge numbers, and a very long name.
        4 => {
            for name in [
                "disc-0001.vol000+4294967295.par2",
                "disc-0001.vol4294967295+4294967295.par2",
                &"n".repeat(5000),
            ] {
                t.extend(format!("{sha}  {name}\n").as_bytes());
            }
        }
        _ => t.clear(),
    }
    t
}

#[test]
fn fuzzed_sha256sums_never_crash_hang_or_write_outside_the_disc() {
    let env = one_disc();
    let abs = env.path("abs-victim");
    fs::write(&abs, b"outside").unwrap();
    fs::write(env.path("work/victim"), b"outside").unwrap();
    let abs = abs.to_string_lossy().into_owned();
    let mut rng = Rng::new(0x25_0002);
    for i in 0..10 {
        let disc = fresh_copy(&env);
        let sums = disc.join("SHA256SUMS");
        let pristine = fs::read(&sums).unwrap();
        let mut text = pristine.clone();
        for _ in 0..1 + rng.below(2) {
            text = mutate_sums(&mut rng, &text, &abs);
        }
        fs::write(&sums, &text).unwrap();
        // Sometimes the recovery files are gone too, so that only SHA256SUMS names them.
        if rng.below(3) == 0 {
            for p in par2_files(&disc).into_iter().skip(1) {
                fs::remove_file(p).unwrap();
            }
        }
        let case = format!("case {i}");
        // A disc whose SHA256SUMS was changed is never called whole.
        if check_runs(&env, &disc, &case) == 0 {
            assert!(
                text == pristine,
                "{case}: verify calls a changed SHA256SUMS ok"
            );
        }
    }
}
