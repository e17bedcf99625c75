//! `butcher restore SOURCE TARGET`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal, Write};

use butcher::{
    discs_encrypted, DiscPrompt, NoPrompt, Progress, RestoreOptions, RestoreSummary, WhyLast,
};

use super::output::{json_list, json_numbers, json_str, json_strings, show, JsonObject};
use super::passphrase::{resolve_reading, IdentityArgs, PassArgs};
use super::progress::CliProgress;
use super::{human_bytes, ExitCode, Ui};

/// Arguments of `butcher restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder holding disc-NNNN directories, or one disc (directory or mount point).
    source: PathBuf,
    /// Where to restore; must not exist or be empty.
    target: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    #[command(flatten)]
    ids: IdentityArgs,
    /// Snapshot id to restore (see `butcher snapshots SOURCE`); default the newest complete one.
    #[arg(long, value_name = "N")]
    snapshot: Option<i64>,
    /// Restore only paths matching this glob, with everything below them (repeatable).
    #[arg(long = "path", value_name = "GLOB")]
    paths: Vec<String>,
    /// Another folder holding disc directories (repeatable).
    #[arg(long = "discs", value_name = "DIR")]
    discs: Vec<PathBuf>,
    /// Give owners back by their recorded user and group ids, not by name (as root).
    #[arg(long)]
    numeric_owner: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs a restore and prints its summary.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let mut roots = vec![a.source.clone()];
    roots.extend(a.discs.iter().cloned());
    let keys = match discs_encrypted(&roots)? {
        Some(true) => Some(resolve_reading(&a.pass, &a.ids)?),
        _ => None,
    };
    let opts = RestoreOptions {
        source: a.source.clone(),
        more_discs: a.discs.clone(),
        target: a.target.clone(),
        keys,
        snapshot: a.snapshot,
        paths: a.paths.clone(),
        numeric_owner: a.numeric_owner,
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
    let s = butcher::restore(&opts, &progress, prompt)
        .with_context(|| format!("restore into {} failed", a.target.display()))?;
    if a.json {
        println!("{}", json(&s));
    }
    progress.say(&format!(
        "butcher: restored snapshot {}: {} files ({}), {} directories, {} symlinks; every file's sha256 checked",
        s.snapshot, s.files, human_bytes(s.bytes), s.dirs, s.symlinks
    ));
    if let Some(why) = &s.older {
        eprintln!("butcher: WARNING: {why}");
    }
    if s.owners_kept {
        progress.note(
            "not running as root: restored paths belong to the user restoring them, not to \
             the owners recorded",
        );
    }
    if s.not_restored.is_empty()
        && s.metadata.is_empty()
        && s.missing_discs.is_empty()
        && s.older.is_none()
    {
        return Ok(ExitCode::Ok);
    }
    for (p, why) in &s.metadata {
        eprintln!(
            "butcher: restored without some metadata: {}: {why}",
            show(p)
        );
    }
    for d in &s.missing_discs {
        eprintln!("butcher: disc {d:04} was needed but not at hand");
    }
    for (p, why) in &s.not_restored {
        eprintln!("butcher: not restored: {}: {why}", show(p));
    }
    Ok(ExitCode::Incomplete)
}

/// The summary as one JSON object: what was restored, what was not and why.
fn json(s: &RestoreSummary) -> String {
    let with_reason = |list: &[(Vec<u8>, String)], key: &str| {
        json_list(
            list.iter()
                .map(|(p, why)| JsonObject::new().path("path", p).str(key, why).build()),
        )
    };
    JsonObject::new()
        .num("snapshot", s.snapshot)
        .num("files", s.files)
        .num("dirs", s.dirs)
        .num("symlinks", s.symlinks)
        .num("bytes", s.bytes)
        .raw("not_restored", with_reason(&s.not_restored, "why"))
        .raw("metadata", with_reason(&s.metadata, "what"))
        .raw("missing_discs", json_numbers(&s.missing_discs))
        .raw("damaged", json_strings(&s.damaged))
        .raw("repaired", json_strings(&s.repaired))
        .raw("older", s.older.as_deref().map_or("null".into(), json_str))
        .num("owners_kept", s.owners_kept)
        .build()
}

/// Asks on the terminal for a disc: Enter means "it is in the drive now" (SOURCE is read
/// again), a path names where it is, `skip` (or end of input) gives it up.
pub(super) struct TerminalPrompt<'p> {
    pub(super) source: PathBuf,
    pub(super) progress: &'p CliProgress,
}

impl TerminalPrompt<'_> {
    fn answer(&mut self, question: &str) -> Option<PathBuf> {
        let source = self.source.clone();
        self.progress
            .suspend(|| Self::read_answer(question, source))
    }

    fn read_answer(question: &str, source: PathBuf) -> Option<PathBuf> {
        eprint!("butcher: {question}, or type its path (skip: go on without it): ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => match line.trim() {
                "" => Some(source),
                "skip" => None,
                path => Some(PathBuf::from(path)),
            },
        }
    }
}

impl DiscPrompt for TerminalPrompt<'_> {
    fn interactive(&self) -> bool {
        true
    }

    fn ask(&mut self, number: u32) -> Option<PathBuf> {
        self.answer(&format!("insert disc {number:04} and press Enter"))
    }

    fn ask_last(&mut self, why: WhyLast) -> Option<PathBuf> {
        let question = match why {
            WhyLast::MidRun { seen } => format!(
                "disc {seen:04} was written in the middle of a backup run; \
                 insert the last disc of the backup (the highest number) and press Enter"
            ),
            WhyLast::MaybeNewer { seen, snapshot } => format!(
                "the catalogue copy of disc {seen:04} knows snapshots up to {snapshot}; discs \
                 with higher numbers may hold newer ones: insert the last disc of the backup \
                 (the highest number) and press Enter (just Enter if disc {seen:04} is the last)"
            ),
        };
        self.answer(&question)
    }
}
