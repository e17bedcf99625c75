//! `butcher where SOURCE GLOB...`: which discs to insert to restore the matching files, and
//! how much of them each disc holds.

use std::io::Write;

use anyhow::Result;
use butcher::{Snapshot, WhereAnswer};

use super::output::{json_list, json_numbers, show, to_stdout, JsonObject};
use super::query::{open, select, SourceArgs};
use super::{ExitCode, Ui};

/// Arguments of `butcher where`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One line per disc holding pieces of the matching files:
  disc 0001       3 files       4 pieces        262144 bytes
then, when none of them carries a catalogue copy that knows the snapshot (restore reads the
copy of the highest-numbered disc at hand), the first disc that does:
  disc 0004  catalogue copy that records snapshot 2
and last the discs to have at hand for `butcher restore --path GLOB`:
  insert discs: 0001 0004
With --lost N, disc N is taken as lost: the discs its parity disc needs to rebuild it stand in
for it (`disc 0003 lost: rebuilt from parity disc 0005 with discs 0001 0002 0004`); without
GLOB, only that is printed.
Exit code 3 when some matching file was never stored (each is named on stderr), or when no
parity disc protects disc N.")]
pub struct Args {
    #[command(flatten)]
    src: SourceArgs,
    /// Snapshot id (see `butcher snapshots`); default the newest complete one.
    #[arg(long, value_name = "N")]
    snapshot: Option<i64>,
    /// Disc N is lost: name the discs that rebuild it instead.
    #[arg(long, value_name = "N")]
    lost: Option<u32>,
    /// Paths to look up, with everything below them (as restore's --path).
    #[arg(value_name = "GLOB", required_unless_present = "lost")]
    globs: Vec<String>,
}

/// Prints the discs holding the selected files.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let view = open(&a.src, ui)?;
    let rebuild = match a.lost {
        Some(n) => match view.rebuild_needs(n)? {
            Some(needs) => Some((n, needs)),
            None => {
                eprintln!(
                    "butcher: no parity disc protects disc {n:04} (the set has none, its \
                     group is still open, or it is not a data disc of this set)"
                );
                return Ok(ExitCode::Incomplete);
            }
        },
        None => None,
    };
    if a.globs.is_empty() {
        let (n, needs) = rebuild.expect("--lost without GLOB");
        return lost_only(a.src.json, n, &needs);
    }
    let snap = view.snapshot(a.snapshot)?;
    let entries = select(&view, &snap, &a.globs)?;
    let mut answer = view.where_needed(&snap, &entries)?;
    if let Some((n, needs)) = &rebuild {
        answer.stand_in(*n, needs);
    }
    to_stdout(|out| {
        if a.src.json {
            writeln!(out, "{}", json(&snap, &answer))
        } else {
            if let Some((n, needs)) = &rebuild {
                writeln!(out, "{}", lost_line(*n, needs))?;
            }
            text(out, &snap, &answer)
        }
    })?;
    if answer.catalogue.is_none() {
        eprintln!(
            "butcher: warning: no disc holds a catalogue copy that records snapshot {} as \
             complete, so a restore from discs cannot offer it",
            snap.id.0
        );
    }
    for p in &answer.not_stored {
        eprintln!("butcher: not stored: {}", show(p));
    }
    Ok(if answer.not_stored.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Incomplete
    })
}

/// What rebuilding lost disc `n` needs (`needs`: the other data discs of its group, then its
/// parity disc).
fn lost_only(json: bool, n: u32, needs: &[u32]) -> Result<ExitCode> {
    to_stdout(|out| {
        if json {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .num("lost", n)
                    .num("parity_disc", needs.last().copied().unwrap_or(0))
                    .raw("insert", json_numbers(needs))
                    .build()
            )
        } else {
            writeln!(out, "{}", lost_line(n, needs))?;
            let all: Vec<String> = needs.iter().map(|d| format!("{d:04}")).collect();
            writeln!(out, "insert discs: {}", all.join(" "))
        }
    })?;
    Ok(ExitCode::Ok)
}

/// `disc 0003 lost: rebuilt from parity disc 0005 with discs 0001 0002 0004`.
fn lost_line(n: u32, needs: &[u32]) -> String {
    let (parity, others) = needs.split_last().expect("a parity disc");
    let others: Vec<String> = others.iter().map(|d| format!("{d:04}")).collect();
    format!(
        "disc {n:04} lost: rebuilt from parity disc {parity:04} with discs {}",
        others.join(" ")
    )
}

/// `disc 0002       3 files       4 pieces        262144 bytes`, then `insert discs: 0001 0002`.
fn text(out: &mut dyn Write, snap: &Snapshot, a: &WhereAnswer) -> std::io::Result<()> {
    for (n, u) in &a.discs {
        writeln!(
            out,
            "disc {n:04}  {:>6} files  {:>6} pieces  {:>12} bytes",
            u.files, u.pieces, u.bytes
        )?;
    }
    if let Some(c) = a.extra_catalogue_disc() {
        writeln!(
            out,
            "disc {c:04}  catalogue copy that records snapshot {}",
            snap.id.0
        )?;
    }
    let insert: Vec<String> = a.insert().iter().map(|n| format!("{n:04}")).collect();
    match insert.is_empty() {
        true => writeln!(out, "insert discs: none"),
        false => writeln!(out, "insert discs: {}", insert.join(" ")),
    }
}

fn json(snap: &Snapshot, a: &WhereAnswer) -> String {
    let discs = a.discs.iter().map(|(n, u)| {
        JsonObject::new()
            .num("disc", n)
            .num("files", u.files)
            .num("pieces", u.pieces)
            .num("bytes", u.bytes)
            .build()
    });
    let not_stored = a
        .not_stored
        .iter()
        .map(|p| JsonObject::new().path("path", p).build());
    JsonObject::new()
        .num("snapshot", snap.id.0)
        .raw("discs", json_list(discs))
        .raw(
            "catalogue_disc",
            a.catalogue.map_or("null".to_string(), |c| c.to_string()),
        )
        .raw("insert", json_numbers(&a.insert()))
        .raw("not_stored", json_list(not_stored))
        .build()
}
