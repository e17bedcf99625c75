//! `butcher status DEST`: where a backup set stands, read from DEST's working catalogue and
//! DEST's disc directories, and what to do next. Also the record that a burned disc was read
//! back from media (`butcher verify MOUNT --record DEST`), kept in the working catalogue's
//! meta table as `read_back_NNNN` (docs/format.md, section 5).

use std::path::Path;

use crate::catalogue::Catalogue;
use crate::dest;
use crate::encryption::set_keys;
use crate::error::{Error, Result};
use crate::layout::disc_dir_name;

/// How many of the newest snapshots the report lists.
const SNAPSHOTS_SHOWN: usize = 5;

/// Where a backup set stands.
#[derive(Debug, Clone, Default)]
pub struct StatusReport {
    /// The set's id (32 hex digits).
    pub set_id: String,
    /// The working catalogue's format version.
    pub format_version: u32,
    /// Whether archives and catalogue copies are encrypted.
    pub encrypted: bool,
    /// Whether a passphrase opens them.
    pub passphrase: bool,
    /// The recipients' primary fingerprints, when encrypted to keys.
    pub recipients: Vec<String>,
    /// How many snapshots the set has.
    pub snapshot_count: usize,
    /// The newest snapshots, oldest first.
    pub snapshots: Vec<SnapshotStatus>,
    /// Every disc, by number.
    pub discs: Vec<DiscStatus>,
    /// What to do next, one sentence each.
    pub next: Vec<String>,
}

/// One snapshot, in short.
#[derive(Debug, Clone)]
pub struct SnapshotStatus {
    pub id: i64,
    pub started_ns: i64,
    pub complete: bool,
    /// Its run stopped before it was complete (see [`crate::Snapshot::interrupted`]).
    pub interrupted: bool,
    pub files: u64,
    pub bytes: u64,
}

/// One disc.
#[derive(Debug, Clone)]
pub struct DiscStatus {
    pub number: u32,
    /// A parity disc (of the discs in `group`), not a data disc.
    pub parity: bool,
    /// Still open: archives are added to it; it has no catalogue copy or SHA256SUMS yet.
    pub open: bool,
    /// Its directory is in DEST.
    pub in_dest: bool,
    /// When it was read back from media and found intact (ns since the epoch), if ever.
    pub read_back_ns: Option<i64>,
    /// Whether it carries recovery files (PAR2); `None` when that cannot be told (its
    /// directory is gone from DEST and the catalogue does not record it).
    pub recovery_data: Option<bool>,
    /// For a data disc of a set with parity discs: the parity disc that protects it, or
    /// `None` while its group is open. For a parity disc: the first and last disc it
    /// protects.
    pub group: Option<Group>,
}

/// A disc's place in the parity groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// A data disc protected by this parity disc.
    ProtectedBy(u32),
    /// A data disc of the open group (its parity disc is not written yet).
    Open,
    /// A parity disc protecting these data discs.
    Protects(u32, u32),
}

/// The meta key recording that disc `n` was read back from media.
fn read_back_key(n: u32) -> String {
    format!("read_back_{n:04}")
}

/// Where the set in `dest` (working catalogue `catalogue`, default `DEST/catalogue.db`) stands.
pub fn status(dest: &Path, catalogue: Option<&Path>) -> Result<StatusReport> {
    let path = dest::require_backup(dest, catalogue)?;
    let cat = Catalogue::open_read_only_as(&path, "the working catalogue")?;
    let keys = set_keys(&cat)?;
    let snapshots = cat.snapshots()?;
    let mut report = StatusReport {
        set_id: cat.backup_set_id()?,
        format_version: cat.format_version(),
        encrypted: keys.as_ref().is_some_and(|k| k.encrypted),
        passphrase: keys.as_ref().is_some_and(|k| k.passphrase),
        recipients: keys.map(|k| k.recipients).unwrap_or_default(),
        snapshot_count: snapshots.len(),
        snapshots: snapshots
            .iter()
            .skip(snapshots.len().saturating_sub(SNAPSHOTS_SHOWN))
            .map(|s| SnapshotStatus {
                id: s.id.0,
                started_ns: s.started_ns,
                complete: s.complete,
                interrupted: s.interrupted,
                files: s.files,
                bytes: s.bytes,
            })
            .collect(),
        ..StatusReport::default()
    };
    let groups = cat.parity_groups()?;
    let members = cat.parity_members()?;
    let with_parity = cat.meta("parity_discs")?.is_some_and(|k| k != "0");
    for d in cat.discs()? {
        let dir = dest.join(disc_dir_name(d.number));
        let group = groups.iter().find(|g| g.parity_disc == d.number);
        let member = members.iter().find(|m| m.disc == d.number);
        let recovery_data = if dir.is_dir() {
            Some(
                dir.join(format!("{}.par2", crate::layout::recovery_base(d.number)))
                    .is_file(),
            )
        } else {
            member.map(|m| m.recovery_creator.is_some())
        };
        let place = match (group, member) {
            (Some(g), _) => Some(Group::Protects(g.first, g.last)),
            (None, Some(m)) => Some(m.parity_disc.map_or(Group::Open, Group::ProtectedBy)),
            (None, None) if with_parity && !d.closed => Some(Group::Open),
            (None, None) => None,
        };
        report.discs.push(DiscStatus {
            number: d.number,
            parity: group.is_some(),
            open: !d.closed,
            in_dest: dir.is_dir(),
            read_back_ns: cat
                .meta(&read_back_key(d.number))?
                .and_then(|v| v.parse().ok()),
            recovery_data,
            group: place,
        });
    }
    report.next = next_steps(&report, dest);
    Ok(report)
}

/// What to do next, from the report.
fn next_steps(r: &StatusReport, dest: &Path) -> Vec<String> {
    let mut next = Vec::new();
    let names = |ds: Vec<u32>| -> String {
        let names: Vec<String> = ds.into_iter().map(disc_dir_name).collect();
        match names.len() {
            0 | 1 => names.concat(),
            n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
        }
    };
    let verb = |n: usize, one: &str, many: &str| if n == 1 { one } else { many }.to_string();
    if r.snapshot_count == 0 {
        next.push("no snapshot yet: run `butcher backup SRC DEST`".to_string());
    }
    let to_burn: Vec<u32> = r
        .discs
        .iter()
        .filter(|d| !d.open && d.in_dest && d.read_back_ns.is_none())
        .map(|d| d.number)
        .collect();
    if !to_burn.is_empty() {
        let n = to_burn.len();
        next.push(format!(
            "{} {} finished: burn {} (scripts/burn.sh), then check each burned disc with \
             `butcher verify MOUNT_POINT --record {}`",
            names(to_burn),
            verb(n, "is", "are"),
            verb(n, "it", "them"),
            dest.display()
        ));
    }
    let unread: Vec<u32> = r
        .discs
        .iter()
        .filter(|d| !d.open && !d.in_dest && d.read_back_ns.is_none())
        .map(|d| d.number)
        .collect();
    for n in unread {
        next.push(format!(
            "{} was never read back from media: insert it and run \
             `butcher verify MOUNT_POINT --record {}`",
            disc_dir_name(n),
            dest.display()
        ));
    }
    let done: Vec<u32> = r
        .discs
        .iter()
        .filter(|d| !d.open && d.in_dest && d.read_back_ns.is_some())
        .map(|d| d.number)
        .collect();
    if !done.is_empty() {
        let n = done.len();
        next.push(format!(
            "{} {} read back from media intact: {} directory can be deleted from DEST",
            names(done),
            verb(n, "was", "were"),
            verb(n, "its", "their")
        ));
    }
    for d in r.discs.iter().filter(|d| d.open) {
        next.push(format!(
            "{} is open: the next run goes on filling it, or `butcher close {}` finishes it",
            disc_dir_name(d.number),
            dest.display()
        ));
    }
    let open_group: Vec<u32> = r
        .discs
        .iter()
        .filter(|d| !d.open && d.group == Some(Group::Open))
        .map(|d| d.number)
        .collect();
    if !open_group.is_empty() {
        next.push(format!(
            "the parity group of {} is open: its parity disc is written when the group is \
             full, or by `butcher close {}`",
            names(open_group),
            dest.display()
        ));
    }
    if next.is_empty() {
        next.push("nothing to do: every disc was read back from media".to_string());
    }
    next
}

/// Records in the working catalogue of `dest` that the discs `report` found intact (finished
/// discs of the set in `dest`, whose README names that set) were read back from media, now.
/// Returns their numbers.
pub fn record_read_back(
    dest: &Path,
    catalogue: Option<&Path>,
    report: &crate::verify::VerifyReport,
) -> Result<Vec<u32>> {
    let mut numbers = Vec::new();
    let mut sets = Vec::new();
    for d in &report.discs {
        let (Some(n), false, true) = (d.number, d.unfinished, d.problems.is_empty()) else {
            continue;
        };
        let found = crate::source::disc_dirs(std::slice::from_ref(&d.path))?;
        sets.extend(found.into_iter().filter_map(|x| x.set_id));
        numbers.push(n);
    }
    if numbers.is_empty() {
        return Err(Error::Usage(
            "no finished, intact disc was verified: nothing recorded".to_string(),
        ));
    }
    sets.sort();
    sets.dedup();
    let set_id = match sets.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(Error::Usage(
                "the discs verified do not name one backup set in their README.txt: nothing \
                 recorded"
                    .to_string(),
            ))
        }
    };
    record_numbers(dest, catalogue, &set_id, &numbers)?;
    Ok(numbers)
}

fn record_numbers(
    dest: &Path,
    catalogue: Option<&Path>,
    set_id: &str,
    numbers: &[u32],
) -> Result<()> {
    let path = dest::require_backup(dest, catalogue)?;
    let _lock = dest::lock(dest)?;
    let cat = Catalogue::open(&path)?;
    let own = cat.backup_set_id()?;
    if own != set_id {
        return Err(Error::Usage(format!(
            "the disc belongs to backup set {set_id}, not to the set in {} ({own}): nothing \
             recorded",
            dest.display()
        )));
    }
    let known: Vec<u32> = cat.discs()?.iter().map(|d| d.number).collect();
    for &n in numbers {
        if !known.contains(&n) {
            return Err(Error::Usage(format!(
                "{} is not a disc of the set in {}: nothing recorded",
                disc_dir_name(n),
                dest.display()
            )));
        }
    }
    let now = crate::fsutil::now_ns().to_string();
    for &n in numbers {
        cat.set_meta(&read_back_key(n), &now)?;
    }
    Ok(())
}
