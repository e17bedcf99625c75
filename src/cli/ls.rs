//! `butcher ls SOURCE [GLOB]...`: the paths of a snapshot with their type, size, mtime and the
//! discs that hold each file's content.

use std::io::Write;

use anyhow::Result;
use butcher::{Entry, Place};

use super::output::{json_numbers, show, to_stdout, utc, JsonObject};
use super::query::{open, select, SourceArgs};
use super::{ExitCode, Ui};

/// Arguments of `butcher ls`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One line per path, in byte order: TYPE SIZE MTIME (UTC) DISCS PATH, e.g.
  file            12345  2024-05-01 10:00:00  disc 0002  photos/a.jpg
DISCS lists the discs holding a file's content (`disc 0001,0002`), `-` for a directory or
symlink, `not stored` for a file whose content was never stored. A symlink's PATH is
followed by ` -> TARGET`. In paths, a backslash, a control character or a byte that is not
UTF-8 is written as \\\\, \\n, \\t, \\r or \\xNN.")]
pub struct Args {
    #[command(flatten)]
    src: SourceArgs,
    /// Snapshot id (see `butcher snapshots`); default the newest complete one.
    #[arg(long, value_name = "N")]
    snapshot: Option<i64>,
    /// List only paths matching these globs, with everything below them (as restore's --path).
    #[arg(value_name = "GLOB")]
    globs: Vec<String>,
}

/// Lists the paths of a snapshot in byte order.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let view = open(&a.src, ui)?;
    let snap = view.snapshot(a.snapshot)?;
    let entries = select(&view, &snap, &a.globs)?;
    // Each line is written as its place is looked up: a million paths are never held twice.
    let mut failed = None;
    to_stdout(|out| {
        let mut first = true;
        let written = view.each_place(&entries, |e, p| {
            if a.src.json {
                // As json_list writes it: "[", the items on lines of their own, "]".
                let sep = if first { "[\n" } else { ",\n" };
                first = false;
                write!(out, "{sep}{}", json(e, &p))
            } else {
                line(out, e, &p)
            }
        });
        match written {
            Ok(Ok(())) if a.src.json => writeln!(out, "{}", if first { "[]" } else { "\n]" }),
            Ok(io) => io,
            Err(e) => {
                failed = Some(e);
                Ok(())
            }
        }
    })?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(ExitCode::Ok),
    }
}

/// `file            12345  2024-05-01 10:00:00  disc 0002  photos/a.jpg`
fn line(out: &mut dyn Write, e: &Entry, p: &Place) -> std::io::Result<()> {
    let discs = match p {
        Place::None => "-".to_string(),
        Place::NotStored => "not stored".to_string(),
        Place::Discs(d) => {
            let d: Vec<String> = d.iter().map(|n| format!("{n:04}")).collect();
            format!("disc {}", d.join(","))
        }
    };
    let mut path = show(&e.path);
    if let Some(t) = &e.link_target {
        path = format!("{path} -> {}", show(t));
    }
    writeln!(
        out,
        "{:<7}  {:>12}  {}  {:<9}  {}",
        e.kind.as_str(),
        e.size,
        utc(e.mtime_ns),
        discs,
        path
    )
}

fn json(e: &Entry, p: &Place) -> String {
    let mut o = JsonObject::new()
        .path("path", &e.path)
        .str("kind", e.kind.as_str())
        .num("size", e.size)
        .str("mtime", &utc(e.mtime_ns))
        .num("mtime_ns", e.mtime_ns)
        .str("mode", &format!("{:04o}", e.mode));
    if let Some(sha) = &e.sha256 {
        o = o.str("sha256", &sha.hex());
    }
    if let Some(t) = &e.link_target {
        o = o.path("target", t);
    }
    match p {
        Place::None => {}
        Place::NotStored => o = o.num("stored", false).raw("discs", "[]"),
        Place::Discs(d) => o = o.num("stored", true).raw("discs", json_numbers(d)),
    }
    o.build()
}
