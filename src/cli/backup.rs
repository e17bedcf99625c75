//! `butcher backup SRC DEST`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{
    disc_dir_name, disc_range, BackupOptions, BackupSummary, ByteSize, Compression, DiscSize,
    GroupStatus, IngestOptions, PackOptions, Parity,
};

use super::output::{json_numbers, JsonObject};
use super::passphrase::{resolve_writing, Ask, PassArgs, RecipientArgs};
use super::progress::CliProgress;
use super::{human_bytes, ExitCode, Ui};

/// Arguments of `butcher backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory tree to back up.
    src: PathBuf,
    /// The folder for the working catalogue and the disc directories (disc-0001, ...).
    dest: PathBuf,
    #[command(flatten)]
    pass: PassArgs,
    #[command(flatten)]
    rec: RecipientArgs,
    /// Leave the run's last disc open (no catalogue copy or SHA256SUMS yet) for the next run
    /// to go on filling; `butcher close DEST` finishes it.
    #[arg(long)]
    keep_open: bool,
    /// Write archives and catalogue copies unencrypted.
    #[arg(long, conflicts_with_all = ["passphrase", "passphrase_file", "recipients"])]
    no_encryption: bool,
    /// Input bytes per archive; larger files are split into pieces (K/M/G suffixes).
    #[arg(
        long,
        value_name = "SIZE",
        default_value_t = ByteSize(PackOptions::DEFAULT_ARCHIVE_BYTES),
        value_parser = clap::value_parser!(ByteSize)
    )]
    archive_size: ByteSize,
    /// Capacity of one disc: bd25, bd50, bd100, dvd, dvd-dl, or bytes with K/M/G suffixes.
    #[arg(
        long,
        value_name = "SIZE",
        default_value_t = DiscSize::default(),
        value_parser = clap::value_parser!(DiscSize)
    )]
    disc_size: DiscSize,
    /// Recovery data on every disc (PAR2), as a percentage of the data it protects: 0 to
    /// 100, 0 for none. A disc damaged within it is repaired by verify's advice, `butcher
    /// repair`, `butcher restore` or par2cmdline.
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = Parity::default(),
        value_parser = clap::value_parser!(Parity)
    )]
    parity: Parity,
    /// Write a parity disc after every K data discs (K at least 2), from which any one lost
    /// disc of the group is rebuilt. The set keeps the K of its first run; 0 (the default
    /// of a new set) for none.
    #[arg(long, value_name = "K")]
    parity_discs: Option<u32>,
    /// Compression of the archives; auto (the default) samples each file and stores content
    /// that does not compress (photos, videos, zip files) in plain .tar archives and the rest
    /// in .tar.bz2 archives.
    #[arg(
        long,
        value_name = "C",
        default_value_t = Compression::default(),
        value_parser = parse_compression()
    )]
    compression: Compression,
    /// The working catalogue (default DEST/catalogue.db).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Leave out paths matching this pattern (gitignore syntax, relative to SRC; repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Leave out paths matching the patterns in this file (gitignore syntax; repeatable).
    #[arg(long, value_name = "FILE")]
    exclude_from: Vec<PathBuf>,
    /// Read every file, even those whose size, mtime, inode and ctime are unchanged, and report
    /// files whose content changed while size and mtime did not.
    #[arg(long)]
    rehash: bool,
    /// Show what the run would do and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// The compression choices, listed in `--help` and parsed into [`Compression`].
fn parse_compression() -> impl clap::builder::TypedValueParser<Value = Compression> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Compression::ALL.map(|c| c.as_str()))
        .try_map(|s| s.parse::<Compression>())
}

fn options(a: &Args) -> Result<BackupOptions> {
    let catalogue = butcher::working_catalogue(&a.dest, a.catalogue.as_deref());
    let keys = if a.no_encryption {
        None
    } else {
        let ask = if catalogue.exists() {
            Ask::Once
        } else {
            Ask::Twice
        };
        Some(resolve_writing(&a.pass, &a.rec, ask)?)
    };
    Ok(BackupOptions {
        source: a.src.clone(),
        dest: a.dest.clone(),
        catalogue: a.catalogue.clone(),
        keys,
        change_recipients: a.rec.change_recipients,
        pack: PackOptions {
            archive_size: a.archive_size.0,
            compression: a.compression,
        },
        disc_size: a.disc_size,
        parity: a.parity,
        parity_discs: a.parity_discs,
        ingest: IngestOptions {
            rehash: a.rehash,
            exclude: a.exclude.clone(),
            exclude_from: a.exclude_from.clone(),
        },
        dry_run: a.dry_run,
        keep_open: a.keep_open,
    })
}

/// Runs a backup and prints its summary.
pub fn run(a: &Args, ui: &Ui) -> Result<ExitCode> {
    let opts = options(a)?;
    let progress = CliProgress::new(ui);
    let s = butcher::backup(&opts, &progress).with_context(|| {
        format!(
            "backup of {} into {} failed",
            a.src.display(),
            a.dest.display()
        )
    })?;
    if a.json {
        println!("{}", json(&s));
    }
    for line in summary_lines(&s) {
        progress.say(&line);
    }
    for m in &s.ingest.silent_changes {
        eprintln!("butcher: WARNING: {m}");
    }
    if s.incomplete() {
        for m in s.ingest.skipped.iter().chain(&s.pack.changed) {
            eprintln!("butcher: not backed up: {m}");
        }
        return Ok(ExitCode::Incomplete);
    }
    Ok(ExitCode::Ok)
}

fn summary_lines(s: &BackupSummary) -> Vec<String> {
    let secs = s.duration.as_secs_f64().max(0.001);
    let i = &s.ingest;
    let mut out = vec![format!(
        "butcher: {}snapshot {}: {} files ({}), {} read and hashed, {} unchanged files ({}) not read",
        if s.dry_run { "dry run, " } else { "" },
        s.snapshot,
        i.files,
        human_bytes(i.bytes),
        human_bytes(i.hashed_bytes),
        i.unchanged_files,
        human_bytes(i.unchanged_bytes),
    )];
    if let Some((prev, c)) = &s.changes {
        let parts: Vec<String> = c
            .tallies()
            .iter()
            .map(|(name, t)| {
                let words = match *name {
                    "metadata" => "metadata only",
                    "renamed" => "renamed or moved",
                    other => other,
                };
                format!("{} {words}", t.count)
            })
            .collect();
        out.push(format!(
            "butcher: since snapshot {prev}: {}",
            parts.join(", ")
        ));
    }
    if s.dry_run {
        out.push(format!(
            "butcher: would store {} of new content (before compression) in about {} archives on {}; nothing written",
            human_bytes(s.pack.input_bytes),
            s.pack.archives,
            disc_range(&s.discs)
        ));
    } else if s.pack.archives == 0 {
        out.push("butcher: nothing new to store: no archive and no disc written".to_string());
    } else {
        out.push(format!(
            "butcher: stored {} of new content as {} in {} archives, {}; {:.1}s, {}/s",
            human_bytes(s.pack.input_bytes),
            human_bytes(s.pack.output_bytes),
            s.pack.archives,
            disc_range(&s.discs),
            secs,
            human_bytes((i.bytes as f64 / secs) as u64),
        ));
    }
    if let Some(g) = &s.groups {
        out.extend(group_lines(g));
    }
    out
}

/// Which discs parity discs protect, and which group is still open.
pub(super) fn group_lines(g: &GroupStatus) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((p, first, last)) = g.parity_discs.last() {
        let n = g.parity_discs.len();
        out.push(format!(
            "butcher: {n} parity disc{}, the last {} for discs {first:04}-{last:04}; every data disc up to {last:04} is protected",
            if n == 1 { "" } else { "s" },
            disc_dir_name(*p)
        ));
    }
    if g.open.is_empty() {
        out.push(format!(
            "butcher: no open parity group; the next {} data discs start one",
            g.size
        ));
    } else {
        out.push(format!(
            "butcher: open parity group: {} of {} data discs ({}), not yet protected; \
             its parity waits in DEST (butcher close DEST writes it now)",
            g.open.len(),
            g.size,
            disc_range(&g.open)
        ));
    }
    out
}

fn json(s: &BackupSummary) -> String {
    let i = &s.ingest;
    let discs: Vec<String> = s.discs.iter().map(|d| d.to_string()).collect();
    format!(
        "{{\"snapshot\":{},\"dry_run\":{},\"files\":{},\"dirs\":{},\"symlinks\":{},\"bytes\":{},\
         \"hashed_files\":{},\"hashed_bytes\":{},\"unchanged_files\":{},\"unchanged_bytes\":{},\
         \"skipped\":{},\"silent_changes\":{},\"archives\":{},\"new_bytes\":{},\
         \"written_bytes\":{},\"discs\":[{}],\"changes\":{},\"parity_discs\":{},\
         \"seconds\":{:.3}}}",
        s.snapshot,
        s.dry_run,
        i.files,
        i.dirs,
        i.symlinks,
        i.bytes,
        i.hashed_files,
        i.hashed_bytes,
        i.unchanged_files,
        i.unchanged_bytes,
        i.skipped.len() + s.pack.changed.len(),
        i.silent_changes.len(),
        s.pack.archives,
        s.pack.input_bytes,
        s.pack.output_bytes,
        discs.join(","),
        changes_json(s),
        groups_json(s),
        s.duration.as_secs_f64()
    )
}

/// The set's parity discs as a JSON object (`k`, `groups` as [parity disc, first, last],
/// `open`), or `null` for a set without.
fn groups_json(s: &BackupSummary) -> String {
    let Some(g) = &s.groups else {
        return "null".to_string();
    };
    let groups: Vec<String> = g
        .parity_discs
        .iter()
        .map(|(p, f, l)| format!("[{p},{f},{l}]"))
        .collect();
    JsonObject::new()
        .num("k", g.size)
        .raw("groups", format!("[{}]", groups.join(",")))
        .raw("open", json_numbers(&g.open))
        .build()
}

/// The diff counts since the previous snapshot as a JSON object, or `null` on a first run.
fn changes_json(s: &BackupSummary) -> String {
    let Some((prev, c)) = &s.changes else {
        return "null".to_string();
    };
    c.tallies()
        .into_iter()
        .fold(JsonObject::new().num("since", prev), |o, (name, t)| {
            o.num(name, t.count)
        })
        .build()
}
