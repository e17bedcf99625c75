//! Creating the recovery files of a directory's files.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::gf;
use crate::io::{create_fresh, err, open_regular, read_padded, sync_dir, AlignedBuf, Input};
use crate::kernel;
use crate::md5one::Md5One;
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
    // The data is read once, or twice when the recovery slices are computed a part at a time
    // (the checksums then take a pass of their own).
    let single = chunk_len(s as usize, recovery as usize, opts.memory) == s as usize;
    let total = lengths.iter().sum::<u64>() * if single { 1 } else { 2 };
    let done = AtomicU64::new(0);
    let tick = |bytes: u64| progress(done.fetch_add(bytes, Ordering::Relaxed) + bytes, total);

    // The set's order and ID need only the first 16 KiB of each file.
    let mut heads = Vec::new();
    for p in &paths {
        let f = open_regular(p).map_err(|e| err("read", p, e))?;
        let mut head = vec![0u8; 16384];
        let got = read_padded(&f, 0, &mut head).map_err(|e| err("read", p, e))?;
        heads.push(packet::md5(&head[..got]));
    }
    let ids: Vec<Md5Hash> = (0..names.len())
        .map(|k| packet::file_id(&heads[k], lengths[k], &names[k]))
        .collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|k| ids[*k]);
    let sorted_ids: Vec<Md5Hash> = order.iter().map(|k| ids[*k]).collect();
    let set_id = packet::md5(&packet::main_body(s, &sorted_ids));
    let named: Vec<(&str, u64)> = order
        .iter()
        .map(|k| (names[*k].as_str(), lengths[*k]))
        .collect();
    let desc_len = rule::description_len(&named, s, opts.creator);

    // The volume files, at their final length: recovery packets, then the description.
    let packet_len = (packet::HEADER_LEN + 4) as u64 + s;
    let counts = rule::volume_counts(recovery);
    let mut volumes = Vec::new();
    let mut first = 0u32;
    for count in &counts {
        let name = rule::volume_name(opts.base, first, *count, recovery);
        let tmp = opts.dir.join(format!("{name}{}", opts.tmp_suffix));
        let file = create_fresh(&tmp).map_err(|e| err("create", &tmp, e))?;
        file.set_len(u64::from(*count) * packet_len + desc_len)
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
        (
            v,
            u64::from(e - v.first) * packet_len + (packet::HEADER_LEN + 4) as u64,
        )
    };

    let logs = gf::input_logs(n as usize);
    let inputs = slice_list(&order, &lengths, s);
    let files: Vec<Input> = paths
        .iter()
        .map(|p| Input::open(p).map_err(|e| err("read", p, e)))
        .collect::<io::Result<_>>()?;
    let chunk = chunk_len(s as usize, recovery as usize, opts.memory);
    // With the whole slices at once, the checksums are computed from the same reads.
    let mut whole: Vec<Md5One> = (0..names.len()).map(|_| Md5One::new()).collect();
    let mut slice_sums: Vec<(Md5Hash, u32)> = Vec::with_capacity(inputs.len());
    let mut acc: Vec<Vec<u8>> = vec![Vec::new(); recovery as usize];
    let mut off = 0usize;
    while off < s as usize {
        let len = chunk.min(s as usize - off);
        for a in acc.iter_mut() {
            a.clear();
            a.resize(len, 0);
        }
        let per_batch = (BATCH_BYTES / len).max(1);
        let groups: Vec<&[InputSlice]> = inputs.chunks(per_batch).collect();
        // One batch is worked on while the next is read.
        let read_group = |buf: &mut [u8], group: &[InputSlice]| -> io::Result<()> {
            for (j, input) in group.iter().enumerate() {
                let buf = &mut buf[j * len..(j + 1) * len];
                let take = (input.len as usize).saturating_sub(off).min(len);
                files[input.file]
                    .read_slice(input.offset + off as u64, buf, take)
                    .map_err(|e| err("read", &paths[input.file], e))?;
            }
            Ok(())
        };
        // Aligned, so that slices are read around the page cache where they can be.
        let mut cur = AlignedBuf::new(per_batch.min(inputs.len()) * len);
        let mut next = AlignedBuf::new(cur.len());
        if let Some(g) = groups.first() {
            read_group(&mut cur, g)?;
        }
        for (b, group) in groups.iter().enumerate() {
            let base = b * per_batch;
            let batch = &cur[..group.len() * len];
            let srcs: Vec<&[u8]> = batch.chunks(len).collect();
            let coefs: Vec<Vec<u16>> = (0..group.len())
                .map(|j| {
                    (0..recovery)
                        .map(|e| gf::coefficient(logs[base + j], e))
                        .collect()
                })
                .collect();
            let (work, fetched) = rayon::join(
                || {
                    if !single {
                        accumulate(&srcs, &coefs, &mut acc);
                        return Vec::new();
                    }
                    let (_, sums) = rayon::join(
                        || {
                            for (j, input) in group.iter().enumerate() {
                                whole[input.file].update(&srcs[j][..input.len as usize]);
                            }
                        },
                        || {
                            rayon::join(
                                || {
                                    // Whole slices, zero-padded: one length, many MD5s at once.
                                    let (md5s, crcs) = rayon::join(
                                        || crate::md5x::md5_many_parallel(&srcs),
                                        || {
                                            srcs.par_iter()
                                                .map(|d| crc32fast::hash(d))
                                                .collect::<Vec<_>>()
                                        },
                                    );
                                    md5s.into_iter().zip(crcs).collect::<Vec<_>>()
                                },
                                || accumulate(&srcs, &coefs, &mut acc),
                            )
                            .0
                        },
                    );
                    sums
                },
                || match groups.get(b + 1) {
                    Some(g) => read_group(&mut next, g),
                    None => Ok(()),
                },
            );
            fetched?;
            slice_sums.extend(work);
            let data: u64 = group
                .iter()
                .map(|i| (i.len as usize).saturating_sub(off).min(len) as u64)
                .sum();
            tick(data);
            std::mem::swap(&mut cur, &mut next);
        }
        acc.par_iter().enumerate().try_for_each(|(e, data)| {
            let (v, at) = place(e as u32);
            if single {
                let header = packet::recovery_packet_header(&set_id, e as u32, data);
                v.file
                    .write_all_at(&header, at - header.len() as u64)
                    .map_err(|er| err("write", &v.tmp, er))?;
            }
            v.file
                .write_all_at(data, at + off as u64)
                .map_err(|er| err("write", &v.tmp, er))
        })?;
        off += len;
    }
    drop(acc);
    if !single {
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
    }

    // The description: checksums of every file and slice.
    let summaries: Vec<FileSummary> = if single {
        let mut at = 0;
        let mut whole: Vec<Option<Md5One>> = whole.into_iter().map(Some).collect();
        order
            .iter()
            .map(|&k| {
                let count = lengths[k].div_ceil(s) as usize;
                let slices = slice_sums[at..at + count].to_vec();
                at += count;
                FileSummary {
                    name: names[k].clone(),
                    id: ids[k],
                    md5: whole[k].take().expect("once").finalize(),
                    md5_16k: heads[k],
                    len: lengths[k],
                    slices,
                }
            })
            .collect()
    } else {
        order
            .iter()
            .map(|&k| summarise(&names[k], &paths[k], s, &tick))
            .collect::<io::Result<_>>()?
    };
    let description = description(&set_id, s, &summaries, opts.creator);
    debug_assert_eq!(description.len() as u64, desc_len);
    for v in &volumes {
        v.file
            .write_all_at(&description, u64::from(v.count) * packet_len)
            .map_err(|e| err("write", &v.tmp, e))?;
    }

    let mut written = Vec::new();
    let index = rule::index_name(opts.base);
    let tmp = opts.dir.join(format!("{index}{}", opts.tmp_suffix));
    {
        let mut f = create_fresh(&tmp).map_err(|e| err("create", &tmp, e))?;
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

/// The input slices in the set's order: files in `order` (indices into `lengths`), slices in
/// file order.
pub(crate) fn slice_list(order: &[usize], lengths: &[u64], s: u64) -> Vec<InputSlice> {
    let mut out = Vec::new();
    for &k in order {
        let len = lengths[k];
        for j in 0..len.div_ceil(s) {
            out.push(InputSlice {
                file: k,
                offset: j * s,
                len: (len - j * s).min(s),
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
    let file = open_regular(path).map_err(|e| err("read", path, e))?;
    let len = file.metadata().map_err(|e| err("read", path, e))?.len();
    let per_block = (64 << 20) / s as usize;
    let block = per_block.max(1) * s as usize;
    let mut whole = Md5One::new();
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
        md5: whole.finalize(),
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

/// Bytes of input slices read and worked on at once.
pub(crate) const BATCH_BYTES: usize = 32 << 20;

/// Bytes of all destinations together that one tile keeps in the processor's cache.
const TILE_BYTES: usize = 768 << 10;

/// `acc[k] ^= coefs[j][k] * srcs[j]` for every source `j` and destination `k`, all of one
/// length. The length is cut into tiles small enough that the tile of every destination
/// stays in cache while all sources are added to it; the tiles are shared among the threads.
pub(crate) fn accumulate(srcs: &[&[u8]], coefs: &[Vec<u16>], acc: &mut [Vec<u8>]) {
    let Some(len) = acc.first().map(|a| a.len()) else {
        return;
    };
    let tile = (TILE_BYTES / acc.len().max(1) / 64 * 64).clamp(256, len.max(256));
    let mut tiles: Vec<Vec<&mut [u8]>> = Vec::new();
    for a in acc.iter_mut() {
        for (t, piece) in a.chunks_mut(tile).enumerate() {
            if tiles.len() <= t {
                tiles.push(Vec::new());
            }
            tiles[t].push(piece);
        }
    }
    tiles.into_par_iter().enumerate().for_each(|(t, mut ds)| {
        let start = t * tile;
        let end = (start + tile).min(len);
        let tile_srcs: Vec<&[u8]> = srcs.iter().map(|s| &s[start..end]).collect();
        kernel::mul_add_many(&tile_srcs, coefs, &mut ds);
    });
}
