//! Hashing one file, re-reading it once when it changes while it is read.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fsutil::{hex, read_buffer};
use crate::progress::Progress;

/// The result of hashing a file.
#[derive(Debug, Clone)]
pub struct Hashed {
    /// Lowercase hex sha256.
    pub sha256: String,
    /// Bytes read.
    pub size: u64,
    /// Mtime after the read.
    pub mtime_ns: i64,
    /// The file changed during both reads.
    pub unstable: bool,
}

fn stamp(md: &std::fs::Metadata) -> (u64, i64) {
    (md.len(), md.mtime() * 1_000_000_000 + md.mtime_nsec())
}

/// Hashes `path`; if its size or mtime moved during the read, reads it once more.
pub(crate) fn hash_stable(path: &Path, progress: &dyn Progress) -> Result<Hashed, String> {
    let describe = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut last = None;
    for _attempt in 0..2 {
        let mut f = File::open(path).map_err(describe)?;
        let before = stamp(&f.metadata().map_err(describe)?);
        let mut h = Sha256::new();
        let mut buf = read_buffer(before.0);
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf).map_err(describe)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
            progress.advance(k as u64, 0);
        }
        progress.advance(0, 1);
        let after = stamp(&std::fs::metadata(path).map_err(describe)?);
        let hashed = Hashed {
            sha256: hex(&h.finalize()),
            size: n,
            mtime_ns: after.1,
            unstable: false,
        };
        if before == after && after.0 == n {
            return Ok(hashed);
        }
        last = Some(hashed);
    }
    let mut h = last.expect("invariant: two attempts were made");
    h.unstable = true;
    Ok(h)
}
