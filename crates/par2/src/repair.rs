//! Rebuilding damaged files from the intact slices and the recovery slices.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::check::Report;
use crate::create::{accumulate, chunk_len, BATCH_BYTES};
use crate::gf;
use crate::io::{create_fresh, err, open_regular, read_padded};
use crate::kernel;
use crate::set::RecoverySet;

/// Why a repair could not be done.
#[derive(Debug)]
pub enum RepairError {
    Io(io::Error),
    /// More slices are damaged than there are intact recovery slices.
    NotEnough {
        needed: usize,
        available: usize,
    },
    /// The equations of the recovery slices at hand have no single solution, or a rebuilt
    /// file does not match its checksums.
    Failed(String),
}

impl std::fmt::Display for RepairError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepairError::Io(e) => write!(f, "{e}"),
            RepairError::NotEnough { needed, available } => write!(
                f,
                "{needed} slices are damaged and only {available} recovery slices are intact"
            ),
            RepairError::Failed(s) => write!(f, "{s}"),
        }
    }
}

impl From<io::Error> for RepairError {
    fn from(e: io::Error) -> Self {
        RepairError::Io(e)
    }
}

/// Rebuilds the damaged files among `wanted` (indices into `set.files`): each is written
/// whole, at the path `out` gives, from the intact slices in `dir` and the recovery slices.
/// The rebuilt files are checked slice by slice before this returns. Returns the number of
/// slices computed.
pub fn rebuild(
    dir: &Path,
    set: &RecoverySet,
    report: &Report,
    wanted: &[usize],
    out: &dyn Fn(usize) -> PathBuf,
    memory: usize,
) -> Result<usize, RepairError> {
    let s = set.slice_size as usize;
    // Global slice numbers: file k's slices start at first[k].
    let mut first = Vec::new();
    let mut n = 0u64;
    for f in &set.files {
        first.push(n);
        n += f.slices.len() as u64;
    }
    let first_ref = &first;
    let missing: Vec<u64> = report
        .files
        .iter()
        .enumerate()
        .flat_map(|(k, st)| st.bad.iter().map(move |j| first_ref[k] + j))
        .collect();
    let targets: Vec<usize> = wanted
        .iter()
        .copied()
        .filter(|k| !report.files[*k].whole(set.files[*k].len))
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let m = missing.len();
    if m > set.recovery.len() {
        return Err(RepairError::NotEnough {
            needed: m,
            available: set.recovery.len(),
        });
    }
    let logs = gf::input_logs(n as usize);
    let rec = &set.recovery[..m];
    let inverse = if m == 0 {
        Vec::new()
    } else {
        let a: Vec<Vec<u16>> = rec
            .iter()
            .map(|r| {
                missing
                    .iter()
                    .map(|&i| gf::coefficient(logs[i as usize], r.exponent))
                    .collect()
            })
            .collect();
        invert(a).ok_or_else(|| {
            RepairError::Failed(
                "the recovery slices at hand do not determine the damaged slices".into(),
            )
        })?
    };
    // Rows of the inverse wanted: the missing slices of the target files.
    let needed: Vec<(usize, usize, u64)> = missing
        .iter()
        .enumerate()
        .filter_map(|(c, &g)| {
            let k = targets
                .iter()
                .copied()
                .find(|&k| g >= first[k] && g < first[k] + set.files[k].slices.len() as u64)?;
            Some((c, k, g - first[k]))
        })
        .collect();

    // Each target starts as a copy of its intact slices.
    let mut outputs = Vec::new();
    for &k in &targets {
        let f = &set.files[k];
        let path = out(k);
        let o = create_fresh(&path).map_err(|e| err("create", &path, e))?;
        o.set_len(f.len).map_err(|e| err("write", &path, e))?;
        if let Ok(src) = open_regular(&dir.join(&f.name)) {
            let mut buf = vec![0u8; s];
            for j in 0..f.slices.len() as u64 {
                if report.files[k].bad.binary_search(&j).is_ok() {
                    continue;
                }
                let len = (f.len - j * s as u64).min(s as u64) as usize;
                read_padded(&src, j * s as u64, &mut buf[..len])
                    .map_err(|e| err("read", &dir.join(&f.name), e))?;
                o.write_all_at(&buf[..len], j * s as u64)
                    .map_err(|e| err("write", &path, e))?;
            }
        }
        outputs.push((k, path, o));
    }

    if m > 0 {
        let handles: Vec<Option<File>> = set
            .files
            .iter()
            .map(|f| open_regular(&dir.join(&f.name)).ok())
            .collect();
        let bad_global: std::collections::HashSet<u64> = missing.iter().copied().collect();
        let chunk = chunk_len(s, m + needed.len(), memory);
        let mut off = 0usize;
        while off < s {
            let len = chunk.min(s - off);
            // B_r = recovery slice r less the intact slices' share.
            let mut b: Vec<Vec<u8>> = Vec::with_capacity(m);
            for r in rec {
                let mut v = vec![0u8; len];
                let f = open_regular(&r.path).map_err(|e| err("read", &r.path, e))?;
                read_padded(&f, r.data_at + off as u64, &mut v)
                    .map_err(|e| err("read", &r.path, e))?;
                b.push(v);
            }
            // The intact slices, a batch at a time.
            let good: Vec<(usize, u64)> = set
                .files
                .iter()
                .enumerate()
                .flat_map(|(k, f)| (0..f.slices.len() as u64).map(move |j| (k, j)))
                .filter(|(k, j)| !bad_global.contains(&(first[*k] + j)))
                .collect();
            let per_batch = (BATCH_BYTES / len).max(1);
            let mut batch = vec![0u8; per_batch * len];
            for group in good.chunks(per_batch) {
                for (i, &(k, j)) in group.iter().enumerate() {
                    let f = &set.files[k];
                    // Checked a moment ago; gone since, it can no longer be read.
                    let h = handles[k].as_ref().ok_or_else(|| {
                        let path = dir.join(&f.name);
                        err("read", &path, io::ErrorKind::NotFound.into())
                    })?;
                    let data_len = (f.len - j * s as u64).min(s as u64) as usize;
                    let take = data_len.saturating_sub(off).min(len);
                    let buf = &mut batch[i * len..(i + 1) * len];
                    read_padded(h, j * s as u64 + off as u64, &mut buf[..take])
                        .map_err(|e| err("read", &dir.join(&f.name), e))?;
                    buf[take..].fill(0);
                }
                let srcs: Vec<&[u8]> = batch[..group.len() * len].chunks(len).collect();
                let coefs: Vec<Vec<u16>> = group
                    .iter()
                    .map(|&(k, j)| {
                        let g = first[k] + j;
                        rec.iter()
                            .map(|r| gf::coefficient(logs[g as usize], r.exponent))
                            .collect()
                    })
                    .collect();
                accumulate(&srcs, &coefs, &mut b);
            }
            // The damaged slices wanted: D_c = sum over r of inverse[c][r] * B_r.
            let mut d: Vec<Vec<u8>> = vec![vec![0u8; len]; needed.len()];
            let srcs: Vec<&[u8]> = b.iter().map(|v| v.as_slice()).collect();
            let coefs: Vec<Vec<u16>> = (0..m)
                .map(|r| needed.iter().map(|(c, _, _)| inverse[*c][r]).collect())
                .collect();
            accumulate(&srcs, &coefs, &mut d);
            for ((_, k, j), data) in needed.iter().zip(&d) {
                let f = &set.files[*k];
                let start = j * s as u64 + off as u64;
                if start >= f.len {
                    continue;
                }
                let keep = ((f.len - start) as usize).min(len);
                let (_, path, o) = outputs.iter().find(|(kk, _, _)| kk == k).expect("target");
                o.write_all_at(&data[..keep], start)
                    .map_err(|e| err("write", path, e))?;
            }
            off += len;
        }
    }

    // Every rebuilt file must match its checksums.
    for (k, path, o) in &outputs {
        o.sync_all().map_err(|e| err("sync", path, e))?;
        let f = &set.files[*k];
        let mut buf = vec![0u8; s];
        for (j, (sum, _)) in f.slices.iter().enumerate() {
            let len = (f.len - j as u64 * s as u64).min(s as u64) as usize;
            read_padded(o, j as u64 * s as u64, &mut buf[..len])
                .map_err(|e| err("read", path, e))?;
            buf[len..].fill(0);
            let got: [u8; 16] = Md5::digest(&buf).into();
            if &got != sum {
                return Err(RepairError::Failed(format!(
                    "the rebuilt {} does not match its checksums (slice {j})",
                    f.name
                )));
            }
        }
    }
    Ok(needed.len())
}

/// The inverse of a square matrix over GF(2^16), by Gauss-Jordan elimination; `None` when
/// it is singular. Rows are eliminated with the multiply-add kernel.
pub fn invert(a: Vec<Vec<u16>>) -> Option<Vec<Vec<u16>>> {
    let m = a.len();
    // Each row: [A | I] as little-endian words.
    let mut rows: Vec<Vec<u8>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = Vec::with_capacity(4 * m);
            for v in row {
                r.extend_from_slice(&v.to_le_bytes());
            }
            for j in 0..m {
                r.extend_from_slice(&u16::from(i == j).to_le_bytes());
            }
            r
        })
        .collect();
    let at = |r: &Vec<u8>, j: usize| u16::from_le_bytes([r[2 * j], r[2 * j + 1]]);
    for p in 0..m {
        let k = (p..m).find(|&k| at(&rows[k], p) != 0)?;
        rows.swap(p, k);
        let scale = gf::inv(at(&rows[p], p));
        let mut pivot = vec![0u8; 4 * m];
        kernel::mul_add_multi(&rows[p], &[scale], &mut [&mut pivot]);
        rows[p] = pivot.clone();
        let mut coefs = Vec::new();
        let mut dsts: Vec<&mut [u8]> = Vec::new();
        for (k, row) in rows.iter_mut().enumerate() {
            let c = at(row, p);
            if k != p && c != 0 {
                coefs.push(c);
                dsts.push(row.as_mut_slice());
            }
        }
        kernel::mul_add_multi(&pivot, &coefs, &mut dsts);
    }
    Some(
        rows.iter()
            .map(|r| (m..2 * m).map(|j| at(r, j)).collect())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn inverse_times_matrix_is_identity() {
        let logs = gf::input_logs(5);
        let a: Vec<Vec<u16>> = (0..5u32)
            .map(|e| logs.iter().map(|&l| gf::coefficient(l, e + 3)).collect())
            .collect();
        let x = invert(a.clone()).expect("invertible");
        for i in 0..5 {
            for j in 0..5 {
                let mut v = 0u16;
                for k in 0..5 {
                    v ^= gf::mul(a[i][k], x[k][j]);
                }
                assert_eq!(v, u16::from(i == j), "({i},{j})");
            }
        }
        assert!(invert(vec![vec![1, 2], vec![1, 2]]).is_none());
    }
}
