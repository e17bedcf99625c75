//! Everyday commands: small runs that share a disc (`backup --keep-open`, `close`), `status`
//! (text and JSON), and recording that a burned disc reads back intact (`verify --record`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{
    assert_trees_equal, disc_dirs, require_tool, run, run_ok, stderr, stdout, TestEnv,
};
use crate::util::PASS;

fn burn_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/burn.sh")
}

fn backup(env: &TestEnv, extra: &[&str]) {
    let mut args = vec![
        "backup".to_string(),
        env.src().display().to_string(),
        env.dest().display().to_string(),
        "--archive-size=256K".to_string(),
        "--disc-size=20M".to_string(),
        "-q".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.butcher_ok(args);
}

fn write(env: &TestEnv, rel: &str, seed: u64, len: usize) {
    let p = env.src().join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, crate::common::tree::Rng::new(seed).bytes(len)).unwrap();
}

/// `butcher status DEST --json`, parsed by python3's json module into the facts asked for
/// (one `key=value` line each, from a small python program).
fn status_facts(env: &TestEnv, program: &str) -> String {
    let out = env.butcher_ok(["status", &env.dest().display().to_string(), "--json"]);
    let json = stdout(&out);
    let parsed = run(env
        .cmd("python3")
        .arg("-c")
        .arg(format!(
            "import json,sys\nd=json.load(open(sys.argv[1]))\n{program}"
        ))
        .arg({
            let f = env.path("status.json");
            fs::write(&f, &json).unwrap();
            f
        }));
    assert!(parsed.status.success(), "{json}\n{}", stderr(&parsed));
    stdout(&parsed)
}

#[test]
fn small_runs_share_a_disc_until_it_is_closed() {
    if !require_tool("python3") || !require_tool("sha256sum") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    write(&env, "month-1/a.bin", 1, 300_000);
    backup(&env, &["--keep-open"]);
    write(&env, "month-2/b.bin", 2, 300_000);
    fs::write(env.src().join("notes.txt"), "two\n").unwrap();
    backup(&env, &["--keep-open"]);
    let discs = disc_dirs(&env.dest());
    assert_eq!(discs.len(), 1, "two small runs made {discs:?}");
    let disc = &discs[0];
    assert!(
        !disc.join("SHA256SUMS").exists(),
        "the open disc has SHA256SUMS"
    );
    assert!(!disc.join("catalogue.db.gpg").exists());
    let archives = fs::read_dir(disc).unwrap().count();
    assert!(archives >= 3, "{archives} archives from two runs");

    // status: open, in DEST, and what to do.
    let text = stdout(&env.butcher_ok(["status", &env.dest().display().to_string()]));
    assert!(text.contains("disc-0001  data    open"), "{text}");
    assert!(text.contains("`butcher close"), "{text}");
    let facts = status_facts(
        &env,
        "print('state=' + d['discs'][0]['state']); print('snaps=%d' % d['snapshot_count'])",
    );
    assert!(
        facts.contains("state=open") && facts.contains("snaps=2"),
        "{facts}"
    );

    // Restore from DEST sees the open disc's archives.
    let from_dest = env.path("from-dest");
    env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        from_dest.as_os_str(),
    ]);
    assert_trees_equal(env.src(), &from_dest);

    // burn.sh refuses the open disc.
    if require_tool("xorriso") {
        let out = run(env
            .cmd("bash")
            .arg(burn_sh())
            .arg(disc)
            .arg("--iso")
            .arg(env.path("open.iso")));
        assert!(!out.status.success());
        assert!(stderr(&out).contains("not finished"), "{}", stderr(&out));
    }

    // close finishes it: its SHA256SUMS verifies, and it restores alone, exactly.
    env.butcher_ok(["close", &env.dest().display().to_string()]);
    assert_eq!(disc_dirs(&env.dest()).len(), 1);
    run_ok(
        env.cmd("sha256sum")
            .args(["--check", "--quiet", "--strict", "SHA256SUMS"])
            .current_dir(disc),
    );
    let alone = env.path("alone");
    fs::create_dir(&alone).unwrap();
    crate::common::cp_a(disc, &alone.join("disc-0001"));
    let target = env.path("out");
    env.butcher_ok(["restore".as_ref(), alone.as_os_str(), target.as_os_str()]);
    assert_trees_equal(env.src(), &target);
    let facts = status_facts(&env, "print('state=' + d['discs'][0]['state'])");
    assert!(facts.contains("state=finished"), "{facts}");

    // A run without --keep-open after a --keep-open run closes the disc it goes on filling.
    write(&env, "month-3/c.bin", 3, 100_000);
    backup(&env, &["--keep-open"]);
    assert_eq!(disc_dirs(&env.dest()).len(), 2);
    write(&env, "month-4/d.bin", 4, 100_000);
    backup(&env, &[]);
    let discs = disc_dirs(&env.dest());
    assert_eq!(discs.len(), 2, "{discs:?}");
    assert!(discs[1].join("SHA256SUMS").is_file());
}

/// `status --json` carries the set, its encryption, its snapshots and its discs; a disc
/// checked with `verify --record` after it was burned (here: an ISO image made by burn.sh,
/// read back with xorriso) shows as read back, and what to do next changes.
#[test]
fn status_shows_discs_read_back_from_media() {
    if !require_tool("python3") || !require_tool("xorriso") || !require_tool("sha256sum") {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    write(&env, "a.bin", 5, 200_000);
    backup(&env, &["--parity-discs=2"]);
    let facts = status_facts(
        &env,
        "e=d['encryption']\n\
         print('set=' + d['backup_set'])\n\
         print('format=%d' % d['format_version'])\n\
         print('enc=%s/%s/%d' % (e['encrypted'], e['passphrase'], len(e['recipients'])))\n\
         s=d['discs'][0]\n\
         print('disc=%d %s %s in_dest=%s read_back=%s recovery=%s group=%s' % (s['number'], \
         s['kind'], s['state'], s['in_dest'], s['read_back'], s['recovery_data'], \
         s['group']['state']))\n\
         print('next=' + ' | '.join(d['next']))",
    );
    assert!(facts.contains("format=6"), "{facts}");
    assert!(facts.contains("enc=True/True/0"), "{facts}");
    assert!(
        facts.contains("disc=1 data finished in_dest=True read_back=None recovery=True group=open"),
        "{facts}"
    );
    assert!(facts.contains("disc-0001 is finished: burn it"), "{facts}");
    let set = facts
        .lines()
        .find_map(|l| l.strip_prefix("set="))
        .unwrap()
        .to_string();
    assert_eq!(set.len(), 32, "{facts}");

    // "Burn" disc 1 and read it back.
    let disc = env.dest().join("disc-0001");
    let iso = env.path("disc-0001.iso");
    run_ok(
        env.cmd("bash")
            .arg(burn_sh())
            .arg(&disc)
            .arg("--iso")
            .arg(&iso),
    );
    let mounted = env.path("media");
    run_ok(
        env.cmd("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&iso)
            .args(["-extract", "/"])
            .arg(&mounted),
    );
    // A damaged read-back records nothing.
    let damaged = env.path("damaged-media");
    crate::common::cp_a(&mounted, &damaged);
    crate::common::make_writable(&damaged);
    let archive = fs::read_dir(&damaged)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("a000001"))
        .unwrap();
    crate::common::damage::flip_middle_byte(&archive);
    let out = env.butcher([
        "verify".as_ref(),
        damaged.as_os_str(),
        "--record".as_ref(),
        env.dest().as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing recorded"),
        "{}",
        stderr(&out)
    );
    let facts = status_facts(&env, "print('read_back=%s' % d['discs'][0]['read_back'])");
    assert!(facts.contains("read_back=None"), "{facts}");

    env.butcher_ok([
        "verify".as_ref(),
        mounted.as_os_str(),
        "--record".as_ref(),
        env.dest().as_os_str(),
    ]);
    let facts = status_facts(
        &env,
        "print('read_back=%s' % d['discs'][0]['read_back'])\nprint('next=' + ' | '.join(d['next']))",
    );
    assert!(!facts.contains("read_back=None"), "{facts}");
    assert!(facts.contains("read back from media intact"), "{facts}");
    assert!(!facts.contains("burn it"), "{facts}");
    // Gone from DEST: still read back, and the text says where it is.
    fs::remove_dir_all(&disc).unwrap();
    let text = stdout(&env.butcher_ok(["status", &env.dest().display().to_string()]));
    assert!(text.contains("gone from DEST"), "{text}");
    assert!(!text.contains("never read back"), "{text}");

    // A disc of another set is not recorded.
    let other = TestEnv::new().with_passphrase(PASS);
    fs::write(other.src().join("x"), "x").unwrap();
    other.butcher_ok([
        "backup".as_ref(),
        other.src().as_os_str(),
        other.dest().as_os_str(),
        "-q".as_ref(),
    ]);
    let err = env.butcher_fails(
        [
            "verify".as_ref(),
            other.dest().join("disc-0001").as_os_str(),
            "--record".as_ref(),
            env.dest().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("not to the set"), "{err}");
}

/// Every long operation prints plain progress lines when stderr is not a terminal: restore,
/// verify (plain and deep), repair and rebuild-disc, as backup does (roundtrip.rs).
#[test]
fn long_operations_print_plain_progress_without_a_terminal() {
    let env = TestEnv::new()
        .with_passphrase(PASS)
        .with_env("BUTCHER_PROGRESS_SECONDS", "0");
    for i in 0..6 {
        write(&env, &format!("f{i}.bin"), 10 + i, 700_000);
    }
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--archive-size=512K".as_ref(),
        "--disc-size=2M".as_ref(),
        "--parity-discs=2".as_ref(),
    ]);
    let dest = env.dest().display().to_string();
    let plain = |out: &std::process::Output, stage: &str, what: &str| {
        let err = stderr(out);
        assert!(
            err.contains(&format!("butcher: {stage}:")),
            "{what}: no {stage} line: {err}"
        );
        assert!(!err.contains('\u{1b}'), "{what}: terminal escapes: {err}");
    };
    let target = env.path("out").display().to_string();
    plain(
        &env.butcher_ok(["restore", &dest, &target]),
        "restoring",
        "restore",
    );
    plain(&env.butcher_ok(["verify", &dest]), "checking", "verify");
    plain(
        &env.butcher_ok(["verify", &dest, "--deep"]),
        "checking",
        "verify --deep",
    );
    // repair of a copy of disc 1 with one flipped byte.
    let copy = env.path("copy");
    crate::common::cp_a(&env.dest().join("disc-0001"), &copy);
    crate::common::make_writable(&copy);
    let archive = fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".tar"))
        .unwrap();
    crate::common::damage::flip_middle_byte(&archive);
    plain(
        &env.butcher_ok(["repair", &copy.display().to_string()]),
        "checking",
        "repair",
    );
    // rebuild-disc of disc 1 from the others.
    let shelf = env.path("shelf");
    fs::create_dir(&shelf).unwrap();
    for d in disc_dirs(&env.dest())
        .iter()
        .filter(|d| !d.ends_with("disc-0001"))
    {
        crate::common::cp_a(d, &shelf.join(d.file_name().unwrap()));
    }
    let rebuilt = env.path("rebuilt").display().to_string();
    plain(
        &env.butcher_ok(["rebuild-disc", &shelf.display().to_string(), "1", &rebuilt]),
        "restoring",
        "rebuild-disc",
    );
}
