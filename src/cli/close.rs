//! `butcher close DEST`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{disc_range, CloseOptions, DiscSize, Parity};

use super::backup::group_lines;
use super::passphrase::{resolve_writing, Ask, PassArgs, RecipientArgs};
use super::progress::CliProgress;
use super::{ExitCode, Ui};

/// Arguments of `butcher close`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup's DEST folder.
    dest: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    #[command(flatten)]
    rec: RecipientArgs,
    /// The set is not encrypted.
    #[arg(long, conflicts_with_all = ["passphrase", "passphrase_file", "recipients"])]
    no_encryption: bool,
    /// Capacity of one disc, as the backups gave it.
    #[arg(
        long,
        value_name = "SIZE",
        default_value_t = DiscSize::default(),
        value_parser = clap::value_parser!(DiscSize)
    )]
    disc_size: DiscSize,
    /// Recovery data on the parity disc, in percent (as `backup --parity`).
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = Parity::default(),
        value_parser = clap::value_parser!(Parity)
    )]
    parity: Parity,
    /// The working catalogue (default DEST/catalogue.db).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
}

/// Finishes the open disc and the open parity group now.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    // Said before the passphrase is asked for.
    butcher::require_backup(&a.dest, a.catalogue.as_deref())
        .with_context(|| format!("closing in {} failed", a.dest.display()))?;
    let keys = if a.no_encryption {
        None
    } else {
        Some(resolve_writing(&a.pass, &a.rec, Ask::Once)?)
    };
    let opts = CloseOptions {
        dest: a.dest.clone(),
        catalogue: a.catalogue.clone(),
        keys,
        disc_size: a.disc_size,
        parity: a.parity,
    };
    let progress = CliProgress::new(ui);
    let s = butcher::close(&opts, &progress)
        .with_context(|| format!("closing in {} failed", a.dest.display()))?;
    if let Some(n) = s.disc {
        progress.say(&format!(
            "butcher: finished {}: burn it when you like",
            butcher::disc_dir_name(n)
        ));
    }
    if !s.parity.is_empty() {
        progress.say(&format!("butcher: wrote parity {}", disc_range(&s.parity)));
    } else if s.groups.is_some() {
        progress.say("butcher: the open parity group is empty: no parity disc to write");
    }
    if let Some(g) = &s.groups {
        for line in group_lines(g) {
            progress.say(&line);
        }
    }
    Ok(ExitCode::Ok)
}
