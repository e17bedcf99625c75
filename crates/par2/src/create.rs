//! Creating the recovery files of a directory's files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::gf;
use crate::io::{err, read_padded, sync_dir};
use crate::kernel;
use crate::packet::{self, Md5Hash};
use crate::rule;

/// What to protect and how.
pub struct CreateOptions<'a> {
    /// The directory holding the files; the recovery files are written into it.
    pub dir: &'a Path,
    /// Names of the files to protect, inside `dir`.
    pub files: &'a [String],
    /// The name the recovery files start with (`BASE.par2`, `BASE.volNNN+NNN.par2`).
    pub base: &'a str,
    /// Recovery data as a share (0 to 100) of the slices of the data.
    pub percent: u32,
    /// Names the program in the creator packet.
    pub creator: &'a str,
    /// Suffix of files being written; each is renamed to its name once whole and synced.
    pub tmp_suffix: &'a str,
    /// The most memory the recovery slices being computed may take at once.
    pub memory: usize,
}

/// Called with the bytes read so far and the bytes to read in all.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// One protected file as the description records it.
#[derive(Debug, Clone)]
pub struct FileSummary {
    pub name: String,
    pub id: Md5Hash,
    pub md5: Md5Hash,
    pub md5_16k: Md5Hash,
    pub len: u64,
    pub slices: Vec<(Md5Hash, u32)>,
}

/// Writes the recovery files of `opts.files` and returns their names and lengths (nothing
/// when the share makes no recovery slice). Empty files hold nothing to repair and are left
/// out of the set.
pub fn create(opts: &CreateOptions, progress: ProgressFn) -> io::Result<Vec<(String, u64)>> {
    let mut names = Vec::new();
    let mut lengths = Vec::new();
    for name in opts.files {
        let p = opts.dir.join(name);
        let len = fs::metadata(&p).map_err(|e| err("read", &p, e))?.len();
        if len > 0 {
            names.push(name.clone());
            lengths.push(len);
        }
    }
    let paths: Vec<PathBuf> = names.iter().map(|f| opts.dir.join(f)).collect();
    let s = rule::slice_size(&lengths);
    let n = rule::input_slices(&lengths, s);
    let recovery = rule::recovery_slices(n, opts.percent);
    if recovery == 0 {
        return Ok(Vec::new());
    }
    let total = lengths.iter().sum::<u64>() * 2;
    let done = AtomicU64::new(0);
    let tick = |bytes: u64| progress(done.fetch_add(bytes, Ordering::Relaxed) + bytes, total);

    // The description: checksums of every file and slice.
    let mut summaries = Vec::new();
    for (name, path) in names.iter().zip(&paths) {
        summaries.push(summarise(name, path, s, &tick)?);
    }
    summaries.sort_by_key(|f| f.id);
    let ids: Vec<Md5Hash> = summaries.iter().map(|f| f.id).collect();
    let main = packet::main_body(s, &ids);
    let set_id = packet::md5(&main);
    let description = description(&set_id, s, &summaries, opts.creator);

    // The volume files, written in full at their final length, recovery data filled in
    // by byte range.
    let counts = rule::volume_counts(recovery);
    let mut volumes = Vec::new();
    let mut first = 0u32;
    for count in &counts {
        let name = rule::volume_name(opts.base, first, *count, recovery);
        let tmp = opts.dir.join(format!("{name}{}", opts.tmp_suffix));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| err("create", &tmp, e))?;
        let packet_len = (packet::HEADER_LEN + 4) as u64 + s;
        file.set_len(u64::from(*count) * packet_len + description.len() as u64)
            .map_err(|e| err("write", &tmp, e))?;
        file.write_all_at(&description, u64::from(*count) * packet_len)
            .map_err(|e| err("write", &tmp, e))?;
        volumes.push(Volume {
            name,
            tmp,
            file,
            first,
            count: *count,
        });
        first += count;
    }
    // Where recovery slice `e`'s data goes.
    let place = |e: u32| -> (&Volume, u64) {
        let v = volumes
            .iter()
            .find(|v| e >= v.first && e < v.first + v.count)
            .expect("every exponent has a volume");
        let packet_len = (packet::HEADER_LEN + 4) as u64 + s;
        (
            v,
            u64::from(e - v.first) * packet_len + (packet::HEADER_LEN + 4) as u64,
        )
    };

    let logs = gf::input_logs(n as usize);
    let inputs = slice_list(&summaries, &names, s);
    let files: Vec<File> = paths
        .iter()
        .map(|p| File::open(p).map_err(|e| err("read", p, e)))
        .collect::<io::Result<_>>()?;
    let chunk = chunk_len(s as usize, recovery as usize, opts.memory);
    let mut acc: Vec<Vec<u8>> = vec![Vec::new(); recovery as usize];
    let mut src = vec![0u8; chunk];
    let mut off = 0usize;
    while off < s as usize {
        let len = chunk.min(s as usize - off);
        for a in acc.iter_mut() {
            a.clear();
            a.resize(len, 0);
        }
        for (i, input) in inputs.iter().enumerate() {
            let f = &files[input.file];
            let buf = &mut src[..len];
            read_padded(f, input.offset + off as u64, buf)
                .map_err(|e| err("read", &paths[input.file], e))?;
            let coefs: Vec<u16> = (0..recovery).map(|e| gf::coefficient(logs[i], e)).collect();
            mul_add_parallel(buf, &coefs, &mut acc);
            tick(len.min(input.len.saturating_sub(off as u64) as usize) as u64);
        }
        acc.par_iter().enumerate().try_for_each(|(e, data)| {
            let (v, at) = place(e as u32);
            v.file
                .write_all_at(data, at + off as u64)
                .map_err(|er| err("write", &v.tmp, er))
        })?;
        off += len;
    }

    // The recovery packets' headers, whose MD5 covers the data now written.
    (0..recovery).into_par_iter().try_for_each(|e| {
        let (v, at) = place(e);
        let mut data = vec![0u8; s as usize];
        read_padded(&v.file, at, &mut data).map_err(|er| err("read", &v.tmp, er))?;
        let header = packet::recovery_packet_header(&set_id, e, &data);
        v.file
            .write_all_at(&header, at - header.len() as u64)
            .map_err(|er| err("write", &v.tmp, er))
    })?;

    let mut written = Vec::new();
    let index = rule::index_name(opts.base);
    let tmp = opts.dir.join(format!("{index}{}", opts.tmp_suffix));
    {
        let mut f = File::create(&tmp).map_err(|e| err("create", &tmp, e))?;
        f.write_all(&description)
            .map_err(|e| err("write", &tmp, e))?;
        f.sync_all().map_err(|e| err("sync", &tmp, e))?;
    }
    fs::rename(&tmp, opts.dir.join(&index)).map_err(|e| err("rename", &tmp, e))?;
    written.push((index, description.len() as u64));
    for v in volumes {
        v.file.sync_all().map_err(|e| err("sync", &v.tmp, e))?;
        let len = v.file.metadata().map_err(|e| err("read", &v.tmp, e))?.len();
        fs::rename(&v.tmp, opts.dir.join(&v.name)).map_err(|e| err("rename", &v.tmp, e))?;
        written.push((v.name, len));
    }
    sync_dir(opts.dir)?;
    Ok(written)
}

struct Volume {
    name: String,
    tmp: PathBuf,
    file: File,
    first: u32,
    count: u32,
}

/// One input slice: which file, where in it, how many of its bytes are data.
pub(crate) struct InputSlice {
    pub file: usize,
    pub offset: u64,
    pub len: u64,
}

/// The input slices in the set's order (files by ID, slices in file order). `files[k]` is the
/// name of the k-th file; the returned `file` indexes them.
pub(crate) fn slice_list(summaries: &[FileSummary], files: &[String], s: u64) -> Vec<InputSlice> {
    let mut out = Vec::new();
    for f in summaries {
        let k = files
            .iter()
            .position(|n| *n == f.name)
            .expect("summarised file");
        let count = f.len.div_ceil(s);
        for j in 0..count {
            out.push(InputSlice {
                file: k,
                offset: j * s,
                len: (f.len - j * s).min(s),
            });
        }
    }
    out
}

/// One copy of the set's description: main packet, per file its description and slice
/// checksums, the creator packet.
pub(crate) fn description(
    set_id: &Md5Hash,
    s: u64,
    files: &[FileSummary],
    creator: &str,
) -> Vec<u8> {
    let ids: Vec<Md5Hash> = files.iter().map(|f| f.id).collect();
    let mut out = packet::packet(set_id, packet::MAIN, &packet::main_body(s, &ids));
    for f in files {
        out.extend(packet::packet(
            set_id,
            packet::FILE_DESC,
            &packet::file_desc_body(&f.id, &f.md5, &f.md5_16k, f.len, &f.name),
        ));
        out.extend(packet::packet(
            set_id,
            packet::IFSC,
            &packet::ifsc_body(&f.id, &f.slices),
        ));
    }
    out.extend(packet::packet(set_id, packet::CREATOR, creator.as_bytes()));
    out
}

/// The checksums of a file: whole, first 16 KiB, every slice (zero-padded). The file is read
/// once, in blocks whose slices are checked in parallel while the whole-file MD5 runs.
pub fn summarise(
    name: &str,
    path: &Path,
    s: u64,
    tick: &(dyn Fn(u64) + Sync),
) -> io::Result<FileSummary> {
    let file = File::open(path).map_err(|e| err("read", path, e))?;
    let len = file.metadata().map_err(|e| err("read", path, e))?.len();
    let per_block = (64 << 20) / s as usize;
    let block = per_block.max(1) * s as usize;
    let mut whole = Md5::new();
    let mut head = Md5::new();
    let mut slices = Vec::with_capacity(len.div_ceil(s) as usize);
    let mut buf = vec![0u8; block];
    let mut at = 0u64;
    while at < len {
        let want = (len - at).min(block as u64) as usize;
        let got = read_padded(&file, at, &mut buf[..want]).map_err(|e| err("read", path, e))?;
        if got < want {
            return Err(err(
                "read",
                path,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was read",
                ),
            ));
        }
        let data = &buf[..want];
        if at < 16384 {
            head.update(&data[..data.len().min((16384 - at) as usize)]);
        }
        let (_, sums) = rayon::join(
            || whole.update(data),
            || {
                data.par_chunks(s as usize)
                    .map(|c| slice_checksum(c, s as usize))
                    .collect::<Vec<_>>()
            },
        );
        slices.extend(sums);
        tick(want as u64);
        at += want as u64;
    }
    let md5_16k: Md5Hash = head.finalize().into();
    Ok(FileSummary {
        name: name.to_string(),
        id: packet::file_id(&md5_16k, len, name),
        md5: whole.finalize().into(),
        md5_16k,
        len,
        slices,
    })
}

/// MD5 and CRC32 of a slice padded with zeros to `s` bytes.
pub fn slice_checksum(data: &[u8], s: usize) -> (Md5Hash, u32) {
    let mut m = Md5::new();
    let mut c = crc32fast::Hasher::new();
    m.update(data);
    c.update(data);
    if data.len() < s {
        let zeros = vec![0u8; s - data.len()];
        m.update(&zeros);
        c.update(&zeros);
    }
    (m.finalize().into(), c.finalize())
}

/// How many bytes of each slice to work on at once so that `count` buffers fit `memory`:
/// the whole slice when they do, else a multiple of 64 bytes.
pub(crate) fn chunk_len(s: usize, count: usize, memory: usize) -> usize {
    if s.saturating_mul(count) <= memory {
        return s;
    }
    ((memory / count.max(1)) / 64 * 64).clamp(64, s)
}

/// `dsts[k] ^= coefs[k] * src` for every k, the bytes split between the threads.
pub(crate) fn mul_add_parallel(src: &[u8], coefs: &[u16], dsts: &mut [Vec<u8>]) {
    let threads = rayon::current_num_threads().max(1);
    let part = src.len().div_ceil(threads).next_multiple_of(64).max(64);
    let mut parts: Vec<Vec<&mut [u8]>> = Vec::new();
    for d in dsts.iter_mut() {
        for (k, piece) in d.chunks_mut(part).enumerate() {
            if parts.len() <= k {
                parts.push(Vec::new());
            }
            parts[k].push(piece);
        }
    }
    parts.into_par_iter().enumerate().for_each(|(k, mut ds)| {
        let start = k * part;
        let end = (start + part).min(src.len());
        kernel::mul_add_multi(&src[start..end], coefs, &mut ds);
    });
}
