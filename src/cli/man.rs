//! `butcher man [COMMAND]`: the manual page of butcher, or of one of its commands, in roff,
//! made by clap_mangen from the clap definition that parses the command line.

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;

use super::output::to_stdout;
use super::{ExitCode, Opts, Ui};

/// Arguments of `butcher man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The page of butcher lists every command as butcher-COMMAND(1); `butcher man COMMAND`
prints that page. For man to find them:
  butcher man > ~/.local/share/man/man1/butcher.1
  butcher man backup > ~/.local/share/man/man1/butcher-backup.1   (and so on)")]
pub struct Args {
    /// The command whose page to print (e.g. `backup`); without it, the page of butcher.
    command: Option<String>,
}

/// Prints the page in roff on stdout.
pub fn run(a: &Args, _ui: &Ui) -> Result<ExitCode> {
    let cmd = match &a.command {
        None => root(),
        Some(name) => subcommand(name)?,
    };
    // A command's page would otherwise name its source "backup " (commands have no version).
    let page = Man::new(cmd).source(format!("butcher {}", env!("CARGO_PKG_VERSION")));
    let mut roff = Vec::new();
    page.render(&mut roff)
        .context("cannot render the manual page")?;
    to_stdout(|out| out.write_all(&th_first(roff)))?;
    Ok(ExitCode::Ok)
}

/// The page with its `.TH` line first, as man pages begin: clap_mangen puts the two lines
/// that define the apostrophe string before it, which work as well after it.
fn th_first(roff: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&roff);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if let Some(k) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let th = lines.remove(k);
        lines.insert(0, th);
    }
    lines.concat().into_bytes()
}

/// butcher's clap command, built, so that every command knows its full name
/// (`butcher-backup`) and the options it shares with butcher. `help` is left out: the pages
/// are the help.
fn root() -> clap::Command {
    let mut cmd = Opts::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The clap command of butcher's command `name`, or a usage error naming the commands.
fn subcommand(name: &str) -> Result<clap::Command> {
    let root = root();
    if let Some(sub) = root.find_subcommand(name) {
        return Ok(sub.clone());
    }
    let names: Vec<&str> = root.get_subcommands().map(|c| c.get_name()).collect();
    Err(butcher::Error::Usage(format!(
        "no command {name:?}; the commands are: {}",
        names.join(", ")
    ))
    .into())
}
