//! What the query commands (`snapshots`, `ls`, `diff`, `where`) share: where the catalogue is
//! read from, which snapshot is meant, which paths the GLOBs select.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{CatalogueView, Entry, Error, Snapshot};

use super::output::show;
use super::passphrase::{resolve_reading, IdentityArgs, PassArgs};
use super::Ui;

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
    #[command(flatten)]
    pub ids: IdentityArgs,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Opens the catalogue `a` names for reading; says on stderr which file it read.
pub fn open(a: &SourceArgs, ui: &Ui) -> Result<CatalogueView> {
    let ask = || resolve_reading(&a.pass, &a.ids).map_err(|e| Error::Usage(format!("{e:#}")));
    let warn = |m: &str| eprintln!("butcher: warning: {m}");
    let view = CatalogueView::open(&a.source, a.catalogue.as_deref(), &ask, &warn)
        .with_context(|| format!("cannot read a catalogue from {}", a.source.display()))?;
    if !ui.quiet {
        eprintln!("butcher: reading the catalogue {}", view.path().display());
    }
    Ok(view)
}

/// The entries of `snap` that match one of `patterns` or lie below a match (all of them when
/// there is no pattern); a pattern that matches nothing is reported on stderr.
pub fn select(view: &CatalogueView, snap: &Snapshot, patterns: &[String]) -> Result<Vec<Entry>> {
    let (kept, unmatched) = view.select(snap, patterns)?;
    for p in unmatched {
        eprintln!(
            "butcher: warning: \"{}\" matches no path of snapshot {}",
            show(p.as_bytes()),
            snap.id.0
        );
    }
    Ok(kept)
}
