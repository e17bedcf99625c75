//! `butcher repair DISC_DIR`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::repair_disc;

use super::progress::CliProgress;
use super::{ExitCode, Ui};

/// Arguments of `butcher repair`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A copy of one disc's directory (not the disc itself: the files are rewritten in place).
    disc_dir: PathBuf,
}

/// Repairs the disc directory with its recovery data; exit 0 when it is whole afterwards, 4
/// when the damage is beyond the recovery data.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let name = a.disc_dir.display().to_string();
    let progress = CliProgress::new(ui);
    let summary = match repair_disc(&a.disc_dir, &progress) {
        Ok(s) => s,
        // The library's message names the disc directory already.
        Err(butcher::Error::Damaged(why)) => {
            eprintln!("butcher: {why}");
            eprintln!(
                "butcher: {name} is not repaired; restore still gets back every file not in \
                 its damaged archives"
            );
            return Ok(ExitCode::Damage);
        }
        Err(e) => return Err(e).with_context(|| format!("repair of {name} failed")),
    };
    let say = |m: String| {
        if !ui.quiet {
            eprintln!("butcher: {m}");
        }
    };
    if summary.rebuilt.is_empty() {
        say(format!("{name}: no damaged data"));
    } else {
        say(format!(
            "{name}: rebuilt {} from {} recovery slices",
            summary.rebuilt.join(", "),
            summary.slices
        ));
    }
    if summary.recovery_rewritten {
        say(format!("{name}: recovery files written again"));
    }
    if summary.sums_rewritten {
        say(format!("{name}: SHA256SUMS written again"));
    }
    if summary.still_damaged.is_empty() {
        say(format!("{name}: whole (every file matches SHA256SUMS)"));
        Ok(ExitCode::Ok)
    } else {
        println!("{name}: DAMAGED after repair");
        for p in &summary.still_damaged {
            println!("  {p}");
        }
        Ok(ExitCode::Damage)
    }
}
