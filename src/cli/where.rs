//! `butcher where SOURCE GLOB...`: which discs to insert to restore the matching files, and
//! how much of them each disc holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;

use anyhow::Result;
use butcher::catalogue::{Catalogue, Entry, Kind, PiecePlace, Snapshot};

use super::output::{json_list, json_numbers, show, to_stdout, JsonObject};
use super::query::{open, select, snapshot, SourceArgs};
use super::ExitCode;

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

/// What one disc holds of the selected files.
#[derive(Debug, Default)]
struct DiscUse {
    /// Selected file paths with at least one piece on it.
    files: u64,
    /// Distinct pieces on it (a content shared by several paths counts once).
    pieces: u64,
    /// Bytes of those pieces.
    bytes: u64,
}

/// The answer: discs with what they hold, the disc whose catalogue copy restore needs, and
/// files that cannot be restored from any disc.
struct Answer {
    discs: BTreeMap<u32, DiscUse>,
    catalogue: Option<u32>,
    not_stored: Vec<Vec<u8>>,
}

impl Answer {
    /// The discs to insert: those holding pieces, and the catalogue disc if it is newer.
    fn insert(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.discs.keys().copied().collect();
        if let Some(c) = self.extra_catalogue_disc() {
            v.push(c);
        }
        v
    }

    /// The catalogue disc, when none of the data discs is as new as it.
    fn extra_catalogue_disc(&self) -> Option<u32> {
        let c = self.catalogue?;
        let newest = self.discs.keys().next_back().copied();
        (newest < Some(c)).then_some(c)
    }
}

/// Prints the discs holding the selected files.
pub fn run(a: &Args, quiet: bool) -> Result<ExitCode> {
    let cat = open(&a.src, quiet)?;
    let snap = snapshot(&cat, a.snapshot)?;
    let entries = select(&cat, &snap, &a.globs)?;
    let answer = answer(&cat, &snap, &entries)?;
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

fn answer(cat: &Catalogue, snap: &Snapshot, entries: &[Entry]) -> Result<Answer> {
    let mut discs: BTreeMap<u32, DiscUse> = BTreeMap::new();
    let mut places: HashMap<&str, Vec<PiecePlace>> = HashMap::new();
    let mut counted: HashSet<(&str, u32)> = HashSet::new();
    let mut not_stored = Vec::new();
    for e in entries.iter().filter(|e| e.kind == Kind::File) {
        let Some(sha) = e.sha256.as_deref() else {
            continue;
        };
        if !places.contains_key(sha) {
            let found = match cat.content_complete(sha)? {
                true => cat.piece_places(sha)?,
                false => Vec::new(),
            };
            places.insert(sha, found);
        }
        let pieces = &places[sha];
        if pieces.is_empty() {
            not_stored.push(e.path.clone());
            continue;
        }
        let mut on: BTreeSet<u32> = BTreeSet::new();
        for p in pieces {
            on.insert(p.disc);
            if counted.insert((sha, p.piece)) {
                let u = discs.entry(p.disc).or_default();
                u.pieces += 1;
                u.bytes += p.length;
            }
        }
        for d in on {
            discs.entry(d).or_default().files += 1;
        }
    }
    let catalogue = match snap.complete {
        true => cat.first_copy_with(snap.id)?,
        false => None,
    };
    Ok(Answer {
        discs,
        catalogue,
        not_stored,
    })
}

/// `disc 0002       3 files       4 pieces        262144 bytes`, then `insert discs: 0001 0002`.
fn text(out: &mut dyn Write, snap: &Snapshot, a: &Answer) -> std::io::Result<()> {
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

fn json(snap: &Snapshot, a: &Answer) -> String {
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
