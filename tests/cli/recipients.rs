//! Public-key encryption with keys made by GnuPG: backups encrypted to recipients (alone or
//! beside a passphrase), opened by each recipient's secret key alone, by butcher, by gpg and by
//! the by-hand script with a keyring; unattended runs; the refusals.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::tree::make_small_tree;
use crate::common::{assert_trees_equal, disc_dirs, run, run_ok, stderr, stdout, TestEnv};
use crate::util::{archives, by_hand_tools_present, PASS};

/// A key made by gpg in a keyring of its own: its certificate and secret key exported.
struct GpgKey {
    home: PathBuf,
    fpr: String,
    public: PathBuf,
    secret: PathBuf,
}

/// A gpg command on the keyring `home`.
fn gpg(env: &TestEnv, home: &Path) -> std::process::Command {
    let mut c = env.cmd("gpg");
    c.env("GNUPGHOME", home)
        .args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback"]);
    c
}

/// Makes a key with `gpg --quick-gen-key NAME ALGO USAGE EXPIRE` in a keyring of its own (with
/// `protect` as its passphrase, or none), adds an encryption subkey `subkey` if given, and
/// exports both halves. `extra` goes before the generation command (e.g. a faked time).
fn make_key(
    env: &TestEnv,
    name: &str,
    key: (&str, &str, &str),
    subkey: Option<&str>,
    protect: &str,
    extra: &[&str],
) -> GpgKey {
    let home = env.path(format!("keyring-{name}"));
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (algo, usage, expire) = key;
    let uid = format!("{name} <{name}@example.org>");
    run_ok(
        gpg(env, &home)
            .args(["--passphrase", protect])
            .args(extra)
            .args(["--quick-gen-key", &uid, algo, usage, expire]),
    );
    let listing = stdout(&run_ok(gpg(env, &home).args([
        "--with-colons",
        "--list-keys",
        &uid,
    ])));
    let fpr = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("gpg lists the key's fingerprint")
        .to_string();
    if let Some(sub) = subkey {
        run_ok(
            gpg(env, &home)
                .args(["--passphrase", protect])
                .args(extra)
                .args(["--quick-add-key", &fpr, sub, "encr", expire]),
        );
    }
    let public = env.path(format!("{name}.pub.asc"));
    let secret = env.path(format!("{name}.sec.gpg"));
    run_ok(
        gpg(env, &home)
            .args(["--armor", "--output"])
            .arg(&public)
            .args(["--export", &fpr]),
    );
    run_ok(
        gpg(env, &home)
            .args(["--passphrase", protect, "--output"])
            .arg(&secret)
            .args(["--export-secret-keys", &fpr]),
    );
    GpgKey {
        home,
        fpr,
        public,
        secret,
    }
}

/// An ed25519 key with a cv25519 encryption subkey, as `future-default` makes them.
fn ed25519(env: &TestEnv, name: &str) -> GpgKey {
    make_key(
        env,
        name,
        ("future-default", "default", "never"),
        None,
        "",
        &[],
    )
}

/// An RSA 3072 key with an RSA 3072 encryption subkey.
fn rsa3072(env: &TestEnv, name: &str) -> GpgKey {
    make_key(
        env,
        name,
        ("rsa3072", "sign,cert", "never"),
        Some("rsa3072"),
        "",
        &[],
    )
}

fn keys_available() -> bool {
    by_hand_tools_present() && crate::common::require_tool("gpgconf")
}

/// A TestEnv without a passphrase anywhere, with the small tree in src/.
fn env_with_tree() -> TestEnv {
    let env = TestEnv::new();
    make_small_tree(&env.src());
    env
}

fn backup_args(env: &TestEnv, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "backup".to_string(),
        env.src().display().to_string(),
        env.dest().display().to_string(),
        "--archive-size=64K".to_string(),
        "--disc-size=640K".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn recipient_args(keys: &[&GpgKey]) -> Vec<String> {
    keys.iter()
        .flat_map(|k| ["--recipient".to_string(), k.public.display().to_string()])
        .collect()
}

fn backup_to(env: &TestEnv, keys: &[&GpgKey], extra: &[&str]) {
    let mut args = recipient_args(keys);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.butcher_ok(backup_args(env, &args));
}

/// The disc directories of DEST copied into a folder of their own (no working catalogue):
/// restore then reads a disc's encrypted catalogue copy.
fn discs_only(env: &TestEnv) -> PathBuf {
    let dir = env.path("discs-only");
    fs::create_dir(&dir).unwrap();
    for d in disc_dirs(&env.dest()) {
        crate::common::cp_a(&d, &dir.join(d.file_name().unwrap()));
    }
    dir
}

fn restore_with(env: &TestEnv, source: &Path, target: &Path, extra: &[&str]) {
    let mut args: Vec<String> = vec![
        "restore".into(),
        source.display().to_string(),
        target.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.butcher_ok(&args);
}

/// What `gpg --list-packets` says of the message `file`, decrypted with the keyring `home`.
fn packets(env: &TestEnv, home: &Path, file: &Path) -> String {
    let out = run(gpg(env, home).arg("--list-packets").arg(file));
    assert!(
        out.status.success(),
        "gpg cannot read {}: {}",
        file.display(),
        stderr(&out)
    );
    stdout(&out)
}

/// Every archive and catalogue copy of the set, decrypted by gpg with the keyring `home`
/// alone, and each message's packets: one PKESK v3 per recipient, SEIPD v1 with MDC.
fn gpg_opens_everything(env: &TestEnv, home: &Path, recipients: usize, with_passphrase: bool) {
    let mut files = archives(&env.dest());
    for d in disc_dirs(&env.dest()) {
        files.push(d.join("catalogue.db.gpg"));
    }
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let out = env.path("decrypted");
        run_ok(
            gpg(env, home)
                .arg("--output")
                .arg(&out)
                .arg("--decrypt")
                .arg(f),
        );
        assert!(fs::metadata(&out).unwrap().len() > 0);
        let p = packets(env, home, f);
        let pkesk = p.matches(":pubkey enc packet: version 3").count();
        assert_eq!(pkesk, recipients, "{}: {p}", f.display());
        assert_eq!(
            p.contains(":symkey enc packet: version 4"),
            with_passphrase,
            "{}: {p}",
            f.display()
        );
        assert!(
            p.contains(":encrypted data packet:") && p.contains("mdc_method: 2"),
            "{}: not SEIPD v1 with MDC: {p}",
            f.display()
        );
        assert!(
            !p.contains(":aead encrypted packet") && !p.contains("version 6"),
            "{}: {p}",
            f.display()
        );
    }
}

#[test]
fn two_recipients_each_open_everything_alone() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let ed = ed25519(&env, "ed");
    let rsa = rsa3072(&env, "rsa");
    backup_to(&env, &[&ed, &rsa], &[]);
    for key in [&ed, &rsa] {
        gpg_opens_everything(&env, &key.home, 2, false);
    }
    let discs = discs_only(&env);
    for (i, key) in [&ed, &rsa].into_iter().enumerate() {
        let sec = key.secret.display().to_string();
        // From DEST (its working catalogue) and from the discs alone (a catalogue copy).
        let from_dest = env.path(format!("out-dest-{i}"));
        restore_with(&env, &env.dest(), &from_dest, &["--identity", &sec]);
        assert_trees_equal(env.src(), &from_dest);
        let from_discs = env.path(format!("out-discs-{i}"));
        restore_with(&env, &discs, &from_discs, &["--identity", &sec]);
        assert_trees_equal(env.src(), &from_discs);
        // verify --deep decrypts every archive with the key alone.
        let args = [
            "verify",
            &discs.display().to_string(),
            "--deep",
            "--identity",
            &sec,
        ];
        env.butcher_ok(args);
    }
}

/// A monthly run from cron: recipients from the environment, no passphrase, no terminal,
/// stdin closed, and no secret key anywhere on the machine.
#[test]
fn an_unattended_run_needs_no_secret_and_no_terminal() {
    if !keys_available() {
        return;
    }
    let mut env = env_with_tree();
    let key = ed25519(&env, "cron");
    // A binary certificate (gpg --export without --armor), named by the environment.
    let binary = env.path("cron.pub.gpg");
    run_ok(
        gpg(&env, &key.home)
            .arg("--output")
            .arg(&binary)
            .args(["--export", &key.fpr]),
    );
    assert_ne!(fs::read(&binary).unwrap()[0], b'-', "armored");
    env.set_env("BUTCHER_RECIPIENTS", &binary);
    env.butcher_ok(backup_args(&env, &[]));
    fs::write(env.src().join("new-this-month.txt"), "new\n".repeat(100)).unwrap();
    // TestEnv commands run with stdin null and no controlling terminal.
    env.butcher_ok(backup_args(&env, &[]));
    let sec = key.secret.display().to_string();
    let target = env.path("out");
    restore_with(&env, &discs_only(&env), &target, &["--identity", &sec]);
    assert_trees_equal(env.src(), &target);
    assert!(target.join("new-this-month.txt").is_file());
}

/// A set made with a passphrase and a recipient opens with either.
#[test]
fn a_passphrase_and_a_recipient_each_open_the_set() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree().with_passphrase(PASS);
    let key = ed25519(&env, "both");
    backup_to(&env, &[&key], &[]);
    gpg_opens_everything(&env, &key.home, 1, true);
    let discs = discs_only(&env);
    let by_pass = env.path("by-pass");
    restore_with(&env, &discs, &by_pass, &[]);
    assert_trees_equal(env.src(), &by_pass);
    // The same set without the passphrase: the key alone.
    let mut keyonly = TestEnv::new();
    keyonly.unset_env(crate::common::PASSPHRASE_ENV);
    let by_key = env.path("by-key");
    let sec = key.secret.display().to_string();
    let out = run(keyonly.butcher_command().args([
        "restore".as_ref(),
        discs.as_os_str(),
        by_key.as_os_str(),
        "--identity".as_ref(),
        sec.as_ref(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_trees_equal(env.src(), &by_key);
    // A run without the passphrase is refused: what it wrote would not open with it.
    let mut nopass = TestEnv::new();
    nopass.unset_env(crate::common::PASSPHRASE_ENV);
    let mut args = backup_args(&env, &[]);
    args.extend(recipient_args(&[&key]));
    let out = run(nopass.butcher_command().args(&args));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has a passphrase"),
        "{}",
        stderr(&out)
    );
}

/// A protected secret key is unlocked with --identity-passphrase-file; a wrong one is
/// refused; the key and its passphrase are written nowhere.
#[test]
fn a_protected_secret_key_opens_with_its_passphrase_file() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let key = make_key(
        &env,
        "locked",
        ("future-default", "default", "never"),
        None,
        "key passphrase",
        &[],
    );
    backup_to(&env, &[&key], &[]);
    let right = env.path("key-pass");
    fs::write(&right, "key passphrase\n").unwrap();
    let target = env.path("out");
    let sec = key.secret.display().to_string();
    let file = right.display().to_string();
    restore_with(
        &env,
        &env.dest(),
        &target,
        &["--identity", &sec, "--identity-passphrase-file", &file],
    );
    assert_trees_equal(env.src(), &target);
    let wrong = env.path("wrong-pass");
    fs::write(&wrong, "not it\n").unwrap();
    let target2 = env.path("out2");
    let err = env.butcher_fails(
        [
            "restore",
            &env.dest().display().to_string(),
            &target2.display().to_string(),
            "--identity",
            &sec,
            "--identity-passphrase-file",
            &wrong.display().to_string(),
        ],
        2,
    );
    assert!(err.contains("passphrase of the secret key"), "{err}");
    assert!(!target2.exists());
    // Without a passphrase file and without a terminal: says what to give.
    let err = env.butcher_fails(
        [
            "restore",
            &env.dest().display().to_string(),
            &target2.display().to_string(),
            "--identity",
            &sec,
        ],
        2,
    );
    assert!(err.contains("--identity-passphrase-file"), "{err}");
    // Nothing of the key under DEST.
    for f in crate::common::list_files(&env.dest()) {
        let bytes = fs::read(&f).unwrap();
        let secret = fs::read(&key.secret).unwrap();
        // Any 32-byte stretch of the exported key, taken every 16 bytes.
        let stretches: Vec<&[u8]> = secret.windows(32).step_by(16).collect();
        assert!(
            !bytes.windows(32).any(|w| stretches.contains(&w)),
            "{} holds part of the secret key",
            f.display()
        );
    }
}

#[test]
fn unusable_certificates_are_refused_with_the_reason() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let signing = make_key(
        &env,
        "signonly",
        ("ed25519", "sign", "never"),
        None,
        "",
        &[],
    );
    let expired = make_key(
        &env,
        "expired",
        ("future-default", "default", "1y"),
        None,
        "",
        &["--faked-system-time", "20200101T000000!"],
    );
    let revoked = ed25519(&env, "revoked");
    let rev = revoked
        .home
        .join("openpgp-revocs.d")
        .join(format!("{}.rev", revoked.fpr));
    let text = fs::read_to_string(&rev)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let rev_armored = env.path("revocation.asc");
    fs::write(&rev_armored, text).unwrap();
    run_ok(gpg(&env, &revoked.home).arg("--import").arg(&rev_armored));
    run_ok(
        gpg(&env, &revoked.home)
            .args(["--armor", "--output"])
            .arg(&revoked.public)
            .args(["--export", &revoked.fpr]),
    );
    for (key, why) in [
        (&signing, "no encryption-capable subkey"),
        (&expired, "expired"),
        (&revoked, "revoked"),
    ] {
        let args = backup_args(&env, &["--recipient", &key.public.display().to_string()]);
        let err = env.butcher_fails(&args, 2);
        assert!(err.contains(why) && err.contains(&key.fpr), "{err}");
        assert!(!env.dest().join("catalogue.db").exists(), "{err}");
    }
}

#[test]
fn the_set_keeps_its_recipients_unless_told_to_change_them() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let first = ed25519(&env, "first");
    let second = ed25519(&env, "second");
    backup_to(&env, &[&first], &[]);
    let args = backup_args(&env, &["--recipient", &second.public.display().to_string()]);
    let err = env.butcher_fails(&args, 2);
    assert!(
        err.contains(&first.fpr)
            && err.contains(&second.fpr)
            && err.contains("--change-recipients"),
        "{err}"
    );
    // Changed: later archives are encrypted to the new recipient, and the catalogue says so.
    let first_state = env.path("src-run-1");
    crate::common::cp_a(&env.src(), &first_state);
    fs::write(env.src().join("after-change.txt"), "x\n".repeat(1000)).unwrap();
    backup_to(&env, &[&second], &["--change-recipients"]);
    let q = |sql: &str| {
        stdout(&run_ok(
            env.cmd("sqlite3")
                .arg(env.dest().join("catalogue.db"))
                .arg(sql),
        ))
    };
    assert_eq!(
        q("SELECT value FROM meta WHERE key = 'recipients'").trim(),
        second.fpr
    );
    assert_eq!(
        q("SELECT value FROM meta WHERE key = 'recipients_history'")
            .lines()
            .count(),
        2
    );
    let newest = archives(&env.dest()).into_iter().max().unwrap();
    let p = packets(&env, &second.home, &newest);
    assert_eq!(p.matches(":pubkey enc packet:").count(), 1, "{p}");
    // What was written before the change opens with the first key, what after with the
    // second: snapshot 1 with the first alone, the newest with both.
    let (one, two) = (
        first.secret.display().to_string(),
        second.secret.display().to_string(),
    );
    let target = env.path("out-1");
    restore_with(
        &env,
        &env.dest(),
        &target,
        &["--identity", &one, "--snapshot", "1"],
    );
    assert_trees_equal(&first_state, &target);
    let target = env.path("out-2");
    restore_with(
        &env,
        &env.dest(),
        &target,
        &["--identity", &one, "--identity", &two],
    );
    assert_trees_equal(env.src(), &target);
}

#[test]
fn restore_without_a_key_that_opens_the_set_says_what_it_expects() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let owner = ed25519(&env, "owner");
    let stranger = ed25519(&env, "stranger");
    backup_to(&env, &[&owner], &[]);
    let discs = discs_only(&env);
    let target = env.path("out");
    let t = target.display().to_string();
    // No key and no passphrase, no terminal: one line, exit 1, TARGET untouched.
    for source in [env.dest(), discs.clone()] {
        let out = env.butcher(["restore", &source.display().to_string(), &t]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
        assert!(!target.exists());
    }
    // A key that is not a recipient: the fingerprints (DEST) or key ids (a disc's copy) the
    // set expects.
    let sec = stranger.secret.display().to_string();
    let out = env.butcher([
        "restore",
        &env.dest().display().to_string(),
        &t,
        "--identity",
        &sec,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&owner.fpr) && stderr(&out).contains(&stranger.fpr),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());
    let out = env.butcher([
        "restore",
        &discs.display().to_string(),
        &t,
        "--identity",
        &sec,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let owner_sub = subkey_id(&env, &owner);
    assert!(
        stderr(&out).contains(&owner_sub),
        "{} does not name {owner_sub}",
        stderr(&out)
    );
    assert!(!target.exists());
}

/// The key id of a key's encryption subkey, as gpg lists it.
fn subkey_id(env: &TestEnv, key: &GpgKey) -> String {
    let listing = stdout(&run_ok(gpg(env, &key.home).args([
        "--with-colons",
        "--list-keys",
        &key.fpr,
    ])));
    listing
        .lines()
        .find(|l| l.starts_with("sub:"))
        .and_then(|l| l.split(':').nth(4))
        .expect("an encryption subkey")
        .to_string()
}

/// The by-hand script, without PASSFILE, with the secret key in gpg's keyring.
#[test]
fn the_by_hand_script_restores_with_a_keyring() {
    if !keys_available() {
        return;
    }
    let env = env_with_tree();
    let key = rsa3072(&env, "byhand");
    backup_to(&env, &[&key], &[]);
    // The keyring of the person restoring: TestEnv's own.
    run_ok(
        env.cmd("gpg")
            .args(["--batch", "--quiet", "--import"])
            .arg(&key.secret),
    );
    run_ok(
        env.cmd("bash")
            .arg(env!("CARGO_MANIFEST_DIR").to_string() + "/scripts/restore-by-hand.sh")
            .arg(discs_only(&env))
            .arg(env.target()),
    );
    assert_trees_equal(env.src(), env.target());
}

/// Nothing of the user's data is left in plaintext outside SRC and TARGET: not on the discs,
/// not in DEST (whose working catalogue holds names and hashes, never contents), not in the
/// temporary directory, after an unattended backup and a restore with the key.
#[test]
fn no_plaintext_of_the_data_outside_src_and_target() {
    if !keys_available() {
        return;
    }
    let mut env = env_with_tree();
    let marker = b"plaintext-marker-5f0c2e9a-do-not-leak";
    let mut content = Vec::new();
    for _ in 0..2000 {
        content.extend_from_slice(marker);
    }
    fs::write(env.src().join("secret.txt"), &content).unwrap();
    let tmp = env.path("tmp");
    fs::create_dir(&tmp).unwrap();
    env.set_env("TMPDIR", &tmp);
    let key = ed25519(&env, "leak");
    backup_to(&env, &[&key], &["--compression", "none"]);
    let target = env.target();
    let sec = key.secret.display().to_string();
    restore_with(&env, &discs_only(&env), &target, &["--identity", &sec]);
    assert_eq!(fs::read(target.join("secret.txt")).unwrap(), content);
    let mut looked = 0;
    for f in crate::common::list_files(env.root()) {
        if f.starts_with(env.src()) || f.starts_with(&target) {
            continue;
        }
        let bytes = fs::read(&f).unwrap_or_default();
        looked += 1;
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds the data in plaintext",
            f.display()
        );
    }
    assert!(looked > 10, "{looked} files looked at");
}
