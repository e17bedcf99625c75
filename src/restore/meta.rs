//! Giving a restored path its metadata back: extended attributes (POSIX ACLs are some of
//! them), owner, mode and mtime, in that order (changing the owner clears set-user-id bits,
//! and every other change would move a directory's mtime).
//!
//! Owners are given back as root only: by name when this system knows the recorded name,
//! else by the recorded id (`--numeric-owner`: by id always).

use std::collections::HashMap;
use std::path::Path;

use crate::catalogue::{Catalogue, Entry, Kind, RootMeta};
use crate::error::Result;
use crate::fsmeta;

/// How owners are given back.
pub(crate) struct Owners {
    /// Running as root: owners can be set.
    set: bool,
    numeric: bool,
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Owners {
    /// The owner names the catalogue records; `numeric`: ids only.
    pub(crate) fn of(cat: &Catalogue, numeric: bool) -> Result<Self> {
        let (users, groups) = cat.owner_names()?;
        Ok(Owners {
            set: fsmeta::is_root(),
            numeric,
            users,
            groups,
        })
    }

    /// Whether owners are given back (running as root).
    pub(crate) fn setting(&self) -> bool {
        self.set
    }

    /// The local ids to give a path recorded with `uid` and `gid`.
    fn local(&self, uid: u32, gid: u32) -> (u32, u32) {
        if self.numeric {
            return (uid, gid);
        }
        let u = self
            .users
            .get(&uid)
            .and_then(|n| fsmeta::uid_of(n))
            .unwrap_or(uid);
        let g = self
            .groups
            .get(&gid)
            .and_then(|n| fsmeta::gid_of(n))
            .unwrap_or(gid);
        (u, g)
    }
}

/// Gives `path` (restored as `e`) its extended attributes, owner, mode (not for a symlink)
/// and mtime. What could not be given back is returned, one reason each; the path stays.
pub(crate) fn apply(path: &Path, e: &Entry, owners: &Owners) -> Vec<String> {
    let mut problems = Vec::new();
    if !e.xattrs.is_empty() {
        if let Err(err) = fsmeta::write_xattrs(path, &e.xattrs) {
            problems.push(format!("its extended attributes could not be set ({err})"));
        }
    }
    if let (true, Some(uid), Some(gid)) = (owners.set, e.uid, e.gid) {
        let (u, g) = owners.local(uid, gid);
        if let Err(err) = fsmeta::lchown(path, u, g) {
            problems.push(format!("its owner {u}:{g} could not be set ({err})"));
        }
    }
    if e.kind != Kind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        if let Err(err) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode)) {
            problems.push(format!("its mode could not be set ({err})"));
        }
    }
    if let Err(err) = fsmeta::set_mtime_nofollow(path, e.mtime_ns) {
        problems.push(format!("its modification time could not be set ({err})"));
    }
    problems
}

/// Gives the restore's target the source root's own owner, mode and mtime.
pub(crate) fn apply_root(target: &Path, root: &RootMeta, owners: &Owners) -> Vec<String> {
    let e = Entry {
        kind: Kind::Dir,
        mode: root.mode,
        mtime_ns: root.mtime_ns,
        uid: root.uid,
        gid: root.gid,
        ..Entry::default()
    };
    apply(target, &e, owners)
}
