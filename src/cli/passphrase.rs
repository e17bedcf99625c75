//! Where the passphrase comes from: `--passphrase`, `--passphrase-file`, `BUTCHER_PASSPHRASE`,
//! or a prompt without echo on a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use butcher::Passphrase;

/// Passphrase options shared by every subcommand that reads or writes archives.
#[derive(Debug, clap::Args)]
pub struct PassArgs {
    /// The passphrase. Visible to other users in the process list: prefer --passphrase-file,
    /// the BUTCHER_PASSPHRASE environment variable, or being asked on a terminal.
    #[arg(long, value_name = "P", conflicts_with = "passphrase_file")]
    pub passphrase: Option<String>,
    /// Read the passphrase from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The passphrase from the environment variable BUTCHER_PASSPHRASE. --passphrase and
    /// --passphrase-file come first, so it has a flag of its own (hidden) rather than being
    /// --passphrase's default, which clap would report as a conflict with --passphrase-file.
    #[arg(
        long = "passphrase-from-env",
        hide = true,
        env = "BUTCHER_PASSPHRASE",
        hide_env_values = true,
        value_name = "P"
    )]
    pub passphrase_env: Option<String>,
}

/// How to ask when nothing else gives a passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Ask once.
    Once,
    /// Ask twice and compare (a new backup set).
    Twice,
}

/// The passphrase from the flag, the file or the environment, without asking.
pub fn resolve_given(args: &PassArgs) -> Result<Option<Passphrase>> {
    if let Some(p) = &args.passphrase {
        return Ok(Some(Passphrase::new(p.clone())?));
    }
    if let Some(f) = &args.passphrase_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the passphrase file {}", f.display()))?;
        let line = text.lines().next().unwrap_or("");
        return Passphrase::new(line)
            .map(Some)
            .with_context(|| format!("in {}", f.display()));
    }
    if let Some(p) = &args.passphrase_env {
        return Passphrase::new(p.clone())
            .map(Some)
            .context("BUTCHER_PASSPHRASE");
    }
    Ok(None)
}

/// Resolves the passphrase: flag, file, environment, then prompt on a terminal.
pub fn resolve(args: &PassArgs, ask: Ask) -> Result<Passphrase> {
    if let Some(p) = resolve_given(args)? {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "no passphrase: give --passphrase-file FILE, set BUTCHER_PASSPHRASE, \
             run on a terminal to be asked, or use --no-encryption for a backup"
        );
    }
    let first = rpassword::prompt_password("Passphrase: ").context("cannot read the passphrase")?;
    if ask == Ask::Twice {
        let again = rpassword::prompt_password("Passphrase again: ")
            .context("cannot read the passphrase")?;
        if again != first {
            bail!("the two passphrases differ; nothing was written");
        }
    }
    Ok(Passphrase::new(first)?)
}
