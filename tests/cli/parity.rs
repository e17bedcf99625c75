//! Parity discs (format 5): a lost data disc, or one damaged beyond its own recovery data, is
//! rebuilt from its group's parity disc and other data discs, by restore on the fly, by
//! `butcher rebuild-disc` (byte for byte) and by the python3 script a parity disc carries.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::Rng;
use crate::common::{
    assert_trees_equal, cp_a, disc_dirs, disc_number, require_tool, stderr, stdout, TestEnv,
};

const PASS: &str = "parity test passphrase";

/// Writes `count` files of 20 to 50 KB that do not compress under `src/dir`.
fn add_files(src: &Path, dir: &str, count: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let d = src.join(dir);
    fs::create_dir_all(&d).unwrap();
    for i in 0..count {
        let len = 20_000 + rng.below(30_000) as usize;
        fs::write(d.join(format!("f{i:03}.bin")), rng.bytes(len)).unwrap();
    }
}

/// `butcher backup SRC DEST` with small discs and `--parity-discs k`; `extra` appended.
fn backup(env: &TestEnv, dest: &Path, k: u32, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "backup".into(),
        env.src().display().to_string(),
        dest.display().to_string(),
        "--archive-size=128K".into(),
        "--disc-size=1M".into(),
        format!("--parity-discs={k}"),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.butcher_ok(args)
}

/// The parity discs of DEST (or a shelf) by number: those holding PARITY.txt.
fn parity_discs(dir: &Path) -> Vec<u32> {
    disc_dirs(dir)
        .iter()
        .filter(|d| d.join("PARITY.txt").is_file())
        .map(|d| disc_number(d))
        .collect()
}

fn data_discs(dir: &Path) -> Vec<u32> {
    disc_dirs(dir)
        .iter()
        .filter(|d| !d.join("PARITY.txt").is_file())
        .map(|d| disc_number(d))
        .collect()
}

/// An encrypted set of 48 files in one run, K = 3: at least two full groups.
fn one_run_set(k: u32) -> TestEnv {
    let env = TestEnv::new().with_passphrase(PASS);
    add_files(&env.src(), "a", 48, 15);
    backup(&env, &env.dest(), k, &[]);
    let parity = parity_discs(&env.dest());
    assert!(parity.len() >= 2, "two groups at least: {parity:?}");
    env
}

/// The disc directories of DEST copied to `shelf` (what a person keeps).
fn shelve(dest: &Path, shelf: &Path) {
    fs::create_dir_all(shelf).unwrap();
    for d in disc_dirs(dest) {
        cp_a(&d, &shelf.join(d.file_name().unwrap()));
    }
}

fn disc(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("disc-{n:04}"))
}

/// Restores the newest snapshot from `shelf` into a fresh target; returns the output.
fn restore(env: &TestEnv, shelf: &Path, target: &Path) -> std::process::Output {
    env.butcher(["restore".as_ref(), shelf.as_os_str(), target.as_os_str()])
}

/// Every file of disc directories `a` and `b` has the same name and bytes.
fn assert_same_disc(a: &Path, b: &Path) {
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b));
    for n in names(a) {
        assert!(
            fs::read(a.join(&n)).unwrap() == fs::read(b.join(&n)).unwrap(),
            "{n} differs"
        );
    }
}

#[test]
fn each_lost_data_disc_of_the_first_group_is_rebuilt_by_restore() {
    let env = one_run_set(3);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let first_parity = parity_discs(&shelf)[0];
    let members: Vec<u32> = data_discs(&shelf)
        .into_iter()
        .filter(|d| *d < first_parity)
        .collect();
    assert_eq!(members.len(), 3, "{members:?}");
    for lost in members {
        let away = env.path(format!("away-{lost}"));
        fs::rename(disc(&shelf, lost), &away).unwrap();
        let target = env.path(format!("target-{lost}"));
        let out = restore(&env, &shelf, &target);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_trees_equal(env.src(), &target);
        let said = stderr(&out);
        assert!(
            said.contains(&format!("disc-{lost:04} is lost or damaged"))
                && said.contains(&format!("rebuilt from parity disc disc-{first_parity:04}")),
            "{said}"
        );
        fs::rename(&away, disc(&shelf, lost)).unwrap();
    }
}

#[test]
fn a_lost_parity_disc_changes_nothing() {
    let env = one_run_set(3);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let p = parity_discs(&shelf)[0];
    fs::remove_dir_all(disc(&shelf, p)).unwrap();
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
    // And rebuild-disc says a parity disc holds nothing to rebuild.
    let err = env.butcher_fails(
        [
            "rebuild-disc".as_ref(),
            shelf.as_os_str(),
            p.to_string().as_ref(),
            env.path("out").as_os_str(),
        ],
        2,
    );
    assert!(err.contains("parity disc"), "{err}");
}

#[test]
fn two_lost_discs_of_one_group_lose_only_their_files() {
    let env = one_run_set(3);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let first_parity = parity_discs(&shelf)[0];
    let lost: Vec<u32> = data_discs(&shelf)
        .into_iter()
        .filter(|d| *d < first_parity)
        .take(2)
        .collect();
    for n in &lost {
        fs::remove_dir_all(disc(&shelf, *n)).unwrap();
    }
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let said = stderr(&out);
    let mut missing = 0;
    for ent in fs::read_dir(env.src().join("a")).unwrap() {
        let p = ent.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let got = env.target().join("a").join(&name);
        if got.exists() {
            assert_eq!(fs::read(&got).unwrap(), fs::read(&p).unwrap(), "{name}");
        } else {
            missing += 1;
            assert!(
                said.contains(&format!("not restored: a/{name}")),
                "{name}\n{said}"
            );
        }
    }
    assert!(missing > 0, "the two discs held files");
    for n in &lost {
        assert!(
            said.contains(&format!("disc {n:04} was needed but not at hand")),
            "{said}"
        );
    }
}

#[test]
fn rebuild_disc_writes_the_lost_disc_byte_for_byte() {
    let env = one_run_set(2);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let lost = data_discs(&shelf)[1];
    let away = env.path("away");
    fs::rename(disc(&shelf, lost), &away).unwrap();
    let out_dir = env.path("rebuilt");
    let out = env.butcher_ok([
        "rebuild-disc".as_ref(),
        shelf.as_os_str(),
        lost.to_string().as_ref(),
        out_dir.as_os_str(),
    ]);
    assert!(stderr(&out).contains("every file matches its SHA256SUMS"));
    assert_same_disc(&away, &out_dir);
    // sha256sum and par2cmdline agree.
    let ok = env
        .cmd("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&out_dir)
        .status()
        .unwrap();
    assert!(ok.success());
    if require_tool("par2") {
        let index = format!("disc-{lost:04}.par2");
        let par2 = env
            .cmd("par2")
            .args(["verify", "-q", &index])
            .current_dir(&out_dir)
            .output()
            .unwrap();
        assert!(par2.status.success(), "{}", stdout(&par2));
    }
    // A non-empty OUT_DIR is refused.
    env.butcher_fails(
        [
            "rebuild-disc".as_ref(),
            shelf.as_os_str(),
            lost.to_string().as_ref(),
            out_dir.as_os_str(),
        ],
        2,
    );
}

#[test]
fn a_disc_damaged_beyond_its_recovery_data_is_rebuilt_from_parity() {
    let env = one_run_set(3);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let victim = data_discs(&shelf)[0];
    // Every archive zeroed from its second KiB on: far beyond 10 % recovery data.
    for ent in fs::read_dir(disc(&shelf, victim)).unwrap() {
        let p = ent.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('a') {
            let mut bytes = fs::read(&p).unwrap();
            bytes[1024..].fill(0);
            fs::write(&p, bytes).unwrap();
        }
    }
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
    assert!(stderr(&out).contains(&format!("disc-{victim:04} is lost or damaged")));
}

/// Several runs, each writing about one data disc, the finished disc directories moved to a
/// shelf after each: DEST never holds more than the running parity, at most one disc's
/// size; losing the first disc of the first group still restores exactly.
#[test]
fn groups_span_runs_with_discs_shelved_after_each() {
    let env = TestEnv::new().with_passphrase(PASS);
    let shelf = env.path("shelf");
    fs::create_dir_all(&shelf).unwrap();
    for run in 0..5u64 {
        add_files(&env.src(), &format!("run{run}"), 5, 100 + run);
        backup(&env, &env.dest(), 2, &[]);
        for d in disc_dirs(&env.dest()) {
            fs::rename(&d, shelf.join(d.file_name().unwrap())).unwrap();
        }
        let running = env.dest().join("parity-open");
        if running.exists() {
            let bytes: u64 = fs::read_dir(&running)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            assert!(bytes <= 1 << 20, "the running parity holds {bytes} bytes");
        }
    }
    let parity = parity_discs(&shelf);
    assert!(parity.len() >= 2, "{parity:?}");
    let first = data_discs(&shelf)[0];
    fs::remove_dir_all(disc(&shelf, first)).unwrap();
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
    // `where --lost` names what rebuilds it.
    let out = env.butcher_ok([
        "where".as_ref(),
        shelf.as_os_str(),
        "--lost".as_ref(),
        first.to_string().as_ref(),
    ]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("rebuilt from parity disc {:04}", parity[0])),
        "{text}"
    );
}

#[test]
fn close_writes_the_open_group_and_the_set_keeps_its_k() {
    let env = TestEnv::new().with_passphrase(PASS);
    add_files(&env.src(), "a", 5, 7);
    backup(&env, &env.dest(), 3, &[]);
    assert!(parity_discs(&env.dest()).is_empty());
    assert!(env.dest().join("parity-open").is_dir());
    // Its group is open: no parity disc protects disc 1 yet.
    let err = env.butcher_fails(
        [
            "where".as_ref(),
            env.dest().as_os_str(),
            "--lost".as_ref(),
            "1".as_ref(),
        ],
        3,
    );
    assert!(err.contains("no parity disc protects disc 0001"), "{err}");
    // The set keeps K = 3: another K, or K = 1, is refused before anything is written.
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--parity-discs=2".as_ref(),
        ],
        2,
    );
    assert!(err.contains("after every 3 data discs"), "{err}");
    let out = env.butcher_ok(["close".as_ref(), env.dest().as_os_str()]);
    assert!(
        stderr(&out).contains("wrote parity disc-"),
        "{}",
        stderr(&out)
    );
    let parity = parity_discs(&env.dest());
    assert_eq!(parity.len(), 1);
    assert!(!env.dest().join("parity-open").exists());
    // The next run's summary says where the groups stand, in words and in JSON.
    let out = env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--json".as_ref(),
    ]);
    let json = stdout(&out);
    assert!(
        json.contains(&format!(
            "\"parity_discs\":{{\"k\":3,\"groups\":[[{},1,",
            parity[0]
        )) && json.contains("\"open\":[]"),
        "{json}"
    );
    let said = stderr(&out);
    assert!(said.contains("no open parity group"), "{said}");
    assert!(
        said.contains(&format!("1 parity disc, the last disc-{:04}", parity[0])),
        "{said}"
    );
    // Every data disc is protected; restore from discs without the first one is exact.
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    fs::remove_dir_all(disc(&shelf, data_discs(&shelf)[0])).unwrap();
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());

    let other = TestEnv::new();
    add_files(&other.src(), "a", 2, 8);
    let err = other.butcher_fails(
        [
            "backup".as_ref(),
            other.src().as_os_str(),
            other.dest().as_os_str(),
            "--no-encryption".as_ref(),
            "--parity-discs=1".as_ref(),
        ],
        2,
    );
    assert!(err.contains("at least 2"), "{err}");
    assert!(!other.dest().exists(), "nothing written");
}

/// Backups killed with SIGKILL at pseudo-random moments (fixed seed) while they write data
/// discs, add them to the running parity and write parity discs, then run to completion:
/// every data disc of the finished groups still rebuilds byte for byte, and a restore
/// without the first disc is exact.
#[test]
fn killed_runs_leave_a_running_parity_that_still_rebuilds() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let env = TestEnv::new().with_passphrase(PASS);
    add_files(&env.src(), "a", 30, 31);
    let command = |dest: &Path| {
        let mut cmd = env.butcher_command();
        cmd.arg("backup")
            .arg(env.src())
            .arg(dest)
            .args(["--archive-size=128K", "--disc-size=2M", "--parity-discs=2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    // The length of one uninterrupted run over the first tree.
    let scratch = env.path("scratch");
    let started = Instant::now();
    assert!(command(&scratch).status().unwrap().success());
    let run_ms = started.elapsed().as_millis() as u64;
    fs::remove_dir_all(&scratch).unwrap();

    let mut rng = Rng::new(0x9a71_7e55_0000_0015);
    let mut caught = 0;
    for round in 0..12u64 {
        add_files(&env.src(), &format!("k{round}"), 3, 300 + round);
        let mut child = command(&env.dest()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(run_ms.max(20))));
        let _ = child.kill();
        child.wait().unwrap();
        // Whether the kill caught the parity half-way (for the failure message only).
        let running = env.dest().join("parity-open");
        if running.is_dir()
            && fs::read_dir(&running).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")
            })
        {
            caught += 1;
        }
    }
    eprintln!("{caught} of 12 kills caught the running parity half-way");
    let out = crate::common::run(&mut command(&env.dest()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    env.butcher_ok([
        "close".as_ref(),
        env.dest().as_os_str(),
        "--disc-size=2M".as_ref(),
    ]);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let parity = parity_discs(&shelf);
    assert!(parity.len() >= 2, "{parity:?}");
    for lost in data_discs(&shelf) {
        let away = env.path("away");
        fs::rename(disc(&shelf, lost), &away).unwrap();
        let out_dir = env.path(format!("rebuilt-{lost}"));
        let out = env.butcher([
            "rebuild-disc".as_ref(),
            shelf.as_os_str(),
            lost.to_string().as_ref(),
            out_dir.as_os_str(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "disc {lost} ({caught} kills caught the parity half-way): {}",
            stderr(&out)
        );
        assert_same_disc(&away, &out_dir);
        fs::rename(&away, disc(&shelf, lost)).unwrap();
    }
    let first = data_discs(&shelf)[0];
    fs::remove_dir_all(disc(&shelf, first)).unwrap();
    let out = restore(&env, &shelf, &env.target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_trees_equal(env.src(), env.target());
}

/// One drive, one data disc lost: restore, driven through a pseudo-terminal, asks for the
/// discs it needs; asked for the lost one, the person types `skip`; it then asks for the
/// other discs of the group and the parity disc, and ends exact with exit 0.
#[test]
fn one_drive_restore_asks_for_the_group_of_a_lost_disc() {
    use crate::one_drive::{drive_restore, Asked, Drive};
    if !require_tool("script") {
        return;
    }
    let env = one_run_set(2);
    let store = env.path("store");
    fs::create_dir_all(&store).unwrap();
    for d in disc_dirs(&env.dest()) {
        fs::rename(&d, store.join(d.file_name().unwrap())).unwrap();
    }
    let lost = data_discs(&store)[0];
    let parity = parity_discs(&store)[0];
    let last = *disc_dirs(&store)
        .iter()
        .map(|d| disc_number(d))
        .collect::<Vec<_>>()
        .last()
        .unwrap();
    let drive = Drive {
        mount: env.path("drive"),
        store: store.clone(),
        lost: vec![lost],
    };
    drive.insert(last);
    let (prompts, code, shown) = drive_restore(&env, &drive, last);
    assert_eq!(code, Some(0), "prompts {prompts:?}\n{shown}");
    assert_trees_equal(env.src(), env.target());
    assert!(prompts.contains(&Asked::Disc(lost)), "{prompts:?}");
    assert!(prompts.contains(&Asked::Disc(parity)), "{prompts:?}");
    assert!(
        shown.contains(&format!("disc-{lost:04} is lost or damaged")),
        "{shown}"
    );
}

/// The running parity removed from DEST between runs: the next run makes it again from the
/// open group's discs when they are in DEST (and a lost disc still rebuilds), and refuses,
/// naming them, when they are not.
#[test]
fn a_removed_running_parity_is_made_again_or_its_discs_asked_for() {
    let env = TestEnv::new().with_passphrase(PASS);
    add_files(&env.src(), "r0", 5, 61);
    backup(&env, &env.dest(), 3, &[]);
    let running = env.dest().join("parity-open");
    assert!(running.is_dir());
    fs::remove_dir_all(&running).unwrap();
    add_files(&env.src(), "r1", 5, 62);
    backup(&env, &env.dest(), 3, &[]);
    add_files(&env.src(), "r2", 5, 63);
    backup(&env, &env.dest(), 3, &[]);
    let parity = parity_discs(&env.dest());
    assert!(!parity.is_empty(), "a group of three closed");
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let lost = data_discs(&shelf)[0];
    let away = env.path("away");
    fs::rename(disc(&shelf, lost), &away).unwrap();
    let out_dir = env.path("rebuilt");
    env.butcher_ok([
        "rebuild-disc".as_ref(),
        shelf.as_os_str(),
        lost.to_string().as_ref(),
        out_dir.as_os_str(),
    ]);
    assert_same_disc(&away, &out_dir);

    // Again with the open group's discs burned and gone from DEST. Runs until a group is
    // open (how many discs a run fills depends on the catalogue's size to the page).
    for (i, seed) in (64..67).enumerate() {
        add_files(&env.src(), &format!("r3-{i}"), 5, seed);
        backup(&env, &env.dest(), 3, &[]);
        if running.is_dir() {
            break;
        }
    }
    assert!(running.is_dir(), "no run left a group open");
    for d in disc_dirs(&env.dest()) {
        fs::remove_dir_all(d).unwrap();
    }
    fs::remove_dir_all(&running).unwrap();
    add_files(&env.src(), "r4", 5, 65);
    let err = env.butcher_fails(
        [
            "backup".as_ref(),
            env.src().as_os_str(),
            env.dest().as_os_str(),
            "--archive-size=128K".as_ref(),
            "--disc-size=1M".as_ref(),
        ],
        2,
    );
    assert!(err.contains("put them back"), "{err}");
    assert!(
        disc_dirs(&env.dest()).is_empty(),
        "refused before writing a disc"
    );
}

/// Bit rot in DEST's running parity between runs (issue 25): `verify DEST` finds it and names
/// the piece, the next run refuses to fold new data into it and `close` to seal it into a
/// parity disc, both saying what to do; once it is made again as they say (removed, then a
/// run), the group's parity disc rebuilds a lost disc byte for byte.
#[test]
fn bit_rot_in_the_running_parity_is_found_before_it_is_sealed() {
    let env = TestEnv::new().with_passphrase(PASS);
    add_files(&env.src(), "r0", 5, 71);
    backup(&env, &env.dest(), 3, &[]);
    let running = env.dest().join("parity-open");
    let piece = running.join("parity-0001.bin.d0001");
    assert!(piece.is_file(), "{:?}", fs::read_dir(&running).unwrap());
    crate::common::keeping_mtime(&piece, || crate::common::flip_byte(&piece, 100));

    let out = env.butcher(["verify".as_ref(), env.dest().as_os_str()]);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("parity-0001.bin.d0001"), "{text}");
    assert!(text.contains("remove"), "{text}");

    add_files(&env.src(), "r1", 5, 72);
    let (src, dest) = (env.src(), env.dest());
    let run = [
        "backup".as_ref(),
        src.as_os_str(),
        dest.as_os_str(),
        "--archive-size=128K".as_ref(),
        "--disc-size=1M".as_ref(),
    ];
    let err = env.butcher_fails(run, 4);
    assert!(err.contains("parity-0001.bin.d0001"), "{err}");
    assert!(err.contains("disc-0001, which is in DEST"), "{err}");
    let err = env.butcher_fails(["close".as_ref(), env.dest().as_os_str()], 4);
    assert!(err.contains("parity-0001.bin.d0001"), "{err}");
    assert!(
        parity_discs(&env.dest()).is_empty(),
        "a parity disc was written from the damaged running parity"
    );

    // Made again from the group's discs, as the message says.
    fs::remove_dir_all(&running).unwrap();
    env.butcher_ok(run);
    env.butcher_ok(["verify".as_ref(), env.dest().as_os_str()]);
    env.butcher_ok(["close".as_ref(), env.dest().as_os_str()]);
    let parity = parity_discs(&env.dest());
    assert_eq!(parity.len(), 1, "{parity:?}");
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let away = env.path("away");
    fs::rename(disc(&shelf, 1), &away).unwrap();
    let out_dir = env.path("rebuilt");
    env.butcher_ok([
        "rebuild-disc".as_ref(),
        shelf.as_os_str(),
        "1".as_ref(),
        out_dir.as_os_str(),
    ]);
    assert_same_disc(&away, &out_dir);
}

/// A `rebuild-disc` killed half-way leaves its staging directory in OUT_DIR, and maybe files
/// it had moved into place (all but SHA256SUMS, moved last): run again, it takes that up and
/// rebuilds the disc, instead of refusing OUT_DIR as not empty (issue 25). Anything else in
/// OUT_DIR is still refused.
#[test]
fn a_killed_rebuild_disc_is_taken_up_by_the_next() {
    let env = TestEnv::new().with_passphrase(PASS);
    for (i, seed) in [(0, 81), (1, 82), (2, 83)] {
        add_files(&env.src(), &format!("k{i}"), 5, seed);
        backup(&env, &env.dest(), 2, &[]);
        if !parity_discs(&env.dest()).is_empty() {
            break;
        }
    }
    assert!(!parity_discs(&env.dest()).is_empty(), "no group closed");
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let lost = data_discs(&shelf)[0];
    let away = env.path("away");
    fs::rename(disc(&shelf, lost), &away).unwrap();

    // As a killed rebuild leaves OUT_DIR.
    let out_dir = env.path("rebuilt");
    let stage = out_dir.join(".butcher-rebuild-4242.partial");
    fs::create_dir_all(&stage).unwrap();
    fs::write(stage.join("FORMAT.txt"), "half").unwrap();
    fs::write(out_dir.join("README.txt"), "moved into place").unwrap();
    let number = lost.to_string();
    let args = [
        "rebuild-disc".as_ref(),
        shelf.as_os_str(),
        number.as_ref(),
        out_dir.as_os_str(),
    ];
    env.butcher_ok(args);
    assert_same_disc(&away, &out_dir);

    // A file that is not one of the disc's: refused, and left alone.
    let other = env.path("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("holiday.jpg"), "mine").unwrap();
    let err = env.butcher_fails(
        [
            "rebuild-disc".as_ref(),
            shelf.as_os_str(),
            lost.to_string().as_ref(),
            other.as_os_str(),
        ],
        2,
    );
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(fs::read(other.join("holiday.jpg")).unwrap(), b"mine");
}

/// Every file of disc directory `dir`, by name, with its bytes.
fn disc_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// A lost data disc and light damage (within that disc's recovery data) on another data disc
/// of its group or on the group's parity disc: restore repairs what it reads of that disc with
/// the disc's recovery data (in TARGET, never on the disc) before it rebuilds the lost disc
/// from parity, and ends exact with exit 0; rebuild-disc writes the lost disc byte for byte.
#[test]
fn a_lost_disc_with_light_damage_elsewhere_in_its_group_is_still_rebuilt() {
    let env = one_run_set(3);
    let shelf = env.path("shelf");
    shelve(&env.dest(), &shelf);
    let parity = parity_discs(&shelf)[0];
    let members: Vec<u32> = data_discs(&shelf)
        .into_iter()
        .filter(|d| *d < parity)
        .collect();
    let (lost, other) = (members[0], members[1]);
    let away = env.path("away");
    fs::rename(disc(&shelf, lost), &away).unwrap();
    let first_archive = |n: u32| -> PathBuf {
        let mut a: Vec<PathBuf> = fs::read_dir(disc(&shelf, n))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('a'))
            .collect();
        a.sort();
        a.remove(0)
    };
    // Each within the damaged disc's recovery data, and where the lost disc's stream needs it:
    // every stream starts with its first archive at offset 0, the parity with piece 1.
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, PathBuf, Damage)> = vec![
        (
            "a flipped byte in an archive of another data disc",
            first_archive(other),
            Box::new(|p: &Path| crate::common::flip_byte(p, 100)),
        ),
        (
            "an archive of another data disc cut 8 KiB short",
            first_archive(other),
            Box::new(|p: &Path| {
                let len = fs::metadata(p).unwrap().len();
                fs::File::options()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(len - 8192)
                    .unwrap();
            }),
        ),
        (
            "a flipped byte in the parity disc's first piece",
            disc(&shelf, parity).join("parity-0001.bin"),
            Box::new(|p: &Path| crate::common::flip_byte(p, 100)),
        ),
    ];
    for (k, (what, file, damage)) in cases.into_iter().enumerate() {
        let whole = fs::read(&file).unwrap();
        damage(&file);
        let damaged_disc = file.parent().unwrap().to_path_buf();
        let before = disc_files(&damaged_disc);

        let target = env.path(format!("target-{k}"));
        let out = restore(&env, &shelf, &target);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{what}:\n{said}");
        assert_trees_equal(env.src(), &target);
        assert!(
            said.contains(&format!("disc-{lost:04} is lost or damaged"))
                && said.contains(&format!("rebuilt from parity disc disc-{parity:04}"))
                && said.contains(&format!(
                    "repaired with its recovery data to rebuild disc-{lost:04}"
                )),
            "{what}:\n{said}"
        );
        assert!(
            disc_files(&damaged_disc) == before,
            "{what}: restore wrote on the disc"
        );

        // rebuild-disc shares the rebuild: once is enough.
        if k == 0 {
            let out_dir = env.path("rebuilt");
            let out = env.butcher([
                "rebuild-disc".as_ref(),
                shelf.as_os_str(),
                lost.to_string().as_ref(),
                out_dir.as_os_str(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{what}:\n{}", stderr(&out));
            assert_same_disc(&away, &out_dir);
            assert!(
                disc_files(&damaged_disc) == before,
                "{what}: rebuild-disc wrote on the disc"
            );
        }
        fs::write(&file, whole).unwrap();
    }
}
