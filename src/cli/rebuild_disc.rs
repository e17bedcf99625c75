//! `butcher rebuild-disc SOURCE N OUT_DIR`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{discs_encrypted, DiscPrompt, NoPrompt, RebuildDiscOptions};

use super::passphrase::{resolve_reading, IdentityArgs, PassArgs};
use super::progress::CliProgress;
use super::restore::TerminalPrompt;
use super::{ExitCode, Ui};

/// Arguments of `butcher rebuild-disc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder holding disc-NNNN directories, or one disc (directory or mount point): the
    /// disc whose catalogue copy knows the parity disc (the parity disc itself will do).
    source: PathBuf,
    /// The number of the lost data disc.
    number: u32,
    /// Where to write its directory; must not exist, be empty, or hold only what an
    /// interrupted rebuild of the disc left (taken up).
    out_dir: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    #[command(flatten)]
    ids: IdentityArgs,
    /// Another folder holding disc directories (repeatable).
    #[arg(long = "discs", value_name = "DIR")]
    discs: Vec<PathBuf>,
}

/// Rebuilds a lost data disc's directory from its parity disc and the rest of its group.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let mut roots = vec![a.source.clone()];
    roots.extend(a.discs.iter().cloned());
    let keys = match discs_encrypted(&roots)? {
        Some(true) => Some(resolve_reading(&a.pass, &a.ids)?),
        _ => None,
    };
    let opts = RebuildDiscOptions {
        source: a.source.clone(),
        more_discs: a.discs.clone(),
        number: a.number,
        out: a.out_dir.clone(),
        keys,
    };
    let progress = CliProgress::new(ui);
    let mut terminal = TerminalPrompt {
        source: a.source.clone(),
        progress: &progress,
    };
    let prompt: &mut dyn DiscPrompt = if std::io::stdin().is_terminal() {
        &mut terminal
    } else {
        &mut NoPrompt
    };
    let s = butcher::rebuild_disc(&opts, &progress, prompt)
        .with_context(|| format!("rebuilding disc {:04} failed", a.number))?;
    let others: Vec<String> = s.others.iter().map(|d| format!("{d:04}")).collect();
    progress.say(&format!(
        "butcher: rebuilt disc {:04} into {}: {} files from parity disc {:04} with discs {}, \
         {} recovery files written again; every file matches its SHA256SUMS",
        a.number,
        a.out_dir.display(),
        s.files.len(),
        s.parity_disc,
        others.join(" "),
        s.recovery.len()
    ));
    Ok(ExitCode::Ok)
}
