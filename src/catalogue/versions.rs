//! Entries from format 6 on: a path is a row of `paths` (its parent's id and its name), and
//! what it was is a row of `versions`, valid from the snapshot that first saw it up to the one
//! that saw it change or vanish. An entry that does not change costs nothing per snapshot.
//!
//! A snapshot's entries are the versions valid at it ([`Catalogue::entries`]); recording a
//! snapshot compares its entries with the versions still open and writes only the changes
//! ([`Recorder`]).

use std::collections::HashMap;

use rusqlite::{params, Row, Transaction};

use super::errors::describe;
use super::rows::{col, count, digest_opt, Entry, Kind, Sha256};
use super::{BadRow, Catalogue, SnapshotId};
use crate::error::{Error, Result};

/// A query of `versions` for the columns [`version`] reads, with the condition `$where`.
macro_rules! versions_where {
    ($where:literal) => {
        concat!(
            "SELECT path_id, kind, size, mtime_ns, mode, sha256, link_target, inode, ctime_ns,
                    uid, gid, links, dev, xattrs, id
             FROM versions WHERE ",
            $where
        )
    };
}

/// The versions valid at a snapshot (`?1`).
const VERSIONS_AT: &str = versions_where!("first_snapshot <= ?1 AND until_snapshot > ?1");

/// The versions valid at snapshot `?1` and not at `?2`.
const VERSIONS_ONLY_AT: &str = versions_where!(
    "first_snapshot <= ?1 AND until_snapshot > ?1
     AND NOT (first_snapshot <= ?2 AND until_snapshot > ?2)"
);

/// The versions no later snapshot has closed.
const OPEN_VERSIONS: &str = versions_where!("until_snapshot = 2147483647");

/// A version row: its path id, the entry without its path and xattrs, how many xattrs it
/// has, and its id.
struct VersionRow {
    path_id: i64,
    entry: Entry,
    xattrs: u64,
    id: i64,
}

fn version(r: &Row) -> rusqlite::Result<VersionRow> {
    let t = "versions";
    let opt_u32 = |i: usize| -> rusqlite::Result<Option<u32>> { col(r, t, i) };
    Ok(VersionRow {
        path_id: col(r, t, 0)?,
        entry: Entry {
            path: Vec::new(),
            kind: Kind::read(r, 1)?,
            size: count(r, t, 2)?,
            mtime_ns: col(r, t, 3)?,
            mode: col(r, t, 4)?,
            sha256: digest_opt(r, t, 5)?,
            link_target: col(r, t, 6)?,
            inode: col::<i64>(r, t, 7)? as u64,
            ctime_ns: col(r, t, 8)?,
            uid: opt_u32(9)?,
            gid: opt_u32(10)?,
            links: col::<Option<u32>>(r, t, 11)?.unwrap_or(0),
            dev: col::<Option<i64>>(r, t, 12)?.unwrap_or(0) as u64,
            xattrs: Vec::new(),
        },
        xattrs: count(r, t, 13)?,
        id: col(r, t, 14)?,
    })
}

/// Every path's full name, by id: a path is its parent's name, `/`, its own name. A row
/// whose parent is not an earlier row (a damaged copy) has no name, nor has a row whose id is
/// far beyond the number of rows (ids are dense from 1: a crafted id of 2^36 must not size a
/// vector) or whose full name is longer than [`MAX_PATH_BYTES`] (a chain thousands deep
/// would otherwise hold a quadratic number of bytes).
pub(super) struct PathNames {
    bytes: Vec<u8>,
    /// Start and length in `bytes`, by id; length [`NO_NAME`] or [`TOO_LONG`] for no name.
    spans: Vec<(u64, u32)>,
    /// Ids above this are out of range.
    max_id: i64,
    /// The highest id of any row (named or not), so that a new path never takes one.
    last_id: i64,
}

const NO_NAME: u32 = u32::MAX;
const TOO_LONG: u32 = u32::MAX - 1;

/// The longest full path a catalogue names: PATH_MAX (4096, with its NUL) less one. No
/// restore can create a longer one, and the walk of a backup cannot reach one.
pub const MAX_PATH_BYTES: usize = 4095;

impl PathNames {
    fn load(cat: &Catalogue) -> Result<Self> {
        let rows: i64 = cat
            .conn
            .query_row("SELECT COUNT(*) FROM paths", [], |r| r.get(0))?;
        let mut names = PathNames {
            bytes: Vec::new(),
            spans: Vec::new(),
            // Ids are dense from 1; some room beyond the rows for a copy that is not, none
            // for an id that would size the vector by itself.
            max_id: rows.saturating_add(rows.max(1 << 16)),
            last_id: 0,
        };
        let mut st = cat
            .conn
            .prepare("SELECT id, parent, name FROM paths ORDER BY id")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            names.last_id = names.last_id.max(id);
            let parent: i64 = r.get(1).unwrap_or(-1);
            let name: Vec<u8> = r.get(2).unwrap_or_default();
            names.push(id, parent, &name);
        }
        Ok(names)
    }

    fn push(&mut self, id: i64, parent: i64, name: &[u8]) {
        let Ok(id) = usize::try_from(id) else { return };
        if id as u64 > self.max_id.max(0) as u64 {
            return;
        }
        if id >= self.spans.len() {
            self.spans.resize(id + 1, (0, NO_NAME));
        }
        let start = self.bytes.len();
        let parent_name = if parent == 0 {
            None
        } else {
            match self.span(parent) {
                Some(span) => Some(span),
                None => {
                    // Below a name too long, too long itself; else below no name, no name.
                    if self.spans.get(parent as usize).map(|s| s.1) == Some(TOO_LONG) {
                        self.spans[id].1 = TOO_LONG;
                    }
                    return;
                }
            }
        };
        if name.is_empty() {
            return;
        }
        let len = parent_name.map_or(0, |(_, l)| l as usize + 1) + name.len();
        if len > MAX_PATH_BYTES {
            self.spans[id].1 = TOO_LONG;
            return;
        }
        if let Some((s, l)) = parent_name {
            self.bytes
                .extend_from_within(s as usize..s as usize + l as usize);
            self.bytes.push(b'/');
        }
        self.bytes.extend_from_slice(name);
        self.spans[id] = (start as u64, len as u32);
    }

    /// Where the name of `id` is in `bytes`.
    fn span(&self, id: i64) -> Option<(u64, u32)> {
        let (start, len) = *self.spans.get(usize::try_from(id).ok()?)?;
        (len != NO_NAME && len != TOO_LONG).then_some((start, len))
    }

    fn get(&self, id: i64) -> Option<&[u8]> {
        let (start, len) = self.span(id)?;
        Some(&self.bytes[start as usize..start as usize + len as usize])
    }

    /// Why `id` has no name.
    fn why_none(&self, id: i64) -> String {
        let too_long = usize::try_from(id)
            .ok()
            .and_then(|i| self.spans.get(i))
            .is_some_and(|s| s.1 == TOO_LONG);
        if too_long {
            format!("its path is longer than {MAX_PATH_BYTES} bytes")
        } else if id < 1 || id > self.max_id {
            format!("its path id {id} is out of range")
        } else {
            "its path cannot be read from paths".to_string()
        }
    }
}

impl Catalogue {
    /// The entries of `snapshot` from format 6's tables, sorted by path, and the rows that
    /// cannot be read.
    pub(super) fn entries_v6(&self, snapshot: SnapshotId) -> Result<(Vec<Entry>, Vec<BadRow>)> {
        self.read_transaction(|| {
            let names = PathNames::load(self)?;
            self.read_versions(VERSIONS_AT, &[snapshot.0], &names)
        })
    }

    /// The entries `sql` (with `params`) selects, sorted by path, and the rows that cannot be
    /// read.
    fn read_versions(
        &self,
        sql: &str,
        params: &[i64],
        names: &PathNames,
    ) -> Result<(Vec<Entry>, Vec<BadRow>)> {
        let mut st = self.conn.prepare(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        let mut with_xattrs: HashMap<i64, usize> = HashMap::new();
        while let Some(r) = rows.next()? {
            let path_id: i64 = r.get(0).unwrap_or(-1);
            let Some(path) = names.get(path_id) else {
                bad.push((
                    format!("path id {path_id}").into_bytes(),
                    names.why_none(path_id),
                ));
                continue;
            };
            match version(r) {
                Ok(mut v) => {
                    v.entry.path = path.to_vec();
                    if v.xattrs > 0 {
                        with_xattrs.insert(v.id, good.len());
                    }
                    good.push(v.entry);
                }
                Err(e) => bad.push((path.to_vec(), describe(&e))),
            }
        }
        if !with_xattrs.is_empty() {
            self.attach_xattrs(&mut good, &with_xattrs)?;
        }
        // In place: a stable sort would borrow half as many entries again.
        good.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        good.shrink_to_fit();
        // Two versions of one path valid at once: a damaged copy; the second is refused.
        let mut i = 1;
        while i < good.len() {
            if good[i].path == good[i - 1].path {
                let e = good.remove(i);
                bad.push((e.path, "a second version of this path".to_string()));
            } else {
                i += 1;
            }
        }
        Ok((good, bad))
    }

    /// What differs between snapshots `a` and `b`, without listing what is the same in both:
    /// the entries whose version only `a` has, those whose version only `b` has, and how many
    /// paths (and bytes of files) have one version in both. For a catalogue of format 5 or
    /// older, every entry of each and none in common.
    pub fn entries_between(&self, a: SnapshotId, b: SnapshotId) -> Result<Between> {
        if self.version < super::VERSIONS_FORMAT {
            return Ok(Between {
                only_a: self.entries(a)?,
                only_b: self.entries(b)?,
                common: 0,
                common_bytes: 0,
            });
        }
        self.read_transaction(|| {
            let names = PathNames::load(self)?;
            let only = |x: SnapshotId, y: SnapshotId| -> Result<Vec<Entry>> {
                let (good, bad) = self.read_versions(VERSIONS_ONLY_AT, &[x.0, y.0], &names)?;
                match bad.into_iter().next() {
                    Some((path, why)) => Err(Error::Catalogue(format!(
                        "{why} (path {:?})",
                        String::from_utf8_lossy(&path)
                    ))),
                    None => Ok(good),
                }
            };
            let (common, common_bytes): (i64, i64) = self.conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM versions
                 WHERE first_snapshot <= ?1 AND until_snapshot > ?1
                   AND first_snapshot <= ?2 AND until_snapshot > ?2",
                [a.0, b.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Between {
                only_a: only(a, b)?,
                only_b: only(b, a)?,
                common: common as u64,
                common_bytes: common_bytes as u64,
            })
        })
    }

    /// For each content in `shas`, the first path (in byte order) of a
    /// non-empty file whose one version both `a` and `b` have (none before format 6).
    pub fn common_sources(
        &self,
        a: SnapshotId,
        b: SnapshotId,
        shas: &std::collections::HashSet<Sha256>,
    ) -> Result<HashMap<Sha256, Vec<u8>>> {
        let mut out: HashMap<Sha256, Vec<u8>> = HashMap::new();
        if self.version < super::VERSIONS_FORMAT || shas.is_empty() {
            return Ok(out);
        }
        self.read_transaction(|| {
            let names = PathNames::load(self)?;
            let mut st = self.conn.prepare(
                "SELECT path_id, sha256 FROM versions
                 WHERE first_snapshot <= ?1 AND until_snapshot > ?1
                   AND first_snapshot <= ?2 AND until_snapshot > ?2
                   AND kind = 'file' AND size > 0 AND sha256 IS NOT NULL",
            )?;
            let mut rows = st.query([a.0, b.0])?;
            while let Some(r) = rows.next()? {
                let Ok(Some(sha)) = digest_opt(r, "versions", 1) else {
                    continue;
                };
                if !shas.contains(&sha) {
                    continue;
                }
                let Some(path) = names.get(r.get(0)?) else {
                    continue;
                };
                match out.get(&sha) {
                    Some(p) if p.as_slice() <= path => {}
                    _ => {
                        out.insert(sha, path.to_vec());
                    }
                }
            }
            Ok(out)
        })
    }

    fn attach_xattrs(&self, entries: &mut [Entry], at: &HashMap<i64, usize>) -> Result<()> {
        let mut st = self
            .conn
            .prepare("SELECT version_id, name, value FROM xattrs ORDER BY version_id, name")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let Some(&i) = at.get(&id) {
                entries[i].xattrs.push((r.get(1)?, r.get(2)?));
            }
        }
        Ok(())
    }

    /// Contents `snapshot` needs that no archive holds whole yet (see
    /// [`Catalogue::pending_contents`]), read from the versions of the files that need them
    /// only: a run that changed little holds little.
    pub(super) fn pending_contents_v6(
        &self,
        snapshot: SnapshotId,
    ) -> Result<Vec<super::PendingContent>> {
        self.read_transaction(|| {
            let names = PathNames::load(self)?;
            // (sha256, path id, size, mode, mtime) of every file that needs its content stored:
            // path ids, not copies of the names, and a vector, not a map (a first run has as
            // many pending contents as files).
            let mut first: Vec<(Sha256, i64, u64, u32, i64)> = Vec::new();
            {
                let mut st = self.conn.prepare(
                    "SELECT v.path_id, v.sha256, c.size, v.mode, v.mtime_ns
                     FROM versions v JOIN contents c ON c.sha256 = v.sha256
                     WHERE v.first_snapshot <= ?1 AND v.until_snapshot > ?1
                       AND v.kind = 'file' AND c.pieces IS NULL",
                )?;
                let mut rows = st.query([snapshot.0])?;
                while let Some(r) = rows.next()? {
                    let path_id: i64 = r.get(0)?;
                    if names.get(path_id).is_none() {
                        continue;
                    }
                    let Some(sha) = digest_opt(r, "versions", 1)? else {
                        continue;
                    };
                    let size = count(r, "contents", 2)?;
                    first.push((sha, path_id, size, r.get(3)?, r.get(4)?));
                }
            }
            // Each content once, with its first path in byte order; then in path order.
            let name = |id: i64| names.get(id).unwrap_or_default();
            first.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| name(a.1).cmp(name(b.1))));
            first.dedup_by(|later, kept| later.0 == kept.0);
            first.sort_unstable_by(|a, b| name(a.1).cmp(name(b.1)));
            first.shrink_to_fit();
            let mut done = self.conn.prepare(
                "SELECT COUNT(*), COALESCE(SUM(length), 0) FROM pieces WHERE sha256 = ?1",
            )?;
            let mut out = Vec::with_capacity(first.len());
            for (sha, path_id, size, mode, mtime_ns) in first {
                let (pieces_done, bytes_done): (u32, i64) =
                    done.query_row([&sha.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let path = names.get(path_id).unwrap_or_default().to_vec();
                out.push(super::PendingContent {
                    sha256: sha,
                    size,
                    path,
                    pieces_done,
                    bytes_done: bytes_done as u64,
                    mode,
                    mtime_ns,
                });
            }
            Ok(out)
        })
    }

    /// The state of the newest recorded snapshot that a run compares its entries with.
    pub fn recorder(&self) -> Result<Recorder> {
        self.require_current()?;
        Recorder::load(self)
    }

    /// Records the entries of `snapshot` as changes to `rec`'s open versions, in one
    /// transaction; `rec` is used up (a run records one snapshot, and keeping the versions it
    /// wrote would cost a first run over a million files 100 MB for nothing).
    pub fn record_with(
        &self,
        mut rec: Recorder,
        snapshot: SnapshotId,
        entries: &[Entry],
    ) -> Result<()> {
        self.require_current()?;
        rec.follow = false;
        let tx = self.conn.unchecked_transaction()?;
        rec.record(&tx, snapshot, entries)?;
        tx.commit()?;
        Ok(())
    }

    /// The extended attributes of a version.
    pub fn version_xattrs(&self, version: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, value FROM xattrs WHERE version_id = ?1 ORDER BY name")?;
        let rows = st.query_map([version], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// What differs between two snapshots ([`Catalogue::entries_between`]).
#[derive(Debug, Clone, Default)]
pub struct Between {
    /// Entries whose version only the first snapshot has, sorted by path.
    pub only_a: Vec<Entry>,
    /// Entries whose version only the second snapshot has, sorted by path.
    pub only_b: Vec<Entry>,
    /// Paths with one version in both.
    pub common: u64,
    /// Bytes of the files among them.
    pub common_bytes: u64,
}

/// What the newest recorded snapshot has for one path: enough to tell whether a file changed,
/// and, in `fingerprint`, everything else its version records.
#[derive(Debug, Clone)]
pub struct Known {
    /// File, directory or symlink.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns.
    pub mtime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// Status change time, ns.
    pub ctime_ns: i64,
    /// The content's sha256 (files).
    pub sha256: Option<[u8; 32]>,
    /// How many extended attributes it has ([`Catalogue::version_xattrs`] reads them).
    pub xattrs: u32,
    /// The version's id.
    pub version: i64,
    fingerprint: [u8; 16],
}

/// A digest of everything a version records but its path: two entries with the same
/// fingerprint are the same version.
fn fingerprint(e: &Entry) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    put(e.kind.as_str().as_bytes());
    put(&e.size.to_le_bytes());
    put(&e.mtime_ns.to_le_bytes());
    put(&e.mode.to_le_bytes());
    match &e.sha256 {
        Some(s) => put(&s.0),
        None => put(b"-"),
    }
    match &e.link_target {
        Some(t) => put(t),
        None => put(b"\0none"),
    }
    put(&e.inode.to_le_bytes());
    put(&e.ctime_ns.to_le_bytes());
    put(&e.uid.map_or(-1, i64::from).to_le_bytes());
    put(&e.gid.map_or(-1, i64::from).to_le_bytes());
    let (links, dev) = if e.links > 1 {
        (e.links, e.dev)
    } else {
        (0, 0)
    };
    put(&links.to_le_bytes());
    put(&dev.to_le_bytes());
    put(&(e.xattrs.len() as u64).to_le_bytes());
    for (n, v) in &e.xattrs {
        put(n);
        put(v);
    }
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

fn known(e: &Entry, version: i64, xattrs: u32) -> Known {
    Known {
        kind: e.kind,
        size: e.size,
        mtime_ns: e.mtime_ns,
        inode: e.inode,
        ctime_ns: e.ctime_ns,
        sha256: e.sha256.map(|s| s.0),
        xattrs,
        version,
        fingerprint: fingerprint(e),
    }
}

fn path_hash(path: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// The open version of each path id, in a vector indexed by the id (ids are dense from 1);
/// an id far beyond the paths known (a damaged row) goes to a map beside it. A million
/// versions in a hash map would take twice the room (its buckets double past seven eighths).
#[derive(Default)]
struct OpenVersions {
    dense: Vec<Option<Known>>,
    sparse: HashMap<i64, Known>,
}

/// Ids up to this are kept in the vector.
const DENSE_LIMIT: i64 = 1 << 32;

impl OpenVersions {
    fn get(&self, id: i64) -> Option<&Known> {
        match usize::try_from(id) {
            Ok(i) if id < DENSE_LIMIT => self.dense.get(i).and_then(Option::as_ref),
            _ => self.sparse.get(&id),
        }
    }

    fn insert(&mut self, id: i64, k: Known) {
        match usize::try_from(id) {
            Ok(i) if id < DENSE_LIMIT => {
                if i >= self.dense.len() {
                    self.dense.resize_with(i + 1, || None);
                }
                self.dense[i] = Some(k);
            }
            _ => {
                self.sparse.insert(id, k);
            }
        }
    }

    fn remove(&mut self, id: i64) -> Option<Known> {
        match usize::try_from(id) {
            Ok(i) if id < DENSE_LIMIT => self.dense.get_mut(i).and_then(Option::take),
            _ => self.sparse.remove(&id),
        }
    }

    /// Every id with an open version.
    fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_some())
            .map(|(i, _)| i as i64);
        dense.chain(self.sparse.keys().copied())
    }

    /// Flags for ids below `n` (and a set for any beyond).
    fn flags(n: i64) -> (Vec<bool>, std::collections::HashSet<i64>) {
        (
            vec![false; usize::try_from(n.clamp(0, DENSE_LIMIT)).unwrap_or(0)],
            std::collections::HashSet::new(),
        )
    }

    /// Sets `id`'s flag; false when it was set already.
    fn flag(f: &mut (Vec<bool>, std::collections::HashSet<i64>), id: i64) -> bool {
        match usize::try_from(id) {
            Ok(i) if id < DENSE_LIMIT => {
                if i >= f.0.len() {
                    f.0.resize(i + 1, false);
                }
                !std::mem::replace(&mut f.0[i], true)
            }
            _ => f.1.insert(id),
        }
    }

    fn flagged(f: &(Vec<bool>, std::collections::HashSet<i64>), id: i64) -> bool {
        match usize::try_from(id) {
            Ok(i) if id < DENSE_LIMIT => f.0.get(i).copied().unwrap_or(false),
            _ => f.1.contains(&id),
        }
    }
}

/// The state a snapshot's entries are compared with: every path's name and id, and the open
/// versions, held compactly (a run over a million files keeps them all in memory).
pub struct Recorder {
    names: PathNames,
    /// Path ids by a hash of the full path (checked against `names`).
    by_hash: HashMap<u64, i64>,
    /// Paths whose hash an earlier path already has.
    clashes: HashMap<Vec<u8>, i64>,
    next_path: i64,
    /// The open version of each path id.
    open: OpenVersions,
    /// Whether recording moves `open` on to the versions written (to record the next
    /// snapshot with the same recorder, as an upgrade does).
    follow: bool,
}

impl Recorder {
    pub(super) fn load(cat: &Catalogue) -> Result<Self> {
        let names = PathNames::load(cat)?;
        let mut rec = Recorder {
            by_hash: HashMap::with_capacity(names.spans.len()),
            clashes: HashMap::new(),
            next_path: (names.spans.len() as i64).max(names.last_id + 1).max(1),
            names,
            open: OpenVersions::default(),
            follow: true,
        };
        for id in 1..rec.names.spans.len() as i64 {
            rec.index(id);
        }
        let mut st = cat.conn.prepare(OPEN_VERSIONS)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let mut v = version(r)
                .map_err(|e| Error::Damaged(format!("the working catalogue: {}", describe(&e))))?;
            if v.xattrs > 0 {
                v.entry.xattrs = cat.version_xattrs(v.id)?;
            }
            let k = known(&v.entry, v.id, v.xattrs as u32);
            rec.open.insert(v.path_id, k);
        }
        Ok(rec)
    }

    /// Makes path `id` (named in `names`) findable by its name.
    fn index(&mut self, id: i64) {
        let Some(p) = self.names.get(id) else { return };
        let h = path_hash(p);
        match self.by_hash.entry(h) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.clashes.insert(p.to_vec(), id);
            }
        }
    }

    /// The id of `path`, if any snapshot had it.
    fn find(&self, path: &[u8]) -> Option<i64> {
        match self.by_hash.get(&path_hash(path)) {
            Some(&id) if self.names.get(id) == Some(path) => Some(id),
            Some(_) => self.clashes.get(path).copied(),
            None => None,
        }
    }

    /// What the newest recorded snapshot has at `path`.
    pub fn known(&self, path: &[u8]) -> Option<&Known> {
        self.open.get(self.find(path)?)
    }

    /// The id of `path`, adding it (and any parent not yet known) to `paths`.
    fn path_id(&mut self, tx: &Transaction, path: &[u8]) -> Result<i64> {
        if let Some(id) = self.find(path) {
            return Ok(id);
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (self.path_id(tx, &path[..i])?, &path[i + 1..]),
            None => (0, path),
        };
        let id = self.next_path;
        tx.prepare_cached("INSERT INTO paths (id, parent, name) VALUES (?1, ?2, ?3)")?
            .execute(params![id, parent, name])?;
        self.next_path += 1;
        // A path this run adds is in range, whatever the rows counted at load.
        self.names.max_id = self.names.max_id.max(id);
        self.names.push(id, parent, name);
        self.index(id);
        Ok(id)
    }

    /// Writes what changed between the open versions and `entries`: a new version for each
    /// path that is new or differs, and `until_snapshot` for each version it replaces or
    /// that no entry has any more.
    pub(super) fn record(
        &mut self,
        tx: &Transaction,
        snapshot: SnapshotId,
        entries: &[Entry],
    ) -> Result<()> {
        // Path ids are dense: which ones this snapshot has is a vector of flags.
        let mut seen = OpenVersions::flags(self.next_path);
        let sha_blob = |s: &Option<Sha256>| -> Option<Vec<u8>> { s.map(|x| x.0.to_vec()) };
        for e in entries {
            let path_id = self.path_id(tx, &e.path)?;
            if !OpenVersions::flag(&mut seen, path_id) {
                continue; // the same path twice: the first one counts
            }
            let fp = fingerprint(e);
            if let Some(old) = self.open.get(path_id) {
                if old.fingerprint == fp {
                    continue;
                }
                tx.prepare_cached("UPDATE versions SET until_snapshot = ?2 WHERE id = ?1")?
                    .execute(params![old.version, snapshot.0])?;
            }
            tx.prepare_cached(
                "INSERT INTO versions (path_id, first_snapshot, kind, size, mtime_ns, mode, uid,
                                       gid, sha256, link_target, links, dev, inode, ctime_ns,
                                       xattrs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                path_id,
                snapshot.0,
                e.kind.as_str(),
                e.size as i64,
                e.mtime_ns,
                e.mode,
                e.uid,
                e.gid,
                sha_blob(&e.sha256),
                e.link_target,
                (e.links > 1).then_some(e.links),
                (e.links > 1).then_some(e.dev as i64),
                e.inode as i64,
                e.ctime_ns,
                e.xattrs.len() as i64
            ])?;
            let id = tx.last_insert_rowid();
            for (name, value) in &e.xattrs {
                tx.prepare_cached(
                    "INSERT INTO xattrs (version_id, name, value) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, name, value])?;
            }
            if self.follow {
                self.open
                    .insert(path_id, known(e, id, e.xattrs.len() as u32));
            }
            if let Some(sha) = sha_blob(&e.sha256) {
                tx.prepare_cached(
                    "INSERT INTO contents (sha256, size) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![sha, e.size as i64])?;
            }
        }
        let gone: Vec<i64> = self
            .open
            .ids()
            .filter(|&id| !OpenVersions::flagged(&seen, id))
            .collect();
        for path_id in gone {
            if let Some(k) = self.open.remove(path_id) {
                tx.prepare_cached("UPDATE versions SET until_snapshot = ?2 WHERE id = ?1")?
                    .execute(params![k.version, snapshot.0])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crafted `paths` table: an id far beyond the rows, a chain deeper than any path the
    /// system takes. Names are kept for what is in range and short enough, in bytes linear in
    /// the rows; the rest have none, each with its reason.
    #[test]
    fn path_names_bound_ids_and_lengths() {
        let cat = Catalogue::create_in_memory().unwrap();
        cat.conn
            .execute_batch(
                "INSERT INTO paths (id, parent, name) VALUES (1, 0, CAST('a' AS BLOB));
                 INSERT INTO paths (id, parent, name) VALUES (68719476736, 0, CAST('b' AS BLOB));
                 INSERT INTO paths (id, parent, name) VALUES (2, 0, CAST('d' AS BLOB));
                 WITH RECURSIVE n(k) AS (SELECT 3 UNION ALL SELECT k + 1 FROM n WHERE k < 5000)
                 INSERT INTO paths (id, parent, name) SELECT k, k - 1, CAST('d' AS BLOB) FROM n;",
            )
            .unwrap();
        let names = PathNames::load(&cat).unwrap();
        assert_eq!(names.get(1), Some(&b"a"[..]));
        assert_eq!(names.get(68719476736), None);
        assert!(names.why_none(68719476736).contains("out of range"));
        assert!(names.spans.len() <= 5002 + (1 << 16));
        // Depth k (from id 2) is 2k - 1 bytes: 2048 levels fit in 4095 bytes.
        assert_eq!(names.get(2049).map(<[u8]>::len), Some(4095));
        assert_eq!(names.get(2050), None);
        assert!(names.why_none(5000).contains("longer than 4095"));
        assert!(names.bytes.len() < 5 << 20, "{}", names.bytes.len());
    }
}
