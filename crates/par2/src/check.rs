//! Checking a directory's files against a recovery set, slice by slice.

use std::io;
use std::path::Path;

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::io::{err, open_regular, read_padded};
use crate::set::RecoverySet;

/// The state of one protected file.
#[derive(Debug, Clone)]
pub struct FileState {
    pub name: String,
    /// The file is not there at all.
    pub missing: bool,
    /// Its length on disc, when there.
    pub len: u64,
    /// Indices (within the file) of the slices that do not match their checksum.
    pub bad: Vec<u64>,
}

impl FileState {
    /// Whether the file is exactly what the set describes.
    pub fn whole(&self, expected_len: u64) -> bool {
        !self.missing && self.bad.is_empty() && self.len == expected_len
    }
}

/// What a check of a directory found.
#[derive(Debug, Clone)]
pub struct Report {
    /// One state per file of the set, in the set's order.
    pub files: Vec<FileState>,
    /// Slices that do not match, over all files.
    pub bad_slices: usize,
    /// Recovery slices found intact.
    pub recovery: usize,
}

impl Report {
    /// Whether every protected file is whole.
    pub fn data_whole(&self, set: &RecoverySet) -> bool {
        self.files
            .iter()
            .zip(&set.files)
            .all(|(s, f)| s.whole(f.len))
    }

    /// Whether the intact recovery slices suffice to repair what is damaged.
    pub fn repairable(&self) -> bool {
        self.bad_slices <= self.recovery
    }
}

/// Checks every protected file in `dir`; `tick` hears of the bytes read.
pub fn check(dir: &Path, set: &RecoverySet, tick: &(dyn Fn(u64) + Sync)) -> io::Result<Report> {
    let mut files = Vec::new();
    for f in &set.files {
        let path = dir.join(&f.name);
        let state = match open_regular(&path) {
            Ok(file) => {
                let len = file.metadata().map_err(|e| err("read", &path, e))?.len();
                let s = set.slice_size;
                let bad: Vec<u64> = (0..f.slices.len() as u64)
                    .into_par_iter()
                    .map_init(
                        || vec![0u8; s as usize],
                        |buf, j| -> io::Result<Option<u64>> {
                            let start = j * s;
                            let want = (f.len - start).min(s);
                            if start + want > len {
                                return Ok(Some(j));
                            }
                            let got = match read_padded(&file, start, &mut buf[..want as usize]) {
                                Ok(g) => g,
                                // An unreadable sector is a damaged slice.
                                Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                                    return Ok(Some(j))
                                }
                                Err(e) => return Err(e),
                            };
                            buf[want as usize..].fill(0);
                            tick(got as u64);
                            let sum: [u8; 16] = Md5::digest(&buf[..]).into();
                            Ok((sum != f.slices[j as usize].0).then_some(j))
                        },
                    )
                    .filter_map(|r| r.transpose())
                    .collect::<io::Result<_>>()?;
                FileState {
                    name: f.name.clone(),
                    missing: false,
                    len,
                    bad,
                }
            }
            // Not there, or not a regular file (a FIFO, a device): nothing of it is read, and
            // every slice of it is to be rebuilt.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                FileState {
                    name: f.name.clone(),
                    missing: true,
                    len: 0,
                    bad: (0..f.slices.len() as u64).collect(),
                }
            }
            Err(e) => return Err(err("read", &path, e)),
        };
        files.push(state);
    }
    let bad_slices = files.iter().map(|f| f.bad.len()).sum();
    Ok(Report {
        files,
        bad_slices,
        recovery: set.recovery.len(),
    })
}
