//! The command line: clap arguments, one file per subcommand, progress display, exit codes.

mod backup;
mod diff;
mod ls;
mod output;
mod passphrase;
mod progress;
mod query;
mod restore;
mod snapshots;
mod verify;
mod r#where;

use clap::{Parser, Subcommand};

/// How a run ended. Documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything done.
    Ok = 0,
    /// An error stopped the run.
    Error = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Finished, but some files were skipped or not restored.
    Incomplete = 3,
    /// Verification found damage.
    Damage = 4,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  everything done
  1  an error stopped the run (the message says what to do)
  2  the command line or what it names is wrong (e.g. TARGET not empty, DEST not a backup)
  3  finished, but some files were skipped (backup), not restored (restore)
     or never stored (where)
  4  verification found damage";

/// Chunked, compressed, encrypted cold-storage archives laid out as disc directories.
#[derive(Debug, Parser)]
#[command(name = "butcher", version, about, after_help = EXIT_CODES)]
pub struct Opts {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Back up SRC into disc directories in DEST.
    Backup(backup::Args),
    /// Restore a snapshot from disc directories into TARGET.
    Restore(restore::Args),
    /// Check discs: checksums and archives; with --deep every file's sha256.
    Verify(verify::Args),
    /// List the snapshots: id, date, status, files, bytes, new bytes, discs written.
    Snapshots(snapshots::Args),
    /// List the paths of a snapshot with the discs that hold each file.
    Ls(ls::Args),
    /// Show what changed between snapshots A and B.
    Diff(diff::Args),
    /// Tell which discs to insert to restore the files matching GLOB.
    Where(r#where::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let opts = match Opts::try_parse() {
        Ok(o) => o,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code as i32;
        }
    };
    let result = match &opts.command {
        Command::Backup(a) => backup::run(a, opts.quiet),
        Command::Restore(a) => restore::run(a, opts.quiet),
        Command::Verify(a) => verify::run(a, opts.quiet),
        Command::Snapshots(a) => snapshots::run(a, opts.quiet),
        Command::Ls(a) => ls::run(a, opts.quiet),
        Command::Diff(a) => diff::run(a, opts.quiet),
        Command::Where(a) => r#where::run(a, opts.quiet),
    };
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("butcher: {e:#}");
            exit_code_of(&e) as i32
        }
    }
}

fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(be) = cause.downcast_ref::<butcher::Error>() {
            return match be {
                butcher::Error::Usage(_) => ExitCode::Usage,
                butcher::Error::Damaged(_) => ExitCode::Damage,
                _ => ExitCode::Error,
            };
        }
    }
    ExitCode::Error
}

/// `1234567` -> `1.2 MB` (decimal units, as disc sizes are sold).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
