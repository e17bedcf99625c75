//! The command line: clap arguments, one file per subcommand, progress display, exit codes.

mod backup;
mod close;
mod completions;
mod diff;
mod interrupt;
mod ls;
mod man;
mod output;
mod passphrase;
mod progress;
mod query;
mod rebuild_disc;
mod repair;
mod restore;
mod snapshots;
mod status;
mod verify;
mod r#where;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// How a run ended. Documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything done.
    Ok = 0,
    /// An error stopped the run.
    Error = 1,
    /// The command line, what it names, or the passphrase or key given was wrong.
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
  2  the command line or what it names is wrong (e.g. SRC or SOURCE missing, DEST a
     file or not a backup, TARGET not empty), or the passphrase or key given does not
     open the backup set
  3  finished, but some files were skipped (backup), not restored (restore)
     or never stored (where); or restore found only an older snapshot than
     the newest the set has
  4  verification found damage";

/// Chunked, compressed, encrypted cold-storage archives laid out as disc directories.
#[derive(Debug, Parser)]
#[command(name = "butcher", version, about, after_help = EXIT_CODES)]
pub struct Opts {
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal (0 to 86400).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "BUTCHER_PROGRESS_SECONDS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    progress_seconds: Duration,
    #[command(subcommand)]
    command: Command,
}

/// How the commands talk to the user: the options every subcommand shares.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Print nothing but errors.
    pub quiet: bool,
    /// Seconds between plain progress lines.
    pub progress_every: Duration,
}

/// The longest interval between progress lines accepted: one day.
const MAX_PROGRESS_SECONDS: f64 = 86_400.0;

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=MAX_PROGRESS_SECONDS).contains(&secs) {
        return Err(format!(
            "{s} seconds is out of range (0 to {MAX_PROGRESS_SECONDS})"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Back up SRC into disc directories in DEST.
    Backup(backup::Args),
    /// Finish the open disc (left by --keep-open) and write the open group's parity disc now.
    Close(close::Args),
    /// Show where a backup set stands: snapshots, discs, what to do next.
    Status(status::Args),
    /// Restore a snapshot from disc directories into TARGET.
    Restore(restore::Args),
    /// Check discs: checksums and archives; with --deep every file's sha256.
    Verify(verify::Args),
    /// Repair a copy of a damaged disc directory in place with its recovery data.
    Repair(repair::Args),
    /// Rebuild lost data disc N from its parity disc and the rest of its group into OUT_DIR.
    RebuildDisc(rebuild_disc::Args),
    /// List the snapshots: id, date, status, files, bytes, new bytes, discs written.
    Snapshots(snapshots::Args),
    /// List the paths of a snapshot with the discs that hold each file.
    Ls(ls::Args),
    /// Show what changed between snapshots A and B.
    Diff(diff::Args),
    /// Tell which discs to insert to restore the files matching GLOB.
    Where(r#where::Args),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page of butcher, or of one of its commands, in roff.
    Man(man::Args),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let opts = match Opts::try_parse() {
        Ok(o) => o,
        Err(e) => return parse_error(e) as i32,
    };
    let ui = Ui {
        quiet: opts.quiet,
        progress_every: opts.progress_seconds,
    };
    interrupt::on_interrupt(on_interrupt_text(&opts.command));
    let result = match &opts.command {
        Command::Backup(a) => backup::run(a, &ui),
        Command::Close(a) => close::run(a, &ui),
        Command::Status(a) => status::run(a, &ui),
        Command::Restore(a) => restore::run(a, &ui),
        Command::Verify(a) => verify::run(a, &ui),
        Command::Repair(a) => repair::run(a, &ui),
        Command::RebuildDisc(a) => rebuild_disc::run(a, &ui),
        Command::Snapshots(a) => snapshots::run(a, &ui),
        Command::Ls(a) => ls::run(a, &ui),
        Command::Diff(a) => diff::run(a, &ui),
        Command::Where(a) => r#where::run(a, &ui),
        Command::Completions(a) => completions::run(a, &ui),
        Command::Man(a) => man::run(a, &ui),
    };
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("butcher: {e:#}");
            exit_code_of(&e) as i32
        }
    }
}

/// What an interrupt leaves of what `command` was writing, and what to do.
fn on_interrupt_text(command: &Command) -> &'static str {
    match command {
        Command::Backup(_) => {
            "DEST holds every archive and disc finished so far, each whole; run the same \
             backup again: it resumes where this one stopped (this snapshot stays incomplete \
             and shows as interrupted)"
        }
        Command::Close(_) => {
            "DEST holds what was finished, each file whole; run `butcher close` again to finish"
        }
        Command::RebuildDisc(_) => {
            "the disc is not finished in OUT_DIR (no SHA256SUMS); run the same command again: \
             it starts the rebuild over"
        }
        _ => "",
    }
}

/// Prints what clap found wrong (or the help it was asked for) and returns the exit code. A
/// value that does not parse, from the command line or the environment, is one line.
fn parse_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::Ok;
    }
    match e.kind() {
        clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("butcher: {}", first.trim_start_matches("error: "));
        }
        _ => {
            let _ = e.print();
        }
    }
    ExitCode::Usage
}

fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(be) = cause.downcast_ref::<butcher::Error>() {
            return match be {
                // A wrong passphrase or key is what the user gave being wrong, the same on
                // every command (backup checks it against the set, restore on a disc).
                butcher::Error::Usage(_)
                | butcher::Error::WrongKey(..)
                | butcher::Error::NotTheSetsKey(_) => ExitCode::Usage,
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
