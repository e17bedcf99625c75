//! `butcher backup SRC DEST`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::pack::PackOptions;
use butcher::{BackupOptions, Compression, DiscSize};

use super::passphrase::{resolve, Ask, PassArgs};
use super::progress::CliProgress;
use super::{human_bytes, ExitCode};

/// Arguments of `butcher backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory tree to back up.
    src: PathBuf,
    /// The folder for the working catalogue and the disc directories (disc-0001, ...).
    dest: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    /// Write archives and catalogue copies unencrypted.
    #[arg(long, conflicts_with_all = ["passphrase", "passphrase_file"])]
    no_encryption: bool,
    /// Input bytes per archive; larger files are split into pieces (K/M/G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    archive_size: u64,
    /// Capacity of one disc: bd25, bd50, bd100, dvd, dvd-dl, or bytes with K/M/G suffixes.
    #[arg(long, value_name = "SIZE", default_value = "bd25")]
    disc_size: String,
    /// Compression of the archives; auto stores content that does not compress (photos,
    /// videos, zip files) in plain .tar archives and the rest in .tar.bz2 archives.
    #[arg(long, value_name = "C", default_value = "bzip2", value_parser = ["bzip2", "zstd", "none", "auto"])]
    compression: String,
    /// The working catalogue (default DEST/catalogue.db).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    butcher::disc::size::parse_bytes(s).map_err(|e| e.to_string())
}

fn options(a: &Args) -> Result<BackupOptions> {
    let disc_size: DiscSize = a.disc_size.parse()?;
    let compression: Compression = a.compression.parse()?;
    let catalogue = a
        .catalogue
        .clone()
        .unwrap_or_else(|| a.dest.join(butcher::backup::WORKING_CATALOGUE));
    let passphrase = if a.no_encryption {
        None
    } else {
        let ask = if catalogue.exists() {
            Ask::Once
        } else {
            Ask::Twice
        };
        Some(resolve(&a.pass, ask)?)
    };
    Ok(BackupOptions {
        source: a.src.clone(),
        dest: a.dest.clone(),
        catalogue: a.catalogue.clone(),
        passphrase,
        pack: PackOptions {
            archive_size: a.archive_size,
            compression,
        },
        disc_size,
        ingest: Default::default(),
    })
}

/// Runs a backup and prints its summary.
pub fn run(a: &Args, quiet: bool) -> Result<ExitCode> {
    let opts = options(a)?;
    let progress = CliProgress::new(quiet);
    let s = butcher::backup(&opts, &progress).with_context(|| {
        format!(
            "backup of {} into {} failed",
            a.src.display(),
            a.dest.display()
        )
    })?;
    let secs = s.duration.as_secs_f64().max(0.001);
    let discs = match (s.discs.first(), s.discs.last()) {
        (Some(f), Some(l)) if f == l => format!("disc-{f:04}"),
        (Some(f), Some(l)) => format!("disc-{f:04} to disc-{l:04}"),
        _ => "no new disc".to_string(),
    };
    progress.say(&format!(
        "butcher: snapshot {}: {} files, {} read, {} unchanged files not read, {} written in {} archives, {discs}, {:.1}s, {}/s",
        s.snapshot,
        s.ingest.files,
        human_bytes(s.ingest.hashed_bytes),
        s.ingest.unchanged_files,
        human_bytes(s.pack.output_bytes),
        s.pack.archives,
        secs,
        human_bytes((s.ingest.bytes as f64 / secs) as u64),
    ));
    if s.pack.archives == 0 {
        progress.say("butcher: nothing new to store: no archive and no disc written");
    }
    if s.incomplete() {
        for m in s.ingest.skipped.iter().chain(&s.pack.changed) {
            eprintln!("butcher: not backed up: {m}");
        }
        return Ok(ExitCode::Incomplete);
    }
    Ok(ExitCode::Ok)
}
