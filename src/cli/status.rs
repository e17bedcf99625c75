//! `butcher status DEST`: the backup set, its newest snapshots, every disc, and what to do next.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use butcher::{DiscStatus, Group, StatusReport};

use super::output::{json_list, json_str, to_stdout, utc, JsonObject};
use super::{human_bytes, ExitCode, Ui};

/// Arguments of `butcher status`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The set (id, format, encryption), its newest snapshots, then one line per disc: DISC,
KIND (data or parity), STATE (open, or finished), WHERE (in DEST, or gone from DEST: burned
and deleted), READ BACK (the date `butcher verify MOUNT_POINT --record DEST` found it intact
on its medium, or `never`), RECOVERY (PAR2 files on it: yes, no, or ? when it is gone from
DEST), GROUP (the parity disc protecting it, `open` while its group is open; for a parity
disc the discs it protects). Then what to do next.")]
pub struct Args {
    /// The backup's DEST folder.
    dest: PathBuf,
    /// The working catalogue (default DEST/catalogue.db).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints where the set stands.
pub fn run(a: &Args, _ui: &Ui) -> Result<ExitCode> {
    let r = butcher::status(&a.dest, a.catalogue.as_deref())
        .with_context(|| format!("cannot read the backup set in {}", a.dest.display()))?;
    to_stdout(|out| {
        if a.json {
            writeln!(out, "{}", json(&r))
        } else {
            text(out, &r)
        }
    })?;
    Ok(ExitCode::Ok)
}

fn encryption(r: &StatusReport) -> String {
    match (r.encrypted, r.passphrase, r.recipients.is_empty()) {
        (false, _, _) => "none".to_string(),
        (true, true, true) => "passphrase".to_string(),
        (true, true, false) => format!("passphrase and recipients {}", r.recipients.join(", ")),
        (true, false, _) => format!("recipients {}", r.recipients.join(", ")),
    }
}

fn group_text(g: &Option<Group>) -> String {
    match g {
        None => "-".to_string(),
        Some(Group::Open) => "open".to_string(),
        Some(Group::ProtectedBy(p)) => butcher::disc_dir_name(*p),
        Some(Group::Protects(a, b)) => format!("protects {a:04}-{b:04}"),
    }
}

fn recovery_text(d: &DiscStatus) -> &'static str {
    match d.recovery_data {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn text(out: &mut dyn Write, r: &StatusReport) -> std::io::Result<()> {
    writeln!(out, "backup set {}", r.set_id)?;
    writeln!(out, "format     {}", r.format_version)?;
    writeln!(out, "encrypted  {}", encryption(r))?;
    writeln!(out, "snapshots  {}", r.snapshot_count)?;
    for s in &r.snapshots {
        writeln!(
            out,
            "  {:>4}  {}  {:<11}  {} files, {}",
            s.id,
            utc(s.started_ns),
            match (s.complete, s.interrupted) {
                (true, _) => "complete",
                (false, true) => "interrupted",
                (false, false) => "running",
            },
            s.files,
            human_bytes(s.bytes)
        )?;
    }
    writeln!(out, "discs      {}", r.discs.len())?;
    if !r.discs.is_empty() {
        writeln!(
            out,
            "  {:<9}  {:<6}  {:<8}  {:<14}  {:<20}  {:<8}  GROUP",
            "DISC", "KIND", "STATE", "WHERE", "READ BACK", "RECOVERY"
        )?;
    }
    for d in &r.discs {
        writeln!(
            out,
            "  {:<9}  {:<6}  {:<8}  {:<14}  {:<20}  {:<8}  {}",
            butcher::disc_dir_name(d.number),
            if d.parity { "parity" } else { "data" },
            if d.open { "open" } else { "finished" },
            if d.in_dest {
                "in DEST"
            } else {
                "gone from DEST"
            },
            d.read_back_ns.map_or("never".to_string(), utc),
            recovery_text(d),
            group_text(&d.group)
        )?;
    }
    writeln!(out, "next")?;
    for n in &r.next {
        writeln!(out, "  {n}")?;
    }
    Ok(())
}

fn json(r: &StatusReport) -> String {
    let snapshots = r.snapshots.iter().map(|s| {
        JsonObject::new()
            .num("id", s.id)
            .str("started", &utc(s.started_ns))
            .num("complete", s.complete)
            .num("interrupted", s.interrupted)
            .num("files", s.files)
            .num("bytes", s.bytes)
            .build()
    });
    let discs = r.discs.iter().map(|d| {
        let group = match &d.group {
            None => "null".to_string(),
            Some(Group::Open) => JsonObject::new().str("state", "open").build(),
            Some(Group::ProtectedBy(p)) => JsonObject::new()
                .str("state", "closed")
                .num("parity_disc", p)
                .build(),
            Some(Group::Protects(a, b)) => JsonObject::new().num("first", a).num("last", b).build(),
        };
        JsonObject::new()
            .num("number", d.number)
            .str("kind", if d.parity { "parity" } else { "data" })
            .str("state", if d.open { "open" } else { "finished" })
            .num("in_dest", d.in_dest)
            .raw(
                "read_back",
                d.read_back_ns
                    .map_or("null".to_string(), |t| json_str(&utc(t))),
            )
            .raw(
                "recovery_data",
                d.recovery_data
                    .map_or("null".to_string(), |b| b.to_string()),
            )
            .raw("group", group)
            .build()
    });
    let recipients = r.recipients.iter().map(|f| json_str(f));
    JsonObject::new()
        .str("backup_set", &r.set_id)
        .num("format_version", r.format_version)
        .raw(
            "encryption",
            JsonObject::new()
                .num("encrypted", r.encrypted)
                .num("passphrase", r.passphrase)
                .raw(
                    "recipients",
                    format!("[{}]", recipients.collect::<Vec<_>>().join(",")),
                )
                .build(),
        )
        .num("snapshot_count", r.snapshot_count)
        .raw("snapshots", json_list(snapshots))
        .raw("discs", json_list(discs))
        .raw("next", json_list(r.next.iter().map(|n| json_str(n))))
        .build()
}
