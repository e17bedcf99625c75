//! `butcher restore SOURCE TARGET`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::restore::{source, NoPrompt};
use butcher::RestoreOptions;

use super::passphrase::{resolve, Ask, PassArgs};
use super::progress::CliProgress;
use super::{human_bytes, ExitCode};

/// Arguments of `butcher restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder holding disc-NNNN directories, or one disc (directory or mount point).
    source: PathBuf,
    /// Where to restore; must not exist or be empty.
    target: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    /// Snapshot id to restore (see `butcher snapshots SOURCE`); default the newest complete one.
    #[arg(long, value_name = "N")]
    snapshot: Option<i64>,
    /// Restore only paths matching this glob, with everything below them (repeatable).
    #[arg(long = "path", value_name = "GLOB")]
    paths: Vec<String>,
    /// Another folder holding disc directories (repeatable).
    #[arg(long = "discs", value_name = "DIR")]
    discs: Vec<PathBuf>,
}

/// Runs a restore and prints its summary.
pub fn run(a: &Args, quiet: bool) -> Result<ExitCode> {
    let mut roots = vec![a.source.clone()];
    roots.extend(a.discs.iter().cloned());
    let dirs = source::disc_dirs(&roots)?;
    let passphrase = match source::encrypted(&dirs) {
        Some(true) => Some(resolve(&a.pass, Ask::Once)?),
        _ => None,
    };
    let opts = RestoreOptions {
        source: a.source.clone(),
        more_discs: a.discs.clone(),
        target: a.target.clone(),
        passphrase,
        snapshot: a.snapshot,
        paths: a.paths.clone(),
    };
    let progress = CliProgress::new(quiet);
    let s = butcher::restore(&opts, &progress, &mut NoPrompt)
        .with_context(|| format!("restore into {} failed", a.target.display()))?;
    progress.say(&format!(
        "butcher: restored snapshot {}: {} files ({}), {} directories, {} symlinks; every file's sha256 checked",
        s.snapshot, s.files, human_bytes(s.bytes), s.dirs, s.symlinks
    ));
    if s.not_restored.is_empty() && s.missing_discs.is_empty() {
        return Ok(ExitCode::Ok);
    }
    for d in &s.missing_discs {
        eprintln!("butcher: disc {d:04} was needed but not at hand");
    }
    for (p, why) in &s.not_restored {
        eprintln!("butcher: not restored: {p}: {why}");
    }
    Ok(ExitCode::Incomplete)
}
