//! The by-hand procedure of docs/restore-by-hand.md, run with the real tools, and the checks a
//! stranger would make on the discs.

use std::fs;
use std::path::Path;

use crate::common::{assert_trees_equal, disc_dirs, run, run_ok, stdout, TestEnv};
use crate::util::{archives, backup, by_hand_tools_present, hostile_env, pass_file, DISC};

const BEGIN: &str = "<!-- restore-by-hand.sh begins";
const END: &str = "<!-- restore-by-hand.sh ends -->";

fn repo_file(rel: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The bash block of the guide, exactly as a reader would copy it.
fn guide_script() -> String {
    let doc = repo_file("docs/restore-by-hand.md");
    let start = doc.find(BEGIN).expect("guide has the begin marker");
    let rest = &doc[start..];
    let open = rest
        .find("```bash\n")
        .expect("a bash block follows the marker")
        + 8;
    let close = rest
        .find("```\n<!-- restore-by-hand.sh ends")
        .expect("end of block");
    assert!(rest.contains(END));
    rest[open..close].to_string()
}

#[test]
fn guide_carries_the_script_verbatim() {
    assert_eq!(guide_script(), repo_file("scripts/restore-by-hand.sh"));
}

#[test]
fn by_hand_restore_and_disc_checks_with_real_tools() {
    if !by_hand_tools_present() {
        return;
    }
    let (env, _) = hostile_env();
    backup(&env, &[]);
    let pass = pass_file(&env);
    let discs = disc_dirs(&env.dest());
    assert!(discs.len() >= 2);
    for d in &discs {
        let out = run(env
            .cmd("sha256sum")
            .arg("-c")
            .arg("SHA256SUMS")
            .current_dir(d));
        assert!(
            out.status.success(),
            "sha256sum -c failed in {}: {:?}",
            d.display(),
            out
        );
        let size: u64 = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len().div_ceil(2048) * 2048)
            .sum();
        assert!(size <= DISC, "{} takes {size} bytes > {DISC}", d.display());
        let readme = fs::read_to_string(d.join("README.txt")).unwrap();
        assert!(readme.contains(&repo_file("scripts/restore-by-hand.sh")));
        // gpg decrypts the catalogue copy and sqlite3 finds it sound.
        let db = env.path("copy.sqlite");
        crate::safety::gpg_decrypt(&env, &pass, &d.join("catalogue.db.gpg"), &db);
        let out = run_ok(env.cmd("sqlite3").arg(&db).arg("PRAGMA integrity_check"));
        assert_eq!(stdout(&out).trim(), "ok");
    }
    // gpg decrypts every archive into a tar stream that bzip2 and tar accept. The default
    // compression (auto) wrote both kinds: .tar.bz2 for the text, plain .tar for the rest.
    let (mut bz2, mut plain) = (0, 0);
    for a in archives(&env.dest()) {
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        let flag = if name.ends_with(".tar.bz2.gpg") {
            bz2 += 1;
            "-tjf"
        } else {
            assert!(name.ends_with(".tar.gpg"), "{name}");
            plain += 1;
            "-tf"
        };
        let out = env.path("a.tar.any");
        crate::safety::gpg_decrypt(&env, &pass, &a, &out);
        let listing = run(env.cmd("tar").arg(flag).arg(&out));
        assert!(listing.status.success(), "tar cannot list {}", a.display());
    }
    assert!(
        bz2 > 0 && plain > 0,
        "{bz2} .tar.bz2 and {plain} .tar archives"
    );
    run_ok(
        env.cmd("bash")
            .arg("-c")
            .arg(guide_script())
            .arg("restore-by-hand.sh")
            .arg(env.dest())
            .arg(env.target())
            .env("PASSFILE", &pass),
    );
    assert_trees_equal(env.src(), env.target());
}

#[test]
fn a_wrong_passphrase_file_makes_the_script_fail() {
    if !by_hand_tools_present() {
        return;
    }
    let env = TestEnv::new().with_passphrase("right");
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let wrong = env.path("wrong");
    fs::write(&wrong, "wrong\n").unwrap();
    let out = run(env
        .cmd("bash")
        .arg(env!("CARGO_MANIFEST_DIR").to_string() + "/scripts/restore-by-hand.sh")
        .arg(env.dest())
        .arg(env.target())
        .env("PASSFILE", &wrong));
    assert!(!out.status.success());
}

/// The script as a reader takes it from a disc's README.txt: the text between the two lines
/// of dashes.
fn readme_script(disc: &Path) -> String {
    let readme = fs::read_to_string(disc.join("README.txt")).unwrap();
    let rule = format!("{}\n", "-".repeat(90));
    let start = readme.find(&rule).expect("the README has the opening line") + rule.len();
    let len = readme[start..]
        .find(&rule)
        .expect("the README has the closing line");
    readme[start..start + len].to_string()
}

/// Runs the script saved at `script` on DISCS `discs` into the test's TARGET.
fn run_script(env: &TestEnv, script: &Path, discs: &Path, passfile: &Path) -> std::process::Output {
    run(env
        .cmd("bash")
        .arg(script)
        .arg(discs)
        .arg(env.target())
        .env("PASSFILE", passfile))
}

/// A stranger with only the discs: the script from a README fails on a wrong passphrase and
/// leaves nothing behind, so the same command works once the passphrase is right, even from a
/// file with a Windows line end; a disc of another set in the folder is refused by name.
#[test]
fn the_script_from_a_readme_retries_takes_crlf_and_refuses_a_mixed_set() {
    if !by_hand_tools_present() {
        return;
    }
    let env = TestEnv::new().with_passphrase("right");
    crate::common::tree::make_small_tree(&env.src());
    backup(&env, &[]);
    let discs = disc_dirs(&env.dest());
    let script = env.path("restore-by-hand.sh");
    fs::write(&script, readme_script(discs.last().unwrap())).unwrap();
    assert_eq!(
        fs::read_to_string(&script).unwrap(),
        repo_file("scripts/restore-by-hand.sh")
    );

    let wrong = env.path("wrong");
    fs::write(&wrong, "wrong\n").unwrap();
    let out = run_script(&env, &script, &env.dest(), &wrong);
    assert!(!out.status.success(), "a wrong passphrase was taken");
    assert!(
        !env.target().join(".by-hand-stage").exists(),
        "the staging folder was left behind"
    );

    let crlf = env.path("crlf");
    fs::write(&crlf, "right\r\n").unwrap();
    let out = run_script(&env, &script, &env.dest(), &crlf);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert_trees_equal(env.src(), env.target());

    // A disc of another backup set among this set's discs.
    let other = env.path("other-dest");
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        other.as_os_str(),
        "--passphrase-file".as_ref(),
        crlf.as_os_str(),
    ]);
    let mixed = env.path("mixed");
    fs::create_dir(&mixed).unwrap();
    for d in discs.iter().chain(disc_dirs(&other).iter().take(1)) {
        let name = if d.starts_with(&other) {
            "disc-0000".into()
        } else {
            d.file_name().unwrap().to_owned()
        };
        run_ok(env.cmd("cp").arg("-r").arg(d).arg(mixed.join(name)));
    }
    fs::remove_dir_all(env.target()).unwrap();
    let out = run_script(&env, &script, &mixed, &crlf);
    let err = crate::common::stderr(&out);
    assert!(!out.status.success(), "a mixed folder was restored");
    assert!(err.contains("another backup set"), "{err}");
    assert!(err.contains("disc-0000"), "{err}");
    assert!(!env.target().join(".by-hand-stage").exists());
}

#[test]
fn guide_carries_the_parity_script_verbatim() {
    let doc = repo_file("docs/restore-by-hand.md");
    let begin = "<!-- rebuild-disc-by-hand.py begins";
    let start = doc.find(begin).expect("guide has the begin marker");
    let rest = &doc[start..];
    let open = rest.find("```python\n").expect("a python block") + 10;
    let close = rest
        .find("```\n<!-- rebuild-disc-by-hand.py ends")
        .expect("end of block");
    assert_eq!(
        &rest[open..close],
        repo_file("scripts/rebuild-disc-by-hand.py")
    );
}

/// A stranger with the discs of a set with parity discs, one data disc lost: the python3
/// script from the parity disc's README rebuilds its files (each checked), and the bash
/// script from a README then restores the snapshot exactly with gpg, tar and sqlite3.
#[test]
fn a_lost_disc_rebuilt_by_hand_restores_by_hand() {
    if !by_hand_tools_present() || !crate::common::require_tool("python3") {
        return;
    }
    let env = TestEnv::new().with_passphrase(crate::util::PASS);
    let mut rng = crate::common::tree::Rng::new(51);
    let dir = env.src().join("photos");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..30 {
        let len = 20_000 + rng.below(30_000) as usize;
        fs::write(dir.join(format!("p{i:02}.jpg")), rng.bytes(len)).unwrap();
    }
    run_ok(
        env.butcher_command()
            .arg("backup")
            .arg(env.src())
            .arg(env.dest())
            .args(["--archive-size=128K", "--disc-size=1M", "--parity-discs=2"]),
    );
    let shelf = env.path("shelf");
    fs::create_dir_all(&shelf).unwrap();
    for d in disc_dirs(&env.dest()) {
        crate::common::cp_a(&d, &shelf.join(d.file_name().unwrap()));
    }
    let parity = disc_dirs(&shelf)
        .into_iter()
        .find(|d| d.join("PARITY.txt").is_file())
        .expect("a parity disc");
    let lost = shelf.join("disc-0001");
    let original = env.path("disc-0001-original");
    fs::rename(&lost, &original).unwrap();
    let script = env.path("rebuild-disc-by-hand.py");
    fs::write(&script, readme_script(&parity)).unwrap();
    let out = run(env
        .cmd("python3")
        .arg(&script)
        .arg(&parity)
        .arg(&shelf)
        .arg("1")
        .arg(&lost));
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(!stdout(&out).contains("DAMAGED"), "{}", stdout(&out));
    let mut rebuilt = 0;
    for ent in fs::read_dir(&original).unwrap() {
        let p = ent.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".par2") {
            assert!(!lost.join(&name).exists(), "recovery files are not rebuilt");
            continue;
        }
        assert_eq!(
            fs::read(lost.join(&name)).unwrap(),
            fs::read(&p).unwrap(),
            "{name}"
        );
        rebuilt += 1;
    }
    assert!(rebuilt >= 5, "{rebuilt} files");
    let restore = env.path("restore-by-hand.sh");
    fs::write(
        &restore,
        readme_script(&parity.parent().unwrap().join("disc-0002")),
    )
    .unwrap();
    let pass = pass_file(&env);
    let out = run_script(&env, &restore, &shelf, &pass);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert_trees_equal(env.src(), env.target());
}
