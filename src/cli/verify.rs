//! `butcher verify SOURCE [--deep]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{discs_encrypted, verify, DiscReport, RecoveryState, VerifyOptions, VerifyReport};

use super::output::{json_list, json_strings, JsonObject};
use super::passphrase::{given_reading, resolve_reading, IdentityArgs, PassArgs};
use super::progress::CliProgress;
use super::{human_bytes, ExitCode, Ui};

/// Arguments of `butcher verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DEST (with its working catalogue), a folder of disc directories, or one disc.
    source: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    #[command(flatten)]
    ids: IdentityArgs,
    /// Also decrypt and unpack every archive and check every file's sha256 (needs the
    /// passphrase or secret key of an encrypted backup).
    #[arg(long)]
    deep: bool,
    /// When the disc is intact, record in the working catalogue of this DEST that it was read
    /// back from its medium today (`butcher status DEST` shows it).
    #[arg(long, value_name = "DEST")]
    record: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs the checks, prints a report per disc on stdout (or one JSON object), and exits 4 when
/// damage is found.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let encrypted = discs_encrypted(std::slice::from_ref(&a.source))? == Some(true);
    let keys = if a.deep && encrypted {
        Some(resolve_reading(&a.pass, &a.ids)?)
    } else {
        given_reading(&a.pass, &a.ids)?
    };
    let progress = CliProgress::new(ui);
    let opts = VerifyOptions {
        source: a.source.clone(),
        keys,
        deep: a.deep,
    };
    let report = verify(&opts, &progress)
        .with_context(|| format!("verify of {} failed", a.source.display()))?;
    if a.json {
        println!("{}", json(&report));
    } else {
        print_text(&report);
    }
    let depth = match (report.catalogue_checked, report.deep_checked) {
        (_, true) => "checksums, archives against the catalogue, and every file's sha256",
        (true, false) => "checksums and archives against the catalogue (add --deep to unpack)",
        (false, false) => {
            "checksums only (give the passphrase to check against the catalogue copy)"
        }
    };
    progress.say(&format!("butcher: verified {depth}"));
    if !report.all_well() {
        eprintln!("butcher: damage found (see above)");
        if let Some(dest) = &a.record {
            eprintln!(
                "butcher: nothing recorded in {}: the disc is not intact",
                dest.display()
            );
        }
        return Ok(ExitCode::Damage);
    }
    if let Some(dest) = &a.record {
        let recorded = butcher::record_read_back(dest, None, &report)
            .with_context(|| format!("cannot record the read-back in {}", dest.display()))?;
        progress.say(&format!(
            "butcher: recorded in {} that {} read back from media intact",
            dest.display(),
            butcher::disc_range(&recorded)
        ));
    }
    Ok(ExitCode::Ok)
}

/// The report per disc, then the catalogue's problems.
fn print_text(report: &VerifyReport) {
    for d in &report.discs {
        let name = d
            .number
            .map(butcher::disc_dir_name)
            .unwrap_or_else(|| d.path.display().to_string());
        if d.unfinished {
            println!(
                "{name}: unfinished (an interrupted run left it open; the next backup run \
                 finishes it)"
            );
        } else if d.problems.is_empty() {
            println!(
                "{name}: ok ({} files, {})",
                d.files_checked,
                human_bytes(d.bytes_checked)
            );
        } else {
            println!("{name}: DAMAGED{}", recovery_verdict(d.recovery.as_ref()));
            for p in &d.problems {
                println!("  {p}");
            }
        }
    }
    for p in &report.problems {
        println!("catalogue: {p}");
    }
}

/// The report as one JSON object: the same facts as the text, with the damaged files and
/// archives of each disc as lists.
fn json(report: &VerifyReport) -> String {
    let verdict = if report.all_well() { "ok" } else { "damaged" };
    JsonObject::new()
        .str("verdict", verdict)
        .num("catalogue_checked", report.catalogue_checked)
        .num("deep_checked", report.deep_checked)
        .raw("discs", json_list(report.discs.iter().map(disc_json)))
        .raw("problems", json_strings(&report.problems))
        .build()
}

/// One disc: `status` is `ok`, `unfinished`, `repairable` (damaged, and its recovery data
/// can repair it) or `damaged`.
fn disc_json(d: &DiscReport) -> String {
    let status = if d.unfinished {
        "unfinished"
    } else if d.problems.is_empty() {
        "ok"
    } else if d.recovery.as_ref().is_some_and(RecoveryState::repairable) {
        "repairable"
    } else {
        "damaged"
    };
    let files = d.files.iter().map(|f| {
        JsonObject::new()
            .str("name", &f.name)
            .str("problem", &f.line)
            .build()
    });
    let archives = d.archives.iter().map(|a| {
        let paths = a
            .files
            .iter()
            .map(|p| JsonObject::new().path("path", p).build());
        JsonObject::new()
            .str("name", &a.name)
            .raw("problems", json_strings(&a.problems))
            .raw("files", json_list(paths))
            .build()
    });
    JsonObject::new()
        .raw(
            "disc",
            d.number.map_or("null".to_string(), |n| n.to_string()),
        )
        .path("path", d.path.as_os_str().as_encoded_bytes())
        .str("status", status)
        .num("files_checked", d.files_checked)
        .num("bytes_checked", d.bytes_checked)
        .raw("problems", json_strings(&d.problems))
        .raw("damaged_files", json_list(files))
        .raw("damaged_archives", json_list(archives))
        .raw("recovery", recovery_json(d.recovery.as_ref()))
        .build()
}

/// What the recovery data of a damaged disc says, or `null` when it was not looked at.
fn recovery_json(state: Option<&RecoveryState>) -> String {
    let Some(state) = state else {
        return "null".to_string();
    };
    let o = JsonObject::new();
    let o = match state {
        RecoveryState::None => o.str("state", "none"),
        RecoveryState::Unreadable(why) => o.str("state", "unreadable").str("why", why),
        RecoveryState::Whole { intact, written } => o
            .str("state", "whole")
            .num("intact", intact)
            .num("written", written),
        RecoveryState::Damaged {
            needed,
            intact,
            written,
            files,
        } => o
            .str("state", "damaged")
            .num("needed", needed)
            .num("intact", intact)
            .num("written", written)
            .raw("files", json_strings(files)),
    };
    o.num("repairable", state.repairable()).build()
}

/// What a damaged disc's recovery data can do, after `DAMAGED`.
fn recovery_verdict(state: Option<&RecoveryState>) -> String {
    match state {
        None | Some(RecoveryState::None) => String::new(),
        Some(RecoveryState::Unreadable(why)) => {
            format!(", not repairable: its recovery files cannot be read ({why})")
        }
        Some(RecoveryState::Damaged { needed, intact, .. }) if needed <= intact => {
            format!(", repairable: {needed} of {intact} recovery slices needed")
        }
        Some(RecoveryState::Damaged { needed, intact, .. }) => {
            format!(", not repairable: {needed} slices damaged, {intact} recovery slices intact")
        }
        Some(RecoveryState::Whole { intact, written }) if intact < written => format!(
            ", repairable: the data is whole; {} of {written} recovery slices damaged or missing",
            written - intact
        ),
        Some(RecoveryState::Whole { .. }) => {
            ", repairable: the data is whole; only SHA256SUMS differs".to_string()
        }
    }
}
