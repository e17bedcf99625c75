//! One drive: the discs of a two-run set are swapped under one mount directory, and restore is
//! driven through a pseudo-terminal as a person would drive it: read the prompt, put the disc
//! it names into the drive, press Enter. Starting from the first, a middle and the last disc,
//! every restore ends exact with exit 0.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{assert_trees_equal, disc_dirs, disc_number, require_tool, stderr, TestEnv};

/// How long one restore may take before the test gives up on it (it waits for prompts).
const LIMIT: Duration = Duration::from_secs(120);

/// What every prompt ends with; scripts drive restore by it.
const PROMPT_END: &str = "(skip: go on without it): ";

/// The two-run set of `util::two_run_set`, its discs moved to `store/disc-NNNN`; returns the
/// disc numbers.
fn two_run_set(env: &TestEnv) -> Vec<u32> {
    crate::util::two_run_set(env, &[]);
    let discs = disc_dirs(&env.dest());
    fs::rename(env.dest(), env.path("store")).unwrap();
    discs.iter().map(|d| disc_number(d)).collect()
}

/// The drive: `mount` holds a copy of one disc of `store` at a time. Discs in `lost` are not
/// there: asked for one, the person types `skip`.
pub(crate) struct Drive {
    pub mount: PathBuf,
    pub store: PathBuf,
    pub lost: Vec<u32>,
}

impl Drive {
    pub fn insert(&self, number: u32) {
        if self.mount.exists() {
            fs::remove_dir_all(&self.mount).unwrap();
        }
        fs::create_dir(&self.mount).unwrap();
        let disc = self.store.join(format!("disc-{number:04}"));
        for ent in fs::read_dir(&disc).unwrap() {
            let ent = ent.unwrap();
            fs::copy(ent.path(), self.mount.join(ent.file_name())).unwrap();
        }
    }
}

/// One prompt restore showed, and the disc it asked for (`None`: the last one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    Disc(u32),
    Last,
}

/// Parses the question just before a prompt's end.
fn asked(question: &str) -> Asked {
    let last = question.rfind("insert the last disc");
    let disc = question.rfind("insert disc ");
    match (last, disc) {
        (Some(l), Some(d)) if d > l => Asked::Disc(number_after(&question[d + 12..])),
        (Some(_), _) => Asked::Last,
        (None, Some(d)) => Asked::Disc(number_after(&question[d + 12..])),
        (None, None) => panic!("a prompt that asks for no disc: {question:?}"),
    }
}

fn number_after(text: &str) -> u32 {
    text[..4]
        .parse()
        .unwrap_or_else(|_| panic!("no disc number in {text:?}"))
}

/// Starts `butcher restore MOUNT TARGET` on a pseudo-terminal (through `script`).
fn start_restore(env: &TestEnv, drive: &Drive) -> Child {
    let cmd = format!(
        "{} restore {} {}",
        env!("CARGO_BIN_EXE_butcher"),
        drive.mount.display(),
        env.target().display()
    );
    env.cmd("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start script")
}

/// Answers every prompt of a restore by putting the disc it asks for into the drive (the last
/// disc for "insert the last disc") and pressing Enter. Returns the prompts in order, the
/// exit code and everything the terminal showed.
pub(crate) fn drive_restore(
    env: &TestEnv,
    drive: &Drive,
    last: u32,
) -> (Vec<Asked>, Option<i32>, String) {
    drive_restore_with(env, drive, last, &mut |_| {})
}

/// [`drive_restore`], calling `at_prompt` at each prompt before it is answered, while restore
/// waits for the answer.
pub(crate) fn drive_restore_with(
    env: &TestEnv,
    drive: &Drive,
    last: u32,
    at_prompt: &mut dyn FnMut(&Asked),
) -> (Vec<Asked>, Option<i32>, String) {
    let mut child = start_restore(env, drive);
    let mut stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + LIMIT;
    let (mut shown, mut seen, mut prompts) = (String::new(), 0usize, Vec::new());
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => shown.push_str(&String::from_utf8_lossy(&bytes)),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("restore did not finish within {LIMIT:?}; it showed:\n{shown}");
            }
        }
        while let Some(at) = shown[seen..].find(PROMPT_END) {
            let end = seen + at + PROMPT_END.len();
            let a = asked(&shown[seen..end]);
            at_prompt(&a);
            let n = match a {
                Asked::Disc(n) => n,
                Asked::Last => last,
            };
            prompts.push(a);
            if drive.lost.contains(&n) {
                stdin.write_all(b"skip\n").unwrap();
            } else {
                drive.insert(n);
                stdin.write_all(b"\n").unwrap();
            }
            stdin.flush().unwrap();
            seen = end;
        }
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (prompts, status.code(), shown + &err)
}

/// Starting with disc `start`, a restore through the prompts ends exact with exit 0, and once
/// the catalogue is known (after the last disc was asked for, or from the start) asks for no
/// disc twice and for every disc it needs.
fn restore_starting_with(pick: fn(&[u32]) -> u32) {
    if !require_tool("script") {
        return;
    }
    let env = TestEnv::new().with_passphrase("pw");
    let discs = two_run_set(&env);
    let last = *discs.last().unwrap();
    let drive = Drive {
        mount: env.path("drive"),
        store: env.path("store"),
        lost: Vec::new(),
    };
    let start = pick(&discs);
    drive.insert(start);
    let (prompts, code, shown) = drive_restore(&env, &drive, last);
    assert_eq!(code, Some(0), "prompts {prompts:?}\n{shown}");
    assert_trees_equal(env.src(), env.target());
    assert!(
        !prompts.is_empty() || start == last,
        "one disc at hand and no prompt:\n{shown}"
    );
    let known_from = prompts
        .iter()
        .rposition(|a| *a == Asked::Last)
        .map_or(0, |i| i + 1);
    let mut after: Vec<u32> = prompts[known_from..]
        .iter()
        .map(|a| match a {
            Asked::Disc(n) => *n,
            Asked::Last => unreachable!("the last one was found by rposition"),
        })
        .collect();
    let asked_count = after.len();
    after.sort();
    after.dedup();
    assert_eq!(
        after.len(),
        asked_count,
        "a disc asked for twice: {prompts:?}"
    );
    // Every disc but the one in the drive when the catalogue became known is asked for.
    let expected: Vec<u32> = discs.iter().copied().filter(|&n| n != last).collect();
    assert_eq!(after, expected, "prompts {prompts:?}\n{shown}");
}

#[test]
fn one_drive_starting_with_the_first_disc() {
    restore_starting_with(|d| d[0]);
}

#[test]
fn one_drive_starting_with_a_middle_disc() {
    restore_starting_with(|d| d[d.len() / 2]);
}

#[test]
fn one_drive_starting_with_the_last_disc() {
    restore_starting_with(|d| *d.last().unwrap());
}

/// Without a terminal and with only the first disc, whose copy knows no complete snapshot,
/// restore says what to do: give the last disc too.
#[test]
fn only_the_first_disc_without_a_terminal_says_to_give_the_last() {
    let env = TestEnv::new().with_passphrase("pw");
    let discs = two_run_set(&env);
    let first = env.path("store").join(format!("disc-{:04}", discs[0]));
    let err = env.butcher_fails(
        [
            "restore".as_ref(),
            first.as_os_str(),
            env.target().as_os_str(),
        ],
        2,
    );
    assert!(err.contains("no complete snapshot"), "{err}");
    assert!(err.contains("last disc"), "{err}");
    assert!(err.contains("--discs"), "{err}");
    assert!(!env.target().exists(), "restore wrote into the target");
}

/// Without a terminal and with a middle disc, restore says which snapshot it restores and that
/// discs with higher numbers may hold newer ones.
#[test]
fn a_middle_disc_without_a_terminal_names_the_snapshot_and_warns_of_newer_ones() {
    let env = TestEnv::new().with_passphrase("pw");
    let discs = two_run_set(&env);
    let store = env.path("store");
    // The last disc of the first run: its copy knows snapshot 1 whole.
    let first_run_end = discs
        .iter()
        .copied()
        .find(|n| {
            let out = env.butcher_ok([
                "snapshots".as_ref(),
                store.join(format!("disc-{n:04}")).as_os_str(),
            ]);
            crate::common::stdout(&out).contains("complete")
        })
        .expect("a disc whose copy knows snapshot 1 whole");
    let disc = store.join(format!("disc-{first_run_end:04}"));
    let out = env.butcher([
        "restore".as_ref(),
        disc.as_os_str(),
        env.target().as_os_str(),
    ]);
    let err = stderr(&out);
    // The first run's other discs are not at hand either.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("restoring snapshot 1"), "{err}");
    assert!(
        err.contains("higher numbers may hold newer snapshots"),
        "{err}"
    );
    assert!(err.contains("--discs"), "{err}");
}

/// While restore waits for a disc, the contents it has read so far wait in its staging
/// directory inside TARGET: that directory is the owner's alone (0700) and every file in it is
/// private (0600). Once placed, the files have the modes the catalogue records.
#[test]
fn the_staging_directory_and_its_files_are_private_while_restore_waits() {
    use std::os::unix::fs::PermissionsExt;
    if !require_tool("script") {
        return;
    }
    let env = TestEnv::new().with_passphrase("pw");
    let discs = two_run_set(&env);
    let last = *discs.last().unwrap();
    let drive = Drive {
        mount: env.path("drive"),
        store: env.path("store"),
        lost: Vec::new(),
    };
    drive.insert(last);
    let target = env.target();
    // (staging directory mode, staged file names and modes), at each prompt for a disc.
    let mut seen: Vec<(u32, Vec<(String, u32)>)> = Vec::new();
    let mut look = |a: &Asked| {
        if *a == Asked::Last {
            return; // asked before any archive is read
        }
        let stage: Vec<_> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with(".butcher-restore-")
            })
            .collect();
        assert_eq!(stage.len(), 1, "one staging directory: {stage:?}");
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let files = fs::read_dir(&stage[0])
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    mode(&p),
                )
            })
            .collect();
        seen.push((mode(&stage[0]), files));
    };
    let (prompts, code, shown) = drive_restore_with(&env, &drive, last, &mut look);
    assert_eq!(code, Some(0), "prompts {prompts:?}\n{shown}");
    assert_trees_equal(env.src(), env.target());
    assert!(
        !seen.is_empty(),
        "no prompt for a disc: {prompts:?}\n{shown}"
    );
    let (dir_mode, files) = &seen[0];
    assert_eq!(*dir_mode, 0o700, "staging directory mode {dir_mode:o}");
    // The last disc's archives were read before the first disc was asked for: their contents
    // (named by sha256, beside the decrypted catalogue) are in the staging directory.
    assert!(
        files.iter().any(|(n, _)| n.len() == 64),
        "no staged content while waiting: {files:?}"
    );
    for (dir_mode, files) in &seen {
        assert_eq!(*dir_mode, 0o700, "staging directory mode {dir_mode:o}");
        for (name, mode) in files {
            assert_eq!(*mode, 0o600, "{name} is {mode:o} in the staging directory");
        }
    }
}
