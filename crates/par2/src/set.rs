//! Reading a recovery set back from its files, whatever damage they have taken: every intact
//! packet counts, wherever it is.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::create::FileSummary;
use crate::gf::MAX_INPUT_SLICES;
use crate::io::{err, open_regular, plain_name, read_padded};
use crate::packet::{self, Found, Md5Hash};

/// Where one recovery slice's data lies.
#[derive(Debug, Clone)]
pub struct RecoveryPlace {
    pub exponent: u32,
    pub path: PathBuf,
    pub data_at: u64,
}

/// What one recovery file gave.
#[derive(Debug, Clone)]
pub struct SetFile {
    pub name: String,
    pub len: u64,
    /// Bytes of the file inside intact packets of the set.
    pub intact: u64,
    /// Recovery slices found intact in it.
    pub recovery: usize,
}

impl SetFile {
    /// Whether every byte of the file belongs to an intact packet.
    pub fn whole(&self) -> bool {
        self.intact == self.len
    }
}

/// A recovery set as read from its files.
#[derive(Debug, Clone)]
pub struct RecoverySet {
    pub set_id: Md5Hash,
    pub slice_size: u64,
    /// The protected files in the set's order (their slices are numbered in this order).
    pub files: Vec<FileSummary>,
    /// The recovery slices found intact, by exponent.
    pub recovery: Vec<RecoveryPlace>,
    /// What each recovery file gave.
    pub set_files: Vec<SetFile>,
    pub creator: Option<String>,
}

/// Why no set could be read.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    /// No intact main packet, or a file of the set without its description or checksums.
    Incomplete(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Incomplete(s) => write!(f, "{s}"),
        }
    }
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        LoadError::Io(e)
    }
}

/// Reads the set from the recovery files `names` inside `dir` (missing ones are skipped and
/// reported with length 0).
pub fn load(dir: &Path, names: &[String]) -> Result<RecoverySet, LoadError> {
    let mut scanned = Vec::new();
    for name in names {
        let path = dir.join(name);
        // A name that is no plain file name of `dir`, or no regular file (a FIFO, a device),
        // is never read: it counts as missing.
        let opened = match plain_name(name) {
            true => open_regular(&path),
            false => Err(io::ErrorKind::InvalidInput.into()),
        };
        match opened {
            Ok(f) => {
                let len = f.metadata().map_err(|e| err("read", &path, e))?.len();
                let found = scan_file(&f, len).map_err(|e| err("read", &path, e))?;
                scanned.push((name.clone(), path, len, found));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                scanned.push((name.clone(), path, 0, Vec::new()));
            }
            Err(e) => return Err(err("read", &path, e).into()),
        }
    }
    // The set is the one of the intact main packets.
    let mut mains: BTreeMap<Md5Hash, (PathBuf, Found)> = BTreeMap::new();
    for (_, path, _, found) in &scanned {
        for p in found.iter().filter(|p| &p.kind == packet::MAIN) {
            mains
                .entry(p.set_id)
                .or_insert_with(|| (path.clone(), p.clone()));
        }
    }
    let Some((set_id, (main_path, main))) = mains.into_iter().next() else {
        return Err(LoadError::Incomplete(
            "no intact main packet in the recovery files".into(),
        ));
    };
    let body = read_body(&main_path, &main)?;
    if body.len() < 12 {
        return Err(LoadError::Incomplete("a main packet too short".into()));
    }
    let slice_size = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let count = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    if body.len() < 12 + 16 * count || slice_size == 0 || slice_size % 4 != 0 {
        return Err(LoadError::Incomplete(
            "a main packet that does not hold together".into(),
        ));
    }
    check_main(dir, slice_size, count)?;
    let ids: Vec<Md5Hash> = (0..count)
        .map(|k| body[12 + 16 * k..28 + 16 * k].try_into().expect("16 bytes"))
        .collect();

    let mut descs: BTreeMap<Md5Hash, (String, Md5Hash, Md5Hash, u64)> = BTreeMap::new();
    let mut sums: BTreeMap<Md5Hash, Vec<(Md5Hash, u32)>> = BTreeMap::new();
    let mut recovery: BTreeMap<u32, RecoveryPlace> = BTreeMap::new();
    let mut creator = None;
    let mut set_files = Vec::new();
    for (name, path, len, found) in &scanned {
        let mut intact = 0;
        let mut rec = 0;
        for p in found.iter().filter(|p| p.set_id == set_id) {
            intact += p.body_len + packet::HEADER_LEN as u64;
            if &p.kind == packet::RECOVERY {
                rec += 1;
                if p.body_len >= 4 + slice_size {
                    let mut e = [0u8; 4];
                    read_exact_at(path, p.body_at, &mut e)?;
                    recovery
                        .entry(u32::from_le_bytes(e))
                        .or_insert(RecoveryPlace {
                            exponent: u32::from_le_bytes(e),
                            path: path.clone(),
                            data_at: p.body_at + 4,
                        });
                }
                continue;
            }
            let b = read_body(path, p)?;
            if &p.kind == packet::FILE_DESC && b.len() >= 56 {
                let id: Md5Hash = b[0..16].try_into().expect("16");
                if descs.contains_key(&id) {
                    continue;
                }
                let md5: Md5Hash = b[16..32].try_into().expect("16");
                let md5_16k: Md5Hash = b[32..48].try_into().expect("16");
                let flen = u64::from_le_bytes(b[48..56].try_into().expect("8"));
                let raw = &b[56..];
                let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
                let fname = String::from_utf8_lossy(&raw[..end]).into_owned();
                descs.insert(id, (fname, md5, md5_16k, flen));
            } else if &p.kind == packet::IFSC && b.len() >= 16 {
                let id: Md5Hash = b[0..16].try_into().expect("16");
                let list = b[16..]
                    .chunks_exact(20)
                    .map(|c| {
                        (
                            c[0..16].try_into().expect("16"),
                            u32::from_le_bytes(c[16..20].try_into().expect("4")),
                        )
                    })
                    .collect();
                sums.entry(id).or_insert(list);
            } else if &p.kind == packet::CREATOR && creator.is_none() {
                let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
                creator = Some(String::from_utf8_lossy(&b[..end]).into_owned());
            }
        }
        set_files.push(SetFile {
            name: name.clone(),
            len: *len,
            intact,
            recovery: rec,
        });
    }
    let mut files: Vec<FileSummary> = Vec::new();
    let mut total_slices = 0usize;
    for id in ids {
        let Some((name, md5, md5_16k, len)) = descs.remove(&id) else {
            return Err(LoadError::Incomplete(
                "a file of the set has no intact description".into(),
            ));
        };
        check_name(&name, &files)?;
        let Some(slices) = sums.remove(&id) else {
            return Err(LoadError::Incomplete(format!(
                "{name} has no intact slice checksums"
            )));
        };
        if slices.len() as u64 != len.div_ceil(slice_size) {
            return Err(LoadError::Incomplete(format!(
                "the slice checksums of {name} do not match its length"
            )));
        }
        total_slices += slices.len();
        if total_slices > MAX_INPUT_SLICES {
            return Err(LoadError::Incomplete(format!(
                "the files of the set have more than the {MAX_INPUT_SLICES} slices PAR2 allows"
            )));
        }
        files.push(FileSummary {
            name,
            id,
            md5,
            md5_16k,
            len,
            slices,
        });
    }
    Ok(RecoverySet {
        set_id,
        slice_size,
        files,
        recovery: recovery.into_values().collect(),
        set_files,
        creator,
    })
}

/// The main packet's numbers must fit the directory: at most [`MAX_INPUT_SLICES`] files, and
/// slices no larger than its largest file (or 1 MiB), so that a crafted slice size cannot
/// make checking or repair allocate beyond what the files themselves take.
fn check_main(dir: &Path, slice_size: u64, count: usize) -> Result<(), LoadError> {
    if count > MAX_INPUT_SLICES {
        return Err(LoadError::Incomplete(format!(
            "a main packet naming {count} files, more than PAR2 allows"
        )));
    }
    let bound = largest_file(dir).max(1 << 20).next_multiple_of(4);
    if slice_size > bound {
        return Err(LoadError::Incomplete(format!(
            "a main packet with slices of {slice_size} bytes, larger than any file of {}",
            dir.display()
        )));
    }
    Ok(())
}

/// The length of the largest regular file in `dir` (0 when it cannot be read).
fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// A protected file's name must be a plain file name of the directory, given once: it is
/// read there, and repair writes it there.
fn check_name(name: &str, earlier: &[FileSummary]) -> Result<(), LoadError> {
    if !plain_name(name) {
        return Err(LoadError::Incomplete(format!(
            "the recovery data names {name:?}, which is not a file name of the directory"
        )));
    }
    if earlier.iter().any(|f| f.name == name) {
        return Err(LoadError::Incomplete(format!(
            "the recovery data names {name:?} twice"
        )));
    }
    Ok(())
}

fn read_body(path: &Path, p: &Found) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; p.body_len as usize];
    read_exact_at(path, p.body_at, &mut b)?;
    Ok(b)
}

fn read_exact_at(path: &Path, at: u64, buf: &mut [u8]) -> io::Result<()> {
    let f = open_regular(path).map_err(|e| err("read", path, e))?;
    f.read_exact_at(buf, at).map_err(|e| err("read", path, e))
}

/// Finds the intact packets of a file, reading it a window at a time.
fn scan_file(f: &File, len: u64) -> io::Result<Vec<Found>> {
    const WINDOW: usize = 4 << 20;
    let mut out = Vec::new();
    let mut window = vec![0u8; WINDOW];
    let mut packet_buf = Vec::new();
    let mut at = 0u64;
    while at + packet::HEADER_LEN as u64 <= len {
        let n = (len - at).min(WINDOW as u64) as usize;
        read_padded(f, at, &mut window[..n])?;
        let Some(pos) = window[..n].windows(8).position(|w| w == packet::MAGIC) else {
            // Keep the last 7 bytes: a magic may straddle windows.
            at += (n as u64).saturating_sub(7).max(1);
            continue;
        };
        let start = at + pos as u64;
        let mut header = [0u8; packet::HEADER_LEN];
        if start + packet::HEADER_LEN as u64 > len {
            break;
        }
        read_padded(f, start, &mut header)?;
        let plen = u64::from_le_bytes(header[8..16].try_into().expect("8"));
        let sane = plen >= packet::HEADER_LEN as u64
            && plen % 4 == 0
            && start + plen <= len
            && plen <= 1 << 32;
        if sane {
            packet_buf.resize(plen as usize, 0);
            read_padded(f, start, &mut packet_buf)?;
            if packet::md5(&packet_buf[32..]) == packet_buf[16..32] {
                out.push(Found {
                    set_id: packet_buf[32..48].try_into().expect("16"),
                    kind: packet_buf[48..64].try_into().expect("16"),
                    body_at: start + packet::HEADER_LEN as u64,
                    body_len: plen - packet::HEADER_LEN as u64,
                });
                at = start + plen;
                continue;
            }
        }
        at = start + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::{create, CreateOptions};

    fn set_over(dir: &Path, files: &[String]) -> Vec<String> {
        let opts = CreateOptions {
            dir,
            files,
            base: "t",
            percent: 10,
            creator: "test",
            tmp_suffix: ".partial",
            memory: 1 << 20,
        };
        create(&opts, &|_, _| {}).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".par2"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_set_naming_a_file_outside_its_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::write(tmp.path().join("outside"), vec![2u8; 10_000]).unwrap();
        let names = set_over(&dir, &["a".into(), "../outside".into()]);
        match load(&dir, &names) {
            Err(LoadError::Incomplete(why)) => assert!(why.contains("../outside"), "{why}"),
            other => panic!("{:?}", other.map(|s| s.files.len())),
        }
    }

    #[test]
    fn a_recovery_file_that_is_a_fifo_counts_as_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("a"), vec![1u8; 10_000]).unwrap();
        let names = set_over(dir, &["a".into()]);
        let vol = dir.join(&names[1]);
        std::fs::remove_file(&vol).unwrap();
        let c = std::ffi::CString::new(vol.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other precondition.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let set = load(dir, &names).unwrap();
        assert_eq!(set.set_files[1].len, 0);
        assert!(set.recovery.is_empty());
    }
}
