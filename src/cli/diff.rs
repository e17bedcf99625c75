//! `butcher diff SOURCE A B`: what changed between snapshots A and B, one path per line, then a
//! summary on stderr.

use std::io::Write;

use anyhow::Result;
use butcher::{Change, Diff, DiffSummary, Item, Tally};

use super::output::{json_list, show, to_stdout, JsonObject};
use super::query::{open, SourceArgs};
use super::{human_bytes, ExitCode, Ui};

/// Arguments of `butcher diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One line per changed path, in byte order of the path (in B; in A when deleted):
  new       PATH        only in B, with content A did not have
  changed   PATH        other content, type or symlink target
  metadata  PATH        same content, other mode or mtime
  deleted   PATH        only in A
  renamed   OLD -> NEW  NEW has the content of OLD, which is not in B
  copied    FROM -> NEW NEW has content A already had at FROM
Renames and copies are matched by content; empty files are never matched. A summary line
goes to stderr.")]
pub struct Args {
    #[command(flatten)]
    src: SourceArgs,
    /// The older snapshot id (see `butcher snapshots`).
    #[arg(value_name = "A")]
    a: i64,
    /// The newer snapshot id.
    #[arg(value_name = "B")]
    b: i64,
}

/// Prints the changes from snapshot A to snapshot B.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let view = open(&a.src, ui)?;
    let (sa, sb) = (view.snapshot(Some(a.a))?, view.snapshot(Some(a.b))?);
    let d = view.diff(&sa, &sb)?;
    to_stdout(|out| {
        if a.src.json {
            writeln!(out, "{}", json(a.a, a.b, &d))
        } else {
            d.changes().try_for_each(|i| line(out, i))
        }
    })?;
    if !ui.quiet {
        eprintln!(
            "butcher: snapshot {} -> {}: {}",
            a.a,
            a.b,
            summary(&d.summary)
        );
    }
    Ok(ExitCode::Ok)
}

/// `renamed   docs/a.txt -> docs/b.txt`, `new       photos/c.jpg`
fn line(out: &mut dyn Write, i: &Item) -> std::io::Result<()> {
    match &i.change {
        Change::Renamed { from } | Change::Copied { from } => writeln!(
            out,
            "{:<8}  {} -> {}",
            i.change.tag(),
            show(from),
            show(&i.path)
        ),
        c => writeln!(out, "{:<8}  {}", c.tag(), show(&i.path)),
    }
}

fn summary(s: &DiffSummary) -> String {
    let parts: Vec<String> = s
        .tallies()
        .iter()
        .map(|(name, t)| format!("{} {name} ({})", t.count, human_bytes(t.bytes)))
        .collect();
    parts.join(", ")
}

fn json_item(i: &Item) -> String {
    let mut o = JsonObject::new()
        .str("change", i.change.tag())
        .path("path", &i.path)
        .str("kind", i.kind.as_str())
        .num("size", i.size);
    match &i.change {
        Change::Renamed { from } | Change::Copied { from } => o = o.path("from", from),
        Change::Changed(what) => o = o.str("what", what.as_str()),
        _ => {}
    }
    o.build()
}

fn json(a: i64, b: i64, d: &Diff) -> String {
    let tally = |t: Tally| {
        JsonObject::new()
            .num("count", t.count)
            .num("bytes", t.bytes)
            .build()
    };
    let summary = d
        .summary
        .tallies()
        .into_iter()
        .fold(JsonObject::new(), |o, (name, t)| o.raw(name, tally(t)))
        .build();
    JsonObject::new()
        .num("a", a)
        .num("b", b)
        .raw("changes", json_list(d.changes().map(json_item)))
        .raw("summary", summary)
        .build()
}
