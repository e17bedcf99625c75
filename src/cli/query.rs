//! What the query commands (`snapshots`, `ls`, `diff`, `where`) share: where the catalogue is
//! read from, which snapshot is meant, which paths the GLOBs select.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::catalogue::{Catalogue, Entry, Snapshot, SnapshotId};
use butcher::restore::source::open_any;
use butcher::restore::{globs, matches_or_below};
use butcher::Error;

use super::output::show;
use super::passphrase::{resolve, Ask, PassArgs};

/// Where to read the catalogue, and how to print.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// DEST (its working catalogue.db), a disc, a folder of disc-NNNN directories (the newest
    /// catalogue copy is read), or a catalogue file.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    /// Read this working catalogue (as given to `backup --catalogue`) instead of SOURCE's.
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Opens the catalogue `a` names for reading; says on stderr which file it read.
pub fn open(a: &SourceArgs, quiet: bool) -> Result<Catalogue> {
    let ask = || resolve(&a.pass, Ask::Once).map_err(|e| Error::Usage(format!("{e:#}")));
    let warn = |m: &str| eprintln!("butcher: warning: {m}");
    let (cat, from) = open_any(&a.source, a.catalogue.as_deref(), &ask, &warn)
        .with_context(|| format!("cannot read a catalogue from {}", a.source.display()))?;
    if !quiet {
        eprintln!("butcher: reading the catalogue {}", from.display());
    }
    Ok(cat)
}

/// Snapshot `wanted` (complete or not), or else the newest complete one.
pub fn snapshot(cat: &Catalogue, wanted: Option<i64>) -> Result<Snapshot> {
    let found = match wanted {
        Some(id) => cat.snapshot(SnapshotId(id))?.ok_or_else(|| {
            Error::Usage(format!(
                "no snapshot {id} in this catalogue (see `butcher snapshots`)"
            ))
        })?,
        None => cat
            .latest_complete()?
            .ok_or_else(|| Error::Usage("the catalogue holds no complete snapshot".into()))?,
    };
    Ok(found)
}

/// The entries of `snap` that match one of `patterns` or lie below a match (all of them when
/// there is no pattern). A pattern that matches nothing is reported; none matching anything is
/// a usage error.
pub fn select(cat: &Catalogue, snap: &Snapshot, patterns: &[String]) -> Result<Vec<Entry>> {
    let entries = cat.entries(snap.id)?;
    let Some(all) = globs(patterns)? else {
        return Ok(entries);
    };
    let kept: Vec<Entry> = entries
        .into_iter()
        .filter(|e| matches_or_below(&all, &e.path))
        .collect();
    if kept.is_empty() {
        return Err(Error::Usage(format!(
            "no path of snapshot {} matches {}",
            snap.id.0,
            patterns.join(" ")
        ))
        .into());
    }
    for p in patterns.iter().filter(|_| patterns.len() > 1) {
        let one = globs(std::slice::from_ref(p))?.expect("invariant: one pattern given");
        if !kept.iter().any(|e| matches_or_below(&one, &e.path)) {
            eprintln!(
                "butcher: warning: \"{}\" matches no path of snapshot {}",
                show(p.as_bytes()),
                snap.id.0
            );
        }
    }
    Ok(kept)
}
