//! Shared harness for the integration tests.
//!
//! Include it from any test file with `mod common;`. Everything here is
//! self-contained (std, `tempfile` and `sha2`) and does not use the library
//! API of the crate under test: the binary is driven through its command line
//! only.
//!
//! Every command run through [`run`] (and so every `TestEnv::butcher*` call)
//! has a deadline: a command that hangs is killed and fails its test instead
//! of hanging the suite.
#![allow(dead_code, unused_imports)]

pub mod compare;
pub mod damage;
pub mod json;
pub mod tree;

pub use compare::{assert_trees_equal, compare_trees};
pub use damage::{flip_byte, flip_middle_byte, keeping_mtime, truncate_to_half};
pub use tree::{make_hostile_tree, make_small_tree, Rng, TreeFacts};

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Environment variable that turns a missing external tool into a test failure.
pub const REQUIRE_TOOLS_ENV: &str = "BUTCHER_REQUIRE_TOOLS";
/// Environment variable that sets [`command_timeout`], in seconds.
pub const TIMEOUT_ENV: &str = "BUTCHER_TEST_TIMEOUT_SECS";
/// How long one command may run when the test gives no limit of its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Environment variable the binary reads the passphrase from.
pub const PASSPHRASE_ENV: &str = "BUTCHER_PASSPHRASE";

/// A throwaway working area for one test.
///
/// Layout of the temporary directory:
///
/// * `src/`    — created; put the tree to back up here
/// * `dest/`   — not created; the backup destination
/// * `target/` — not created; the restore destination
/// * `gnupg/`  — created with mode 0700; used as `GNUPGHOME` for every
///   command started through this value
///
/// On drop the whole directory is made writable again (read-only dirs and
/// files from the hostile tree) so `TempDir` can delete it, and a gpg-agent
/// that may have been started for the throwaway `GNUPGHOME` is stopped.
pub struct TestEnv {
    temp: tempfile::TempDir,
    envs: Vec<(OsString, OsString)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        let temp = tempfile::Builder::new()
            .prefix("butcher-test-")
            .tempdir()
            .expect("cannot create temporary directory");
        let root = temp.path();
        fs::create_dir(root.join("src")).expect("cannot create src dir");
        let gnupg = root.join("gnupg");
        fs::create_dir(&gnupg).expect("cannot create gnupg home");
        fs::set_permissions(&gnupg, fs::Permissions::from_mode(0o700))
            .expect("cannot chmod gnupg home");
        TestEnv {
            temp,
            envs: Vec::new(),
        }
    }

    /// Sets `BUTCHER_PASSPHRASE` for every command started from now on.
    pub fn with_passphrase(mut self, passphrase: impl AsRef<OsStr>) -> Self {
        self.set_env(PASSPHRASE_ENV, passphrase);
        self
    }

    /// Sets an extra environment variable for every command started from now on.
    pub fn with_env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.set_env(key, value);
        self
    }

    /// Like [`TestEnv::with_env`], on a borrowed value. Replaces an earlier value.
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let key = key.as_ref().to_os_string();
        self.envs.retain(|(k, _)| *k != key);
        self.envs.push((key, value.as_ref().to_os_string()));
    }

    /// Removes a variable set with [`TestEnv::set_env`] / the builders.
    pub fn unset_env(&mut self, key: impl AsRef<OsStr>) {
        let key = key.as_ref();
        self.envs.retain(|(k, _)| k.as_os_str() != key);
    }

    /// The temporary directory itself.
    pub fn root(&self) -> &Path {
        self.temp.path()
    }

    /// `root()/rel`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root().join(rel)
    }

    pub fn src(&self) -> PathBuf {
        self.path("src")
    }

    pub fn dest(&self) -> PathBuf {
        self.path("dest")
    }

    pub fn target(&self) -> PathBuf {
        self.path("target")
    }

    pub fn gnupg_home(&self) -> PathBuf {
        self.path("gnupg")
    }

    /// Path of the binary under test.
    pub fn butcher_exe() -> &'static Path {
        Path::new(env!("CARGO_BIN_EXE_butcher"))
    }

    /// A `Command` for the binary, configured like [`TestEnv::cmd`]. Use it
    /// when a test needs to set stdin or other things itself.
    pub fn butcher_command(&self) -> Command {
        self.cmd(Self::butcher_exe())
    }

    /// Runs the binary with `args` and returns its output, whatever the exit
    /// code. Stdin is null, the working directory is `root()`.
    pub fn butcher<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = collect_args(args);
        let mut cmd = self.butcher_command();
        cmd.args(&args);
        run(&mut cmd)
    }

    /// Runs the binary and panics (showing stdout and stderr) unless it exits with 0.
    pub fn butcher_ok<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.butcher_command();
        cmd.args(collect_args(args));
        run_ok(&mut cmd)
    }

    /// Runs the binary, panics unless it exits with exactly `code`, and
    /// returns its stderr (lossily decoded).
    pub fn butcher_fails<I, S>(&self, args: I, code: i32) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.butcher_command();
        cmd.args(collect_args(args));
        let out = run(&mut cmd);
        if out.status.code() != Some(code) {
            panic!(
                "expected exit code {code}, got {}\n{}",
                describe_status(&out),
                describe_run(&cmd, &out)
            );
        }
        stderr(&out)
    }

    /// A `Command` for `program` (gpg, tar, sqlite3, bash, ...) with
    /// `GNUPGHOME` set to [`TestEnv::gnupg_home`], all inherited `BUTCHER_*`
    /// variables removed, the variables set through the builders added,
    /// stdin null and the working directory set to `root()`.
    ///
    /// The child runs in a new session without a controlling terminal, so a
    /// program that tries to prompt on `/dev/tty` fails at once instead of
    /// waiting for input.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"BUTCHER_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("GNUPGHOME", self.gnupg_home());
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.current_dir(self.root());
        cmd.stdin(Stdio::null());
        detach_from_terminal(&mut cmd);
        cmd
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let gnupg = self.gnupg_home();
        let gpg_used = fs::read_dir(&gnupg)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false);
        if gpg_used {
            if let Some(gpgconf) = find_tool("gpgconf") {
                let _ = Command::new(gpgconf)
                    .args(["--kill", "all"])
                    .env("GNUPGHOME", &gnupg)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        make_writable(self.temp.path());
    }
}

/// Owned `OsString` from anything string- or path-like, for building
/// argument lists of mixed types: `env.butcher_ok([os("backup"), os(env.src())])`.
pub fn os(s: impl AsRef<OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

fn collect_args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect()
}

/// Puts the child into a new session so it has no controlling terminal.
fn detach_from_terminal(cmd: &mut Command) {
    extern "C" {
        fn setsid() -> i32;
    }
    // SAFETY: setsid() is async-signal-safe and only affects the child
    // between fork and exec. Its failure (already a group leader) is harmless.
    unsafe {
        cmd.pre_exec(|| {
            setsid();
            Ok(())
        });
    }
}

/// Stdout of a run, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a run, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The limit [`run`] gives a command: `BUTCHER_TEST_TIMEOUT_SECS` when set,
/// else [`DEFAULT_TIMEOUT`]. Generous: only a hang should reach it.
pub fn command_timeout() -> Duration {
    match std::env::var(TIMEOUT_ENV) {
        Ok(secs) => Duration::from_secs(
            secs.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{TIMEOUT_ENV}={secs:?} is not a number of seconds")),
        ),
        Err(_) => DEFAULT_TIMEOUT,
    }
}

/// Runs `cmd` to completion, capturing stdout and stderr, within
/// [`command_timeout`]. Stdin is left as `cmd` has it ([`TestEnv::cmd`] makes
/// it null).
pub fn run(cmd: &mut Command) -> Output {
    run_within(cmd, command_timeout())
}

/// Like [`run`], with its own limit: a command still running after `limit` is
/// killed (with everything in its process group) and the test panics, naming
/// the command and showing what it wrote so far.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    run_feeding(cmd, None, limit)
}

/// Like [`run_within`], with `input` written to the command's stdin (which is
/// then closed).
pub fn run_with_input(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    run_feeding(cmd, Some(input.to_vec()), limit)
}

fn run_feeding(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", describe_command(cmd)));
    let pid = child.id() as i32;
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // The command may exit without reading it all: a write error is its business.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    let (tx, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    // A last look after the limit, so a command that ended right at it is not killed.
    let status = exited.recv_timeout(limit).or_else(|_| exited.try_recv());
    let status: ExitStatus = match status {
        Ok(status) => {
            status.unwrap_or_else(|e| panic!("cannot wait for {}: {e}", describe_command(cmd)))
        }
        Err(_) => {
            kill_process_and_group(pid);
            let _ = exited.recv_timeout(Duration::from_secs(10));
            let grace = Duration::from_secs(5);
            let out = stdout.recv_timeout(grace).unwrap_or_default();
            let err = stderr.recv_timeout(grace).unwrap_or_default();
            panic!(
                "timed out: still running after {limit:?}, killed ({TIMEOUT_ENV} sets the default limit)\n\
                 command: {}\n--- stdout so far ---\n{}\n--- stderr so far ---\n{}\n--------------",
                describe_command(cmd),
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
    };
    // Exited; its output ends unless something it started still holds the pipes.
    let collect = |rx: mpsc::Receiver<Vec<u8>>, what: &str| {
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left.max(Duration::from_secs(5)))
            .unwrap_or_else(|_| {
                panic!(
                    "{} exited ({status}) but its {what} stayed open past the limit of {limit:?}",
                    describe_command(cmd)
                )
            })
    };
    let stdout = collect(stdout, "stdout");
    let stderr = collect(stderr, "stderr");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Reads `from` to its end in a thread; the bytes arrive on the returned channel.
fn read_in_background(mut from: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = from.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// SIGKILL to process `pid` and to the process group it leads, if any (a command made by
/// [`TestEnv::cmd`] leads its own session, so this reaches what it started too). Only for a
/// child not yet reaped: while it lives, no other group can have its id.
fn kill_process_and_group(pid: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGKILL: i32 = 9;
    // SAFETY: kill() has no memory-safety preconditions; failures (ESRCH) are harmless here.
    unsafe {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
}

/// Runs `cmd` and panics (showing stdout and stderr) unless it exits with 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if !out.status.success() {
        panic!(
            "command failed with {}\n{}",
            describe_status(&out),
            describe_run(cmd, &out)
        );
    }
    out
}

fn describe_status(out: &Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => format!("{}", out.status),
    }
}

/// The command line, as a shell-like string for messages.
pub fn describe_command(cmd: &Command) -> String {
    let mut s = format!("{:?}", cmd.get_program());
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&format!("{arg:?}"));
    }
    s
}

fn describe_run(cmd: &Command, out: &Output) -> String {
    format!(
        "command: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        describe_command(cmd),
        stdout(out),
        stderr(out)
    )
}

/// Looks `name` up like a shell would: a name containing `/` is taken as a
/// path, otherwise every directory of `PATH` is searched for an executable
/// regular file.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
}

/// True if `name` is on `PATH`. If it is not: panics when
/// `BUTCHER_REQUIRE_TOOLS=1`, otherwise prints a skip notice to stderr and
/// returns false. Use as `if !require_tool("gpg") { return; }`.
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    if std::env::var_os(REQUIRE_TOOLS_ENV).is_some_and(|v| v == "1") {
        panic!("required tool {name} is missing ({REQUIRE_TOOLS_ENV}=1)");
    }
    eprintln!("skipping: {name} not installed");
    false
}

/// Best effort: gives the owner rwx on every directory and rw on every
/// regular file under `path` (symlinks are never followed), so the tree can
/// be deleted or modified. Errors are ignored.
pub fn make_writable(path: &Path) {
    let Ok(md) = fs::symlink_metadata(path) else {
        return;
    };
    let ft = md.file_type();
    let mode = md.permissions().mode() & 0o7777;
    if ft.is_dir() {
        if mode & 0o700 != 0o700 {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(entries) = fs::read_dir(path) {
            for entry in entries.flatten() {
                make_writable(&entry.path());
            }
        }
    } else if ft.is_file() && mode & 0o600 != 0o600 {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o600));
    }
}

/// All entries below `root` (not `root` itself) as paths relative to it,
/// sorted by their raw bytes. Symlinks are listed, never followed. Panics on
/// I/O errors.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    fn rec(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let dir = root.join(rel);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read dir {dir:?}: {e}"));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("cannot read dir {dir:?}: {e}"));
            let child = rel.join(entry.file_name());
            let is_dir = entry
                .file_type()
                .unwrap_or_else(|e| panic!("cannot stat {:?}: {e}", entry.path()))
                .is_dir();
            out.push(child.clone());
            if is_dir {
                rec(root, &child, out);
            }
        }
    }
    let mut out = Vec::new();
    rec(root, Path::new(""), &mut out);
    out.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    out
}

/// Absolute paths of all regular files below `root`, sorted.
pub fn list_files(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .map(|rel| root.join(rel))
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}

/// The `disc-NNNN` subdirectories of `dest`, in disc-number order. Panics
/// if `dest` cannot be read.
pub fn disc_dirs(dest: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dest).unwrap_or_else(|e| panic!("cannot read dest dir {dest:?}: {e}"));
    let mut discs: Vec<(u64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read dest dir {dest:?}: {e}"));
        let name = entry.file_name();
        let Some(digits) = name.as_bytes().strip_prefix(b"disc-") else {
            continue;
        };
        if digits.len() < 4 || !digits.iter().all(u8::is_ascii_digit) {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let number = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(u64::MAX);
        discs.push((number, entry.path()));
    }
    discs.sort();
    discs.into_iter().map(|(_, p)| p).collect()
}

/// Sum of the sizes of all regular files at or below `path` (symlinks are
/// not followed). Panics on I/O errors.
pub fn dir_size_bytes(path: impl AsRef<Path>) -> u64 {
    let path = path.as_ref();
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("cannot stat {path:?}: {e}"));
    if md.is_file() {
        return md.len();
    }
    if !md.is_dir() {
        return 0;
    }
    list_files(path)
        .iter()
        .map(|p| {
            fs::symlink_metadata(p)
                .unwrap_or_else(|e| panic!("cannot stat {p:?}: {e}"))
                .len()
        })
        .sum()
}

/// The number of a `disc-NNNN` directory. Panics on any other name.
pub fn disc_number(disc: &Path) -> u32 {
    disc.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("disc-"))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{disc:?} is not a disc-NNNN directory"))
}

/// Lowercase hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lowercase hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> String {
    sha256_hex(&fs::read(path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}")))
}

/// True when the tests run as root (uid 0), as CI does.
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `cp -a FROM TO`: a copy keeping modes, times and links (TO must not exist).
pub fn cp_a(from: &Path, to: &Path) {
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .stdin(Stdio::null()),
    );
}

/// Adds an entry to snapshot `snapshot` of a catalogue of the current format (a crafted or
/// damaged copy): `path` becomes one `paths` row below the root (so that any bytes, `/` and
/// `..` included, come back as the path) and a version valid from that snapshot on. `sha256`
/// is lowercase hex.
#[allow(clippy::too_many_arguments)]
pub fn add_entry(
    db: &rusqlite::Connection,
    snapshot: i64,
    path: &[u8],
    kind: &str,
    size: i64,
    mode: u32,
    sha256: Option<&str>,
    link_target: Option<&[u8]>,
) {
    let id: i64 = db
        .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM paths", [], |r| {
            r.get(0)
        })
        .unwrap();
    db.execute(
        "INSERT INTO paths (id, parent, name) VALUES (?1, 0, ?2)",
        rusqlite::params![id, path],
    )
    .unwrap();
    db.execute(
        "INSERT INTO versions (path_id, first_snapshot, kind, size, mtime_ns, mode, sha256,
                               link_target, inode, ctime_ns)
         VALUES (?1, ?2, ?3, ?4, 1700000000000000000, ?5, ?6, ?7, 0, 0)",
        rusqlite::params![
            id,
            snapshot,
            kind,
            size,
            mode,
            sha256.map(sha_blob),
            link_target
        ],
    )
    .unwrap();
}

/// A sha256 as the catalogue stores it (32 bytes) from its lowercase hex.
pub fn sha_blob(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
