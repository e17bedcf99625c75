//! `butcher completions SHELL`: the shell completion script for butcher, made by clap_complete
//! from the same clap definition that parses the command line, so it never falls behind it.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use super::output::to_stdout;
use super::{ExitCode, Opts, Ui};

/// Arguments of `butcher completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Where to put the script so that the shell loads it:
  bash        butcher completions bash > ~/.local/share/bash-completion/completions/butcher
  zsh         butcher completions zsh > DIR/_butcher   (DIR a directory on $fpath)
  fish        butcher completions fish > ~/.config/fish/completions/butcher.fish
  elvish      butcher completions elvish >> ~/.config/elvish/rc.elv
  powershell  butcher completions powershell >> $PROFILE")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the completion script for the shell on stdout.
pub fn run(a: &Args, _ui: &Ui) -> Result<ExitCode> {
    let mut cmd = Opts::command();
    let name = cmd.get_name().to_string();
    // clap_complete panics when its writer fails, so the script is made in memory and
    // written by to_stdout, which ends quietly on a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, name, &mut script);
    to_stdout(|out| out.write_all(&script))?;
    Ok(ExitCode::Ok)
}
