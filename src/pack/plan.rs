//! Archive planning: which content (or which piece of it) goes into the next archive, given the
//! room left on the disc and the archive size. Pure logic, no I/O.

use crate::layout::PIECE_SUFFIX_LEN;

/// Bytes every archive costs beyond its members: tar trailer, compression and OpenPGP framing,
/// and the rounding of the file to 2048-byte disc sectors.
pub(crate) const ARCHIVE_FIXED_COST: u64 = 16 * 1024;

/// Worst-case bytes a member of `len` input bytes and a `name_len`-byte name adds to an archive
/// file and to the catalogue copy: incompressible data grows by up to 1/64 under bzip2 or zstd,
/// a tar header, padding and a long-name header, and the catalogue row.
pub(crate) fn member_cost(len: u64, name_len: u64) -> u64 {
    len + len / 64 + 2048 + 3 * name_len
}

/// The largest member length whose cost fits in `room`.
fn max_len_for(room: u64, name_len: u64) -> u64 {
    let overhead = 2048 + 3 * name_len;
    room.saturating_sub(overhead) * 64 / 65
}

/// Content waiting to be stored, from `offset` on.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    /// Total size of the content.
    pub size: u64,
    /// Bytes already stored (in earlier archives).
    pub offset: u64,
    /// Length of the first path (the member name).
    pub name_len: u64,
}

/// One member of a planned archive: `len` bytes of queue item `index` starting at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    pub index: usize,
    pub offset: u64,
    pub len: u64,
}

/// Plans the next archive from the front of `queue` (items `start..`).
///
/// Whole contents go in while they fit both the archive size and the room on the disc. A content
/// larger than the archive size is split, and so is a content that does not fit an empty
/// archive because the disc is nearly full: the archive is made smaller rather than the room
/// left empty. Returns an empty plan when nothing useful fits in `room`.
pub(crate) fn plan_archive(
    queue: &[Queued],
    start: usize,
    room: u64,
    archive_size: u64,
) -> Vec<Slice> {
    let mut out = Vec::new();
    let mut cost = ARCHIVE_FIXED_COST;
    let mut input = 0u64;
    for (index, q) in queue.iter().enumerate().skip(start) {
        let remaining = q.size - q.offset;
        let split_name = q.name_len + PIECE_SUFFIX_LEN;
        let whole = member_cost(remaining, split_name);
        if cost + whole <= room && input + remaining <= archive_size {
            out.push(Slice {
                index,
                offset: q.offset,
                len: remaining,
            });
            cost += whole;
            input += remaining;
            continue;
        }
        let must_split = remaining > archive_size || out.is_empty();
        if must_split {
            let len = max_len_for(room.saturating_sub(cost), split_name).min(archive_size - input);
            // A sliver of a big file is not worth a member of its own.
            let worth_it = len > 0 && (out.is_empty() || len >= (archive_size / 16).min(remaining));
            if worth_it {
                out.push(Slice {
                    index,
                    offset: q.offset,
                    len,
                });
            }
        }
        break;
    }
    out
}

#[cfg(test)]
/// The estimated worst-case size of the archive a plan produces.
pub(crate) fn plan_cost(queue: &[Queued], plan: &[Slice]) -> u64 {
    ARCHIVE_FIXED_COST
        + plan
            .iter()
            .map(|s| member_cost(s.len, queue[s.index].name_len + PIECE_SUFFIX_LEN))
            .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(size: u64) -> Queued {
        Queued {
            size,
            offset: 0,
            name_len: 10,
        }
    }

    #[test]
    fn small_files_fill_an_archive() {
        let queue: Vec<_> = (0..100).map(|_| q(1000)).collect();
        let plan = plan_archive(&queue, 0, 1 << 30, 10_000);
        assert_eq!(plan.len(), 10);
        assert!(plan.iter().all(|s| s.len == 1000));
    }

    #[test]
    fn big_file_is_split_into_archive_sized_pieces() {
        let queue = vec![q(35_000)];
        let mut queue2 = queue.clone();
        let mut pieces = Vec::new();
        loop {
            let plan = plan_archive(&queue2, 0, 1 << 30, 10_000);
            if plan.is_empty() {
                break;
            }
            assert_eq!(plan.len(), 1);
            pieces.push(plan[0].len);
            queue2[0].offset += plan[0].len;
            if queue2[0].offset == queue2[0].size {
                break;
            }
        }
        assert_eq!(pieces, vec![10_000, 10_000, 10_000, 5_000]);
    }

    #[test]
    fn file_that_fits_the_next_archive_is_not_split() {
        let queue = vec![q(6_000), q(6_000)];
        let plan = plan_archive(&queue, 0, 1 << 30, 10_000);
        assert_eq!(
            plan,
            vec![Slice {
                index: 0,
                offset: 0,
                len: 6_000
            }]
        );
    }

    #[test]
    fn nearly_full_disc_makes_a_smaller_archive() {
        let queue = vec![q(1_000_000)];
        let room = 200_000;
        let plan = plan_archive(&queue, 0, room, 1_000_000);
        assert_eq!(plan.len(), 1);
        assert!(plan[0].len < 200_000 && plan[0].len > 150_000, "{:?}", plan);
        assert!(plan_cost(&queue, &plan) <= room);
    }

    #[test]
    fn nothing_fits_in_a_tiny_room() {
        let queue = vec![q(1_000_000)];
        assert!(plan_archive(&queue, 0, ARCHIVE_FIXED_COST + 100, 1_000_000).is_empty());
    }

    #[test]
    fn empty_files_are_members_too() {
        let queue = vec![q(0), q(0)];
        assert_eq!(plan_archive(&queue, 0, 1 << 20, 1000).len(), 2);
    }
}
