//! `butcher snapshots SOURCE`: one line per snapshot of the catalogue.

use std::io::Write;

use anyhow::Result;
use butcher::{Snapshot, SnapshotRow};

use super::output::{disc_ranges, json_list, json_numbers, to_stdout, utc, JsonObject};
use super::query::{open, SourceArgs};
use super::{ExitCode, Ui};

/// Arguments of `butcher snapshots`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A header line, then one line per snapshot, oldest first: ID, DATE (UTC, when the run
started), STATUS (`complete`; `interrupted` for a run that stopped before it was complete,
killed or stopped by an error; `running` for a run under way, or killed and not yet seen
by a later run), FILES, BYTES (of those files), NEW BYTES (content the run stored), DISCS
(the discs the run wrote archives to, e.g. `0003-0004`, or `-`).")]
pub struct Args {
    #[command(flatten)]
    src: SourceArgs,
}

/// Lists the snapshots, oldest first.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let rows = open(&a.src, ui)?.snapshots()?;
    to_stdout(|out| {
        if a.src.json {
            writeln!(out, "{}", json_list(rows.iter().map(json)))
        } else {
            text(out, &rows)
        }
    })?;
    Ok(ExitCode::Ok)
}

fn status(s: &Snapshot) -> &'static str {
    if s.complete {
        "complete"
    } else if s.interrupted {
        "interrupted"
    } else {
        "running"
    }
}

fn text(out: &mut dyn Write, rows: &[SnapshotRow]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>4}  {:<19}  {:<11}  {:>9}  {:>15}  {:>15}  DISCS",
        "ID", "DATE (UTC)", "STATUS", "FILES", "BYTES", "NEW BYTES"
    )?;
    for r in rows {
        let s = &r.snapshot;
        writeln!(
            out,
            "{:>4}  {}  {:<11}  {:>9}  {:>15}  {:>15}  {}",
            s.id.0,
            utc(s.started_ns),
            status(s),
            s.files,
            s.bytes,
            s.new_bytes,
            disc_ranges(&r.discs)
        )?;
    }
    Ok(())
}

fn json(r: &SnapshotRow) -> String {
    let s = &r.snapshot;
    JsonObject::new()
        .num("id", s.id.0)
        .str("date", &utc(s.started_ns))
        .num("started_ns", s.started_ns)
        .raw(
            "finished_ns",
            s.finished_ns.map_or("null".to_string(), |n| n.to_string()),
        )
        .str("status", status(s))
        .path("source", &s.source)
        .num("files", s.files)
        .num("bytes", s.bytes)
        .num("new_bytes", s.new_bytes)
        .num("archives", r.archives)
        .raw("discs", json_numbers(&r.discs))
        .build()
}
