//! butcher's choice of PAR2 parameters for a disc: the slice size and the number of recovery
//! slices, and the exact sizes of the files they make (for the disc's capacity accounting).

use crate::gf::MAX_INPUT_SLICES;
use crate::packet::packet_len;

/// Slice sizes are whole multiples of this: two 2048-byte sectors, so that one unreadable
/// sector of a disc costs one slice.
pub const SLICE_UNIT: u64 = 4096;

/// The most recovery files (`*.volNNN+NNN.par2`) a disc carries; each holds a share of the
/// recovery slices and one copy of the set's description.
pub const MAX_VOLUME_FILES: u32 = 8;

/// The slice size for files of these lengths: the data over 1,024 slices, but no more than
/// 1 MiB unless the data needs more than 10,240 slices of 1 MiB (then the data over 10,240);
/// at least 4 KiB; a multiple of 4 KiB; doubled while the files would need more than the
/// 32,768 slices PAR2 allows. Every non-empty file takes at least one slice, so at most
/// [`MAX_FILES`] files can be protected; the rule is not asked for more.
pub fn slice_size(lengths: &[u64]) -> u64 {
    assert!(
        lengths.len() <= MAX_FILES,
        "at most {MAX_FILES} files in a set"
    );
    let total: u64 = lengths.iter().sum();
    let target = (total / 1024)
        .min(1 << 20)
        .max(total / 10240)
        .max(SLICE_UNIT);
    let mut s = target.next_multiple_of(SLICE_UNIT);
    while input_slices(lengths, s) > MAX_INPUT_SLICES as u64 {
        s *= 2;
    }
    s
}

/// The most files one set protects (each takes at least one of PAR2's 32,768 slices).
pub const MAX_FILES: usize = MAX_INPUT_SLICES;

/// How many slices of `slice_size` the files are cut into (each file starts a new slice; an
/// empty file has none).
pub fn input_slices(lengths: &[u64], slice_size: u64) -> u64 {
    lengths.iter().map(|l| l.div_ceil(slice_size)).sum()
}

/// The number of recovery slices for `percent` (0 to 100) of `input` slices, rounded up.
pub fn recovery_slices(input: u64, percent: u32) -> u32 {
    (input * u64::from(percent)).div_ceil(100) as u32
}

/// The shares of `recovery` slices among the volume files: as even as can be, earlier files
/// taking the remainder, never an empty file.
pub fn volume_counts(recovery: u32) -> Vec<u32> {
    if recovery == 0 {
        return Vec::new();
    }
    let files = recovery.min(MAX_VOLUME_FILES);
    (0..files)
        .map(|k| recovery / files + u32::from(k < recovery % files))
        .collect()
}

/// The name of the volume file holding recovery slices `first` to `first + count - 1` of a
/// set of `recovery` slices: `BASE.volFFF+CCC.par2`, both numbers with at least three digits,
/// as many as the largest needs.
pub fn volume_name(base: &str, first: u32, count: u32, recovery: u32) -> String {
    let width = recovery.to_string().len().max(3);
    format!("{base}.vol{first:0width$}+{count:0width$}.par2")
}

/// The name of the index file.
pub fn index_name(base: &str) -> String {
    format!("{base}.par2")
}

/// Bytes of one copy of the set's description: main packet, a file description and a slice
/// checksum packet per file, the creator packet.
pub fn description_len(files: &[(&str, u64)], slice_size: u64, creator: &str) -> u64 {
    let mut n = packet_len(12 + 16 * files.len()) + packet_len(creator.len());
    for (name, len) in files {
        n += packet_len(56 + name.len());
        n += packet_len(16 + 20 * len.div_ceil(slice_size) as usize);
    }
    n as u64
}

/// The files a set for `files` (name, length) at `percent` makes, with their lengths: the
/// index file, then the volume files in order.
pub fn planned_files(
    files: &[(&str, u64)],
    percent: u32,
    base: &str,
    creator: &str,
) -> Vec<(String, u64)> {
    let lengths: Vec<u64> = files.iter().map(|f| f.1).collect();
    let s = slice_size(&lengths);
    let recovery = recovery_slices(input_slices(&lengths, s), percent);
    if recovery == 0 {
        return Vec::new();
    }
    let desc = description_len(files, s, creator);
    let mut out = vec![(index_name(base), desc)];
    let mut first = 0;
    for count in volume_counts(recovery) {
        let len = desc + u64::from(count) * (packet_len(4) as u64 + s);
        out.push((volume_name(base, first, count, recovery), len));
        first += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slice_size_rule() {
        // A 25 GB disc at 10 %: at least 1,000 recovery slices.
        let bd25 = 25_025_314_816u64;
        let s = slice_size(&[bd25]);
        assert_eq!(s % SLICE_UNIT, 0);
        let r = recovery_slices(input_slices(&[bd25], s), 10);
        assert!(r >= 1000, "{r}");
        assert!(input_slices(&[bd25], s) <= 32768);
        // 1 GiB: 1 MiB slices.
        assert_eq!(slice_size(&[1 << 30]), 1 << 20);
        // Small data: 4 KiB slices.
        assert_eq!(slice_size(&[100_000, 3]), 4096);
        assert_eq!(slice_size(&[]), 4096);
        // 100 MB: about 1,024 slices.
        let n = input_slices(&[100_000_000], slice_size(&[100_000_000]));
        assert!((1000..=1030).contains(&n), "{n}");
        // Very many small files: the slice size grows until PAR2's limit holds.
        let many = vec![5000u64; 30_000];
        assert!(input_slices(&many, slice_size(&many)) <= 32768);
    }

    #[test]
    fn recovery_counts_and_volume_names() {
        assert_eq!(recovery_slices(1024, 10), 103);
        assert_eq!(recovery_slices(1024, 0), 0);
        assert_eq!(recovery_slices(7, 100), 7);
        assert_eq!(volume_counts(3), vec![1, 1, 1]);
        assert_eq!(volume_counts(103), vec![13, 13, 13, 13, 13, 13, 13, 12]);
        assert_eq!(volume_counts(103).iter().sum::<u32>(), 103);
        assert_eq!(
            volume_name("disc-0001", 13, 13, 103),
            "disc-0001.vol013+013.par2"
        );
        assert_eq!(volume_name("d", 1000, 128, 1024), "d.vol1000+0128.par2");
    }
}
