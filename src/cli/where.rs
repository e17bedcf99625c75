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
Exit code 3 when some matching file was never stored (each is named on stderr).")]
pub struct Args {
    #[command(flatten)]
    src: SourceArgs,
    /// Snapshot id (see `butcher snapshots`); default the newest complete one.
    #[arg(long, value_name = "N")]
    snapshot: Option<i64>,
    /// Paths to look up, with everything below them (as restore's --path).
    #[arg(value_name = "GLOB", required = true)]
    globs: Vec<String>,
}

/// Prints the discs holding the selected files.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let view = open(&a.src, ui)?;
    let snap = view.snapshot(a.snapshot)?;
    let entries = select(&view, &snap, &a.globs)?;
    let answer = view.where_needed(&snap, &entries)?;
    to_stdout(|out| {
        if a.src.json {
            writeln!(out, "{}", json(&snap, &answer))
        } else {
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
