//! The one hot loop of PAR2: `dst ^= c * src` over little-endian 16-bit words, for several
//! destinations sharing one source (`mul_add_multi`), or sharing several sources
//! (`mul_add_many`). A portable version is always here; faster ones are picked at run time
//! where the processor has them.
//!
//! On x86_64 there are three vector versions, fastest first:
//!
//! * `avx512-gfni`: 512-bit vectors and the GF(2) affine instruction (`vgf2p8affineqb`);
//! * `avx2-gfni`: the same method on 256-bit vectors;
//! * `avx2`: the classic split into 4-bit nibbles, each looked up with `vpshufb`.
//!
//! Multiplying a word by a constant `c` is linear over GF(2): it is a 16x16 bit matrix, made of
//! four 8x8 blocks (low byte to low byte, high to low, low to high, high to high). The affine
//! instruction applies one 8x8 bit matrix per 64-bit lane to every byte of that lane. The
//! source is rearranged so that, within every 128-bit lane, the first 64-bit half holds the low
//! bytes of eight words and the second half their high bytes ("split" form); a second copy has
//! the two halves swapped. Then
//!
//! ```text
//! product = affine(split, [lo->lo, hi->hi]) ^ affine(swapped, [hi->lo, lo->hi])
//! ```
//!
//! is the product in split form, one byte shuffle away from the natural order. The source is
//! converted once per vector and used for four destinations at a time, and it is taken in
//! chunks small enough to stay in the first-level cache while every destination is visited.
//!
//! Every call reads and writes each destination once, so the speed depends on where the
//! destinations are: callers with many sources should add a batch of them into blocks of a
//! few KiB of the destinations, small enough to stay in cache, rather than each source into
//! whole slices (`examples/kernel_speed.rs` measures both).
//!
//! `mul_add_many` goes further: for each 128 bytes of the length, it converts up to 32
//! sources once into a form of their own (kept on the stack), then for four destinations at a
//! time accumulates in registers the products of all of them, and only then turns the sums
//! back into natural order and adds them to the destinations in memory. That form sees
//! GF(2^16) as a field of degree 2 over GF(2^8) (see the comment opening the `mul_add_many`
//! part of the `x86` module), which takes three affine products per 128 bytes and destination
//! instead of four. The nibble version does likewise with its lookups, without the change of
//! form. In the encoder's pattern (`examples/kernel_speed.rs encoder`), with 103
//! destinations, this halves the time of the AVX-512 version.

use crate::gf;
use std::sync::OnceLock;

/// For every `k`: `dsts[k] ^= coefs[k] * src`, word by word (16-bit little-endian words).
/// Every destination is as long as `src`, whose length is even.
pub fn mul_add_multi(src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    check(src, coefs, dsts);
    run(best_path(), src, coefs, dsts);
}

/// For every k: dsts[k] ^= sum over j of coefs[j][k] * srcs[j]. All slices have one even length;
/// coefs[j].len() == dsts.len().
///
/// This is `mul_add_multi` once per source, only faster when there are several sources: the
/// vector versions keep each destination vector in registers while a pass of up to 32 sources
/// is added into it, so that it is loaded, stored and brought back to natural order once per
/// pass rather than once per source.
pub fn mul_add_many(srcs: &[&[u8]], coefs: &[Vec<u16>], dsts: &mut [&mut [u8]]) {
    check_many(srcs, coefs, dsts);
    run_many(best_path(), srcs, coefs, dsts);
}

/// `mul_add_many` on the version named `path` (one of `available_paths`). Panics when the
/// name is unknown or the processor cannot run that version.
pub fn mul_add_many_on(path: &str, srcs: &[&[u8]], coefs: &[Vec<u16>], dsts: &mut [&mut [u8]]) {
    let path = Path::ALL
        .into_iter()
        .find(|p| p.name() == path)
        .unwrap_or_else(|| panic!("no kernel version named {path:?}"));
    check_many(srcs, coefs, dsts);
    run_many(path, srcs, coefs, dsts);
}

/// The name of the version `mul_add_multi` uses on this processor: `avx512-gfni`,
/// `avx2-gfni`, `avx2` or `portable`.
pub fn path_name() -> &'static str {
    best_path().name()
}

/// The names of the versions this processor can run, fastest first; the first one is what
/// `mul_add_multi` uses.
pub fn available_paths() -> Vec<&'static str> {
    Path::ALL
        .iter()
        .filter(|p| p.available())
        .map(|p| p.name())
        .collect()
}

/// `mul_add_multi` on the version named `path` (one of `available_paths`). Panics when the
/// name is unknown or the processor cannot run that version.
pub fn mul_add_multi_on(path: &str, src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    let path = Path::ALL
        .into_iter()
        .find(|p| p.name() == path)
        .unwrap_or_else(|| panic!("no kernel version named {path:?}"));
    check(src, coefs, dsts);
    run(path, src, coefs, dsts);
}

fn check(src: &[u8], coefs: &[u16], dsts: &[&mut [u8]]) {
    assert_eq!(coefs.len(), dsts.len());
    assert!(
        src.len().is_multiple_of(2),
        "slices hold whole 16-bit words"
    );
    for d in dsts.iter() {
        assert_eq!(d.len(), src.len());
    }
}

fn check_many(srcs: &[&[u8]], coefs: &[Vec<u16>], dsts: &[&mut [u8]]) {
    assert_eq!(
        srcs.len(),
        coefs.len(),
        "one row of coefficients per source"
    );
    for (s, c) in srcs.iter().zip(coefs) {
        check(s, c, dsts);
        assert_eq!(s.len(), srcs[0].len(), "all sources have one length");
    }
}

/// The portable version: a product table of the low and of the high byte per coefficient.
/// It is the reference the vector versions are tested against.
pub fn portable(src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    for (c, dst) in coefs.iter().zip(dsts.iter_mut()) {
        if *c == 0 {
            continue;
        }
        // Multiplication distributes over XOR, so each table entry is the XOR of the
        // products of `c` with the bits set in its index.
        let col = columns(*c);
        let mut lo = [0u16; 256];
        let mut hi = [0u16; 256];
        for b in 1..256usize {
            let bit = b.trailing_zeros() as usize;
            lo[b] = lo[b & (b - 1)] ^ col[bit];
            hi[b] = hi[b & (b - 1)] ^ col[8 + bit];
        }
        for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
            let p = lo[s[0] as usize] ^ hi[s[1] as usize];
            let v = u16::from_le_bytes([d[0], d[1]]) ^ p;
            d.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// `c * x^j` for `j` in `0..16`: the images of the sixteen bits of a word, that is the columns
/// of the bit matrix of the multiplication by `c`.
fn columns(c: u16) -> [u16; 16] {
    // The low 16 bits of the field polynomial: x^16 = x^12 + x^3 + x + 1.
    const REDUCE: u16 = (gf::POLY & 0xffff) as u16;
    let mut col = [0u16; 16];
    let mut v = c;
    for slot in col.iter_mut() {
        *slot = v;
        v = (v << 1) ^ if v & 0x8000 != 0 { REDUCE } else { 0 };
    }
    col
}

/// The versions of the kernel, fastest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Avx512Gfni,
    Avx2Gfni,
    Avx2,
    Portable,
}

impl Path {
    const ALL: [Path; 4] = [Path::Avx512Gfni, Path::Avx2Gfni, Path::Avx2, Path::Portable];

    fn name(self) -> &'static str {
        match self {
            Path::Avx512Gfni => "avx512-gfni",
            Path::Avx2Gfni => "avx2-gfni",
            Path::Avx2 => "avx2",
            Path::Portable => "portable",
        }
    }

    /// Whether this processor has what the version needs.
    fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Path::Avx512Gfni => {
                    is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512bw")
                        && is_x86_feature_detected!("gfni")
                }
                Path::Avx2Gfni => {
                    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("gfni")
                }
                Path::Avx2 => is_x86_feature_detected!("avx2"),
                Path::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Path::Portable
        }
    }
}

/// The fastest version this processor can run, found once.
fn best_path() -> Path {
    static BEST: OnceLock<Path> = OnceLock::new();
    *BEST.get_or_init(|| {
        Path::ALL
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(Path::Portable)
    })
}

/// Runs `path` on arguments already checked by `check`.
fn run(path: Path, src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    assert!(
        path.available(),
        "this processor cannot run {}",
        path.name()
    );
    match path {
        Path::Portable => portable(src, coefs, dsts),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX-512F, AVX-512BW and GFNI, and
        // `check` the arguments.
        Path::Avx512Gfni => unsafe { x86::drive::<x86::Avx512Gfni>(src, coefs, dsts) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX2 and GFNI, and `check` the
        // arguments.
        Path::Avx2Gfni => unsafe { x86::drive::<x86::Avx2Gfni>(src, coefs, dsts) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX2, and `check` the arguments.
        Path::Avx2 => unsafe { x86::drive::<x86::Avx2Nibbles>(src, coefs, dsts) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable version exists here"),
    }
}

/// Runs `path` on arguments already checked by `check_many`.
fn run_many(path: Path, srcs: &[&[u8]], coefs: &[Vec<u16>], dsts: &mut [&mut [u8]]) {
    assert!(
        path.available(),
        "this processor cannot run {}",
        path.name()
    );
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX-512F, AVX-512BW and GFNI,
        // and `check_many` the arguments.
        Path::Avx512Gfni => unsafe { x86::drive_many::<x86::Avx512Gfni>(srcs, coefs, dsts) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX2 and GFNI, and `check_many` the
        // arguments.
        Path::Avx2Gfni => unsafe { x86::drive_many::<x86::Avx2Gfni>(srcs, coefs, dsts) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `path.available()` has just confirmed AVX2, and `check_many` the arguments.
        Path::Avx2 => unsafe { x86::drive_many::<x86::Avx2Nibbles>(srcs, coefs, dsts) },
        _ => {
            for (s, c) in srcs.iter().zip(coefs) {
                run(path, s, c, dsts);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[deny(unsafe_op_in_unsafe_fn)]
mod x86 {
    use super::columns;
    use std::arch::x86_64::*;
    use std::ptr;
    use std::sync::OnceLock;

    /// Source bytes converted at a time; every destination of a batch is visited for one
    /// chunk before the next, so the chunk stays in the first-level cache.
    const CHUNK: usize = 4096;

    /// Destinations handled per batch, bounding the operands kept on the stack.
    const BATCH: usize = 64;

    /// Destinations taken together by the affine versions, sharing each converted source
    /// vector (eight or two were measured slower than four).
    const GROUP_AVX512: usize = 4;
    const GROUP_AVX2: usize = 4;

    /// The four 8x8 blocks of the bit matrix of the multiplication by `c`, in the operand form
    /// of `vgf2p8affineqb`, ordered `[lo->lo, hi->hi, hi->lo, lo->hi]`: the first two are applied
    /// to the split form of the source, the last two to its swapped copy.
    fn affine_blocks(c: u16) -> [u64; 4] {
        let col = columns(c);
        // The block from input byte `from` to output byte `to`: the row of output bit `i` is the
        // byte `7 - i` of the operand, and its bit `j` is the weight of input bit `j`.
        let block = |from: usize, to: usize| -> u64 {
            let mut m = 0u64;
            for i in 0..8 {
                let mut row = 0u64;
                for j in 0..8 {
                    row |= u64::from((col[8 * from + j] >> (8 * to + i)) & 1) << j;
                }
                m |= row << (8 * (7 - i));
            }
            m
        };
        [block(0, 0), block(1, 1), block(1, 0), block(0, 1)]
    }

    /// The sixteen-entry tables of the nibble method for the multiplication by `c`: for each of
    /// the four nibbles of a word (low nibble of the low byte first), the low bytes of the
    /// sixteen products, then in bytes 64 to 127 the high bytes in the same order.
    fn nibble_tables(c: u16) -> [u8; 128] {
        let col = columns(c);
        let mut t = [0u8; 128];
        for nibble in 0..4 {
            for v in 0..16usize {
                let mut p = 0u16;
                for (bit, image) in col[4 * nibble..4 * nibble + 4].iter().enumerate() {
                    if v >> bit & 1 != 0 {
                        p ^= image;
                    }
                }
                t[16 * nibble + v] = p as u8;
                t[64 + 16 * nibble + v] = (p >> 8) as u8;
            }
        }
        t
    }

    /// A per-coefficient operand that is linear in the coefficient, kept for every value of the
    /// low and of the high byte so that a coefficient's operand is the XOR of two entries.
    struct ByteTables<T> {
        low: Vec<T>,
        high: Vec<T>,
    }

    impl<T> ByteTables<T> {
        fn new(f: impl Fn(u16) -> T) -> Self {
            ByteTables {
                low: (0..256u16).map(&f).collect(),
                high: (0..256u16).map(|b| f(b << 8)).collect(),
            }
        }
    }

    fn affine_tables() -> &'static ByteTables<[u64; 4]> {
        static T: OnceLock<ByteTables<[u64; 4]>> = OnceLock::new();
        T.get_or_init(|| ByteTables::new(affine_blocks))
    }

    fn nibble_byte_tables() -> &'static ByteTables<[u8; 128]> {
        static T: OnceLock<ByteTables<[u8; 128]>> = OnceLock::new();
        T.get_or_init(|| ByteTables::new(nibble_tables))
    }

    /// One vector version of the kernel.
    pub(super) trait Kernel {
        /// Source bytes per step: 32 or 64.
        const STEP: usize;
        /// What is precomputed per coefficient.
        type Operand: Copy;
        const ZERO: Self::Operand;

        fn operand(c: u16) -> Self::Operand;

        /// Destinations taken together by `span_group`.
        const GROUP: usize;
        /// Whether to take the bytes before the first destination's first 64-byte boundary
        /// apart, through `part`, so that the rest is aligned: worth it when `part` is cheap.
        const ALIGN: bool;

        /// `dsts[g] ^= c_g * src` over the `len` bytes from `at`, `len` a multiple of `STEP`,
        /// for `GROUP` destinations (`ops` and `dsts` hold `GROUP` items).
        ///
        /// # Safety
        /// The processor has the version's features; `src` and every `dsts[g]` are valid for
        /// `at + len` bytes; the destinations overlap neither each other nor the source.
        unsafe fn span_group(
            src: *const u8,
            at: usize,
            len: usize,
            ops: &[Self::Operand],
            dsts: &[*mut u8],
        );

        /// `dst ^= c * src` over `len` bytes, a multiple of `STEP`, for one destination.
        ///
        /// # Safety
        /// As for `span_group`, with `at` = 0.
        unsafe fn span1(src: *const u8, len: usize, op: &Self::Operand, dst: *mut u8);

        /// `outs[k] ^= c_k * src` over `count < 64` bytes (an even number, maybe 0) from `at`,
        /// in the source and in every destination. This default goes through copies padded with
        /// zeros to whole steps: zero source bytes add nothing, and only the real bytes are
        /// copied back.
        ///
        /// # Safety
        /// As for `span_group`, with `at + count` bytes for `len`.
        unsafe fn part(
            src: *const u8,
            at: usize,
            count: usize,
            ops: &[Self::Operand],
            outs: &[*mut u8],
        ) {
            if count == 0 {
                return;
            }
            let mut s = [0u8; 64];
            // SAFETY: `src` is valid for `at + count` bytes, `s` holds 64 > `count`.
            unsafe { ptr::copy_nonoverlapping(src.add(at), s.as_mut_ptr(), count) };
            let padded = count.next_multiple_of(Self::STEP);
            for (op, out) in ops.iter().zip(outs) {
                let mut d = [0u8; 64];
                // SAFETY: `out` is valid for `at + count` bytes; both buffers hold 64 bytes,
                // at least `count < 64` rounded up to a step of 32 or 64.
                unsafe {
                    let out = out.add(at);
                    ptr::copy_nonoverlapping(out, d.as_mut_ptr(), count);
                    Self::span1(s.as_ptr(), padded, op, d.as_mut_ptr());
                    ptr::copy_nonoverlapping(d.as_ptr(), out, count);
                }
            }
        }
    }

    /// The common driver: operands once per batch of destinations, then chunk by chunk of the
    /// source, `K::GROUP` destinations at a time. A tail shorter than a step goes through
    /// `K::part`, and so, where `K::ALIGN` asks for it, do the bytes before the first
    /// destination's first 64-byte boundary (when whole words reach it): big buffers usually
    /// share their alignment, so the other destinations are then aligned as well.
    ///
    /// # Safety
    /// The processor has the features of `K`; the arguments have passed `check`.
    pub(super) unsafe fn drive<K: Kernel>(src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
        let len = src.len();
        for (cs, ds) in coefs.chunks(BATCH).zip(dsts.chunks_mut(BATCH)) {
            let mut ops = [K::ZERO; BATCH];
            let mut outs = [ptr::null_mut::<u8>(); BATCH];
            let mut n = 0;
            for (c, d) in cs.iter().zip(ds.iter_mut()) {
                if *c != 0 {
                    ops[n] = K::operand(*c);
                    outs[n] = d.as_mut_ptr();
                    n += 1;
                }
            }
            if n == 0 {
                continue;
            }
            let (ops, outs) = (&ops[..n], &outs[..n]);
            let mut head = (64 - outs[0].addr() % 64) % 64;
            if !K::ALIGN || !head.is_multiple_of(2) || head > len {
                head = 0;
            }
            let end = head + (len - head) / K::STEP * K::STEP;
            if head == end {
                // No whole step: only parts, shorter than 64 bytes each.
                // SAFETY: `head <= end <= len`; the caller vouches for the rest.
                unsafe {
                    K::part(src.as_ptr(), 0, head, ops, outs);
                    K::part(src.as_ptr(), end, len - end, ops, outs);
                }
                continue;
            }
            // The head and the tail of a group are done next to its first and its last chunk:
            // a load shortly after a store to another destination at the same low 12 address
            // bits would wait on a false dependency, and big buffers often share those bits.
            let mut start = head;
            while start < end {
                let step = CHUNK.min(end - start);
                let (first, last) = (start == head, start + step == end);
                // SAFETY: `start + step <= end <= len` and the parts lie within `0..head` and
                // `end..len`, so every pointer below stays inside its slice of `len` bytes;
                // the destinations are distinct `&mut` slices and so overlap neither each
                // other nor the shared source.
                unsafe {
                    let s = src.as_ptr().add(start);
                    let group = |o: &[K::Operand], d: &[*mut u8]| {
                        if first {
                            K::part(src.as_ptr(), 0, head, o, d);
                        }
                        if d.len() == K::GROUP {
                            K::span_group(src.as_ptr(), start, step, o, d);
                        } else {
                            for (o, d) in o.iter().zip(d) {
                                K::span1(s, step, o, d.add(start));
                            }
                        }
                        if last {
                            K::part(src.as_ptr(), end, len - end, o, d);
                        }
                    };
                    for (o, d) in ops.chunks(K::GROUP).zip(outs.chunks(K::GROUP)) {
                        group(o, d);
                    }
                }
                start += step;
            }
        }
    }

    /// The operand of the affine versions: `[lo->lo, hi->hi, hi->lo, lo->hi]` blocks.
    fn affine_operand(c: u16) -> [u64; 4] {
        let t = affine_tables();
        let (a, b) = (&t.low[usize::from(c & 0xff)], &t.high[usize::from(c >> 8)]);
        [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
    }

    /// Byte shuffle (within 128-bit lanes) from natural order to split form: the low bytes of
    /// the lane's eight words, then their high bytes.
    const TO_SPLIT: [i8; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15];
    /// From natural order to the split form with its halves swapped.
    const TO_SWAPPED: [i8; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14];
    /// From split form back to natural order.
    const TO_NATURAL: [i8; 16] = [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];

    fn lane(t: [i8; 16]) -> __m128i {
        // SAFETY: a 16-byte array is read as one unaligned 128-bit value.
        unsafe { _mm_loadu_si128(t.as_ptr().cast()) }
    }

    pub(super) struct Avx512Gfni;

    impl Kernel for Avx512Gfni {
        const STEP: usize = 64;
        type Operand = [u64; 4];
        const ZERO: [u64; 4] = [0; 4];

        fn operand(c: u16) -> [u64; 4] {
            affine_operand(c)
        }

        const GROUP: usize = GROUP_AVX512;
        const ALIGN: bool = true;

        unsafe fn span_group(
            src: *const u8,
            at: usize,
            len: usize,
            ops: &[[u64; 4]],
            dsts: &[*mut u8],
        ) {
            let ops: &[[u64; 4]; GROUP_AVX512] = ops.try_into().expect("a full group");
            let dsts: [*mut u8; GROUP_AVX512] = dsts.try_into().expect("a full group");
            // SAFETY: forwarded from the caller, who vouches for `at + len` bytes.
            unsafe { avx512_gfni_span(src.add(at), len, ops, dsts.map(|d| d.add(at))) }
        }

        unsafe fn span1(src: *const u8, len: usize, op: &[u64; 4], dst: *mut u8) {
            // SAFETY: forwarded from the caller.
            unsafe { avx512_gfni_span(src, len, &[*op], [dst]) }
        }

        unsafe fn part(
            src: *const u8,
            at: usize,
            count: usize,
            ops: &[[u64; 4]],
            outs: &[*mut u8],
        ) {
            // SAFETY: forwarded from the caller.
            unsafe { avx512_gfni_part(src, at, count, ops, outs) }
        }
    }

    /// `outs[k] ^= c_k * src` over `count < 64` bytes from `at`, with masked loads and
    /// stores; the source is converted once for all the destinations.
    ///
    /// # Safety
    /// As for `Kernel::part`, with AVX-512F, AVX-512BW and GFNI.
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    unsafe fn avx512_gfni_part(
        src: *const u8,
        at: usize,
        count: usize,
        ops: &[[u64; 4]],
        outs: &[*mut u8],
    ) {
        if count == 0 {
            return;
        }
        let mask: __mmask64 = (1u64 << count) - 1;
        let to_natural = _mm512_broadcast_i32x4(lane(TO_NATURAL));
        // SAFETY: the mask keeps the access to the `count` bytes from `at` that `src` is
        // valid for; masked-off bytes are neither read nor written, nor can they fault.
        let s = unsafe { _mm512_maskz_loadu_epi8(mask, src.add(at).cast()) };
        let split = _mm512_shuffle_epi8(s, _mm512_broadcast_i32x4(lane(TO_SPLIT)));
        let swapped = _mm512_shuffle_epi8(s, _mm512_broadcast_i32x4(lane(TO_SWAPPED)));
        for (op, out) in ops.iter().zip(outs) {
            let direct = _mm512_broadcast_i32x4(_mm_set_epi64x(op[1] as i64, op[0] as i64));
            let crossed = _mm512_broadcast_i32x4(_mm_set_epi64x(op[3] as i64, op[2] as i64));
            let p = _mm512_xor_si512(
                _mm512_gf2p8affine_epi64_epi8::<0>(split, direct),
                _mm512_gf2p8affine_epi64_epi8::<0>(swapped, crossed),
            );
            // SAFETY: as for the source; `out` is valid for `at + count` bytes.
            unsafe {
                let d = out.add(at).cast();
                let v = _mm512_maskz_loadu_epi8(mask, d);
                let v = _mm512_xor_si512(v, _mm512_shuffle_epi8(p, to_natural));
                _mm512_mask_storeu_epi8(d, mask, v);
            }
        }
    }

    /// `dsts[g] ^= c_g * src` with 512-bit vectors, `len` a multiple of 64.
    ///
    /// # Safety
    /// As for `Kernel::span_group`, with AVX-512F, AVX-512BW and GFNI.
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    unsafe fn avx512_gfni_span<const G: usize>(
        src: *const u8,
        len: usize,
        ops: &[[u64; 4]; G],
        dsts: [*mut u8; G],
    ) {
        let to_split = _mm512_broadcast_i32x4(lane(TO_SPLIT));
        let to_swapped = _mm512_broadcast_i32x4(lane(TO_SWAPPED));
        let to_natural = _mm512_broadcast_i32x4(lane(TO_NATURAL));
        let direct = ops.map(|o| _mm512_broadcast_i32x4(_mm_set_epi64x(o[1] as i64, o[0] as i64)));
        let crossed = ops.map(|o| _mm512_broadcast_i32x4(_mm_set_epi64x(o[3] as i64, o[2] as i64)));
        let mut i = 0;
        while i < len {
            // SAFETY: `i + 64 <= len`, and `src` and every `dsts[g]` are valid for `len`
            // bytes. All the destinations are read before any is written: a store followed
            // by a load at the same offset of another destination would wait on a false
            // dependency whenever the two addresses share their low 12 bits.
            let (s, mut acc) = unsafe {
                (
                    _mm512_loadu_si512(src.add(i).cast()),
                    dsts.map(|d| _mm512_loadu_si512(d.add(i).cast())),
                )
            };
            let split = _mm512_shuffle_epi8(s, to_split);
            let swapped = _mm512_shuffle_epi8(s, to_swapped);
            for g in 0..G {
                let p = _mm512_xor_si512(
                    _mm512_gf2p8affine_epi64_epi8::<0>(split, direct[g]),
                    _mm512_gf2p8affine_epi64_epi8::<0>(swapped, crossed[g]),
                );
                acc[g] = _mm512_xor_si512(acc[g], _mm512_shuffle_epi8(p, to_natural));
            }
            for g in 0..G {
                // SAFETY: as for the loads; the destinations overlap no other pointer.
                unsafe { _mm512_storeu_si512(dsts[g].add(i).cast(), acc[g]) };
            }
            i += 64;
        }
    }

    pub(super) struct Avx2Gfni;

    impl Kernel for Avx2Gfni {
        const STEP: usize = 32;
        type Operand = [u64; 4];
        const ZERO: [u64; 4] = [0; 4];

        fn operand(c: u16) -> [u64; 4] {
            affine_operand(c)
        }

        const GROUP: usize = GROUP_AVX2;
        const ALIGN: bool = false;

        unsafe fn span_group(
            src: *const u8,
            at: usize,
            len: usize,
            ops: &[[u64; 4]],
            dsts: &[*mut u8],
        ) {
            let ops: &[[u64; 4]; GROUP_AVX2] = ops.try_into().expect("a full group");
            let dsts: [*mut u8; GROUP_AVX2] = dsts.try_into().expect("a full group");
            // SAFETY: forwarded from the caller, who vouches for `at + len` bytes.
            unsafe { avx2_gfni_span(src.add(at), len, ops, dsts.map(|d| d.add(at))) }
        }

        unsafe fn span1(src: *const u8, len: usize, op: &[u64; 4], dst: *mut u8) {
            // SAFETY: forwarded from the caller.
            unsafe { avx2_gfni_span(src, len, &[*op], [dst]) }
        }
    }

    /// `dsts[g] ^= c_g * src` with 256-bit vectors, `len` a multiple of 32.
    ///
    /// # Safety
    /// As for `Kernel::span_group`, with AVX2 and GFNI.
    #[target_feature(enable = "avx2,gfni")]
    unsafe fn avx2_gfni_span<const G: usize>(
        src: *const u8,
        len: usize,
        ops: &[[u64; 4]; G],
        dsts: [*mut u8; G],
    ) {
        let to_split = _mm256_broadcastsi128_si256(lane(TO_SPLIT));
        let to_swapped = _mm256_broadcastsi128_si256(lane(TO_SWAPPED));
        let to_natural = _mm256_broadcastsi128_si256(lane(TO_NATURAL));
        let direct =
            ops.map(|o| _mm256_broadcastsi128_si256(_mm_set_epi64x(o[1] as i64, o[0] as i64)));
        let crossed =
            ops.map(|o| _mm256_broadcastsi128_si256(_mm_set_epi64x(o[3] as i64, o[2] as i64)));
        let mut i = 0;
        while i < len {
            // SAFETY: `i + 32 <= len`, and `src` and every `dsts[g]` are valid for `len`
            // bytes. All the destinations are read before any is written, as in
            // `avx512_gfni_span`.
            let (s, mut acc) = unsafe {
                (
                    _mm256_loadu_si256(src.add(i).cast()),
                    dsts.map(|d| _mm256_loadu_si256(d.add(i).cast())),
                )
            };
            let split = _mm256_shuffle_epi8(s, to_split);
            let swapped = _mm256_shuffle_epi8(s, to_swapped);
            for g in 0..G {
                let p = _mm256_xor_si256(
                    _mm256_gf2p8affine_epi64_epi8::<0>(split, direct[g]),
                    _mm256_gf2p8affine_epi64_epi8::<0>(swapped, crossed[g]),
                );
                acc[g] = _mm256_xor_si256(acc[g], _mm256_shuffle_epi8(p, to_natural));
            }
            for g in 0..G {
                // SAFETY: as for the loads; the destinations overlap no other pointer.
                unsafe { _mm256_storeu_si256(dsts[g].add(i).cast(), acc[g]) };
            }
            i += 32;
        }
    }

    pub(super) struct Avx2Nibbles;

    impl Kernel for Avx2Nibbles {
        const STEP: usize = 64;
        type Operand = [u8; 128];
        const ZERO: [u8; 128] = [0; 128];

        fn operand(c: u16) -> [u8; 128] {
            let t = nibble_byte_tables();
            let (a, b) = (&t.low[usize::from(c & 0xff)], &t.high[usize::from(c >> 8)]);
            std::array::from_fn(|i| a[i] ^ b[i])
        }

        const GROUP: usize = 1;
        const ALIGN: bool = false;

        unsafe fn span_group(
            src: *const u8,
            at: usize,
            len: usize,
            ops: &[[u8; 128]],
            dsts: &[*mut u8],
        ) {
            // SAFETY: forwarded from the caller, who vouches for `at + len` bytes.
            unsafe { avx2_nibble_span(src.add(at), len, &ops[0], dsts[0].add(at)) }
        }

        unsafe fn span1(src: *const u8, len: usize, op: &[u8; 128], dst: *mut u8) {
            // SAFETY: forwarded from the caller.
            unsafe { avx2_nibble_span(src, len, op, dst) }
        }
    }

    /// `dst ^= c * src` by nibble lookups, `len` a multiple of 64: 64 source bytes are
    /// split into a plane of 32 low bytes and one of 32 high bytes, each cut into nibbles;
    /// each nibble looks up its share of the low and of the high byte of the product.
    ///
    /// # Safety
    /// As for `Kernel::span1`, with AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_nibble_span(src: *const u8, len: usize, op: &[u8; 128], dst: *mut u8) {
        let to_split = _mm256_broadcastsi128_si256(lane(TO_SPLIT));
        let low4 = _mm256_set1_epi8(0x0f);
        let t: [__m256i; 8] = std::array::from_fn(|k| {
            // SAFETY: `16 * k + 16 <= 128`, inside the operand.
            _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(op[16 * k..].as_ptr().cast()) })
        });
        let mut i = 0;
        while i < len {
            // SAFETY: `i + 64 <= len`, and `src` is valid for `len` bytes.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(src.add(i).cast()),
                    _mm256_loadu_si256(src.add(i + 32).cast()),
                )
            };
            let a = _mm256_shuffle_epi8(a, to_split);
            let b = _mm256_shuffle_epi8(b, to_split);
            // Low bytes of words 0-7 and 16-23 in the first lane, 8-15 and 24-31 in the
            // second; high bytes likewise.
            let lo = _mm256_unpacklo_epi64(a, b);
            let hi = _mm256_unpackhi_epi64(a, b);
            let n = [
                _mm256_and_si256(lo, low4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(lo), low4),
                _mm256_and_si256(hi, low4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(hi), low4),
            ];
            let look = |k: usize| -> (__m256i, __m256i) {
                (
                    _mm256_shuffle_epi8(t[k], n[k]),
                    _mm256_shuffle_epi8(t[4 + k], n[k]),
                )
            };
            let (l0, h0) = look(0);
            let (l1, h1) = look(1);
            let (l2, h2) = look(2);
            let (l3, h3) = look(3);
            let plo = _mm256_xor_si256(_mm256_xor_si256(l0, l1), _mm256_xor_si256(l2, l3));
            let phi = _mm256_xor_si256(_mm256_xor_si256(h0, h1), _mm256_xor_si256(h2, h3));
            // Interleaving the planes within lanes gives words 0-15, then words 16-31.
            let first = _mm256_unpacklo_epi8(plo, phi);
            let second = _mm256_unpackhi_epi8(plo, phi);
            // SAFETY: `dst` is valid for `len` bytes and overlaps no other pointer.
            unsafe {
                let d = dst.add(i);
                let v = _mm256_loadu_si256(d.cast());
                _mm256_storeu_si256(d.cast(), _mm256_xor_si256(v, first));
                let d = dst.add(i + 32);
                let v = _mm256_loadu_si256(d.cast());
                _mm256_storeu_si256(d.cast(), _mm256_xor_si256(v, second));
            }
            i += 64;
        }
    }

    // ---- Several sources at a time: `mul_add_many` ----
    //
    // Adding many sources into one destination, the affine versions above pay per source and
    // destination vector two affine products, a shuffle back to natural order, a load and a
    // store. The versions below keep the destination in registers across a pass of sources,
    // accumulating in a form of their own that needs three affine products per two vectors'
    // worth of words rather than four, with no shuffle.
    //
    // The trick is to see GF(2^16) as a field of degree 2 over its subfield GF(2^8): every word
    // `s` is `s0 + s1 * beta` with `s0`, `s1` in the subfield, for a `beta` outside it with
    // `beta^2 = beta + b` (`b` in the subfield). Then for a coefficient `c = c0 + c1 * beta`,
    //
    //     c * s = (P0 + Q) + (P0 + P2) * beta,  with  P0 = c0 s0,  Q = (b c1) s1,
    //                                                 P2 = (c0 + c1) (s0 + s1):
    //
    // three products in the subfield (Karatsuba's), each one 8x8 bit matrix applied to a byte
    // of coordinates, that is one affine product with the same operand in every 64-bit lane.
    // Coordinates in the subfield: bit `i` of a byte stands for `gamma^i`, `gamma = 2^257`
    // generating the subfield's nonzero elements.
    //
    // A step of 128 source bytes (64 with 256-bit vectors) is first turned into planes: one
    // vector of the `s0` of its words, one of their `s1` and one of their `s0 + s1`, the word
    // order being that of `unpack`: in each 128-bit lane, the words of the lane of the first
    // 64 bytes, then those of the second. Each source is turned once per step and kept on the
    // stack while every destination takes it. A destination accumulates `P0 + Q` and `P0 + P2`
    // over the sources of a pass (everything being linear, the sum of the products is the
    // product of the sums): these are the coordinates of its share, which are turned back into
    // natural words, interleaved and added to the destination in memory once per pass.

    /// Sources whose planes are kept for one pass over the destinations: the more, the
    /// rarer the work of a pass's end, but the more operands are read every step.
    const MANY_SOURCES: usize = 32;

    /// Destinations taken together in a pass, sharing each load of a source's planes.
    const MANY_GROUP_AVX512: usize = 4;
    const MANY_GROUP_AVX2: usize = 4;

    /// The constants of the planar form, which sees GF(2^16) as a tower over GF(2^8).
    struct Tower {
        /// Affine operands from the planes of the natural low and high bytes to those of the
        /// coordinates: `[lo->s0, hi->s0, lo->s1, hi->s1]`.
        to_planes: [u64; 4],
        /// Affine operands from the planes of the coordinates to those of the natural bytes:
        /// `[s0->lo, s1->lo, s0->hi, s1->hi]`.
        from_planes: [u64; 4],
        /// The per-coefficient operands `[P0, Q, P2]`, for every low and high byte.
        ops: ByteTables<[u64; 3]>,
    }

    /// The affine operand of the linear map `f` from bytes to bytes: the row of output bit `i`
    /// is the byte `7 - i`, and its bit `j` is bit `i` of `f(1 << j)`.
    fn affine_of(f: impl Fn(u8) -> u8) -> u64 {
        let mut m = 0u64;
        for j in 0..8 {
            let image = f(1 << j);
            for i in 0..8 {
                m |= u64::from((image >> i) & 1) << (8 * (7 - i) + j);
            }
        }
        m
    }

    /// The four 8x8 blocks of a linear map of 16-bit words, as affine operands:
    /// `[lo->lo, hi->lo, lo->hi, hi->hi]`.
    fn blocks_of(f: impl Fn(u16) -> u16) -> [u64; 4] {
        [
            affine_of(|v| f(u16::from(v)) as u8),
            affine_of(|v| f(u16::from(v) << 8) as u8),
            affine_of(|v| (f(u16::from(v)) >> 8) as u8),
            affine_of(|v| (f(u16::from(v) << 8) >> 8) as u8),
        ]
    }

    impl Tower {
        fn new() -> Tower {
            use crate::gf;
            // The subfield element of each coordinate byte, and back.
            let gamma = gf::exp2(257);
            let mut element = [0u16; 256];
            for u in 1..256usize {
                let bit = u.trailing_zeros();
                element[u] = element[u & (u - 1)] ^ gf::pow(gamma, bit);
            }
            let mut byte_of = vec![None::<u8>; 65536];
            for (u, e) in element.iter().enumerate() {
                byte_of[usize::from(*e)] = Some(u as u8);
            }
            let in_subfield = |w: u16| byte_of[usize::from(w)].is_some();
            let coord_of = |w: u16| byte_of[usize::from(w)].expect("an element of the subfield");
            // A `beta` outside the subfield with `beta^2 + beta` in it: a root of an irreducible
            // `x^2 + x + b`, which exists for every `b` of trace 1.
            let beta = (2..=u16::MAX)
                .find(|&w| !in_subfield(w) && in_subfield(gf::mul(w, w) ^ w))
                .expect("GF(2^16) has such elements");
            let b = gf::mul(beta, beta) ^ beta;
            // The natural word of the coordinates `s0` (low byte) and `s1` (high byte), and
            // back.
            let natural = |u: u16| {
                element[usize::from(u & 0xff)] ^ gf::mul(element[usize::from(u >> 8)], beta)
            };
            let mut coordinates = vec![0u16; 65536];
            for u in 0..=u16::MAX {
                coordinates[usize::from(natural(u))] = u;
            }
            // Multiplication by the subfield element `e` on coordinate bytes.
            let times = |e: u16| affine_of(|v| coord_of(gf::mul(e, element[usize::from(v)])));
            let operand = |c: u16| -> [u64; 3] {
                let u = coordinates[usize::from(c)];
                let (c0, c1) = (element[usize::from(u & 0xff)], element[usize::from(u >> 8)]);
                [times(c0), times(gf::mul(b, c1)), times(c0 ^ c1)]
            };
            Tower {
                to_planes: blocks_of(|w| coordinates[usize::from(w)]),
                from_planes: blocks_of(natural),
                ops: ByteTables::new(operand),
            }
        }
    }

    fn tower() -> &'static Tower {
        static T: OnceLock<Tower> = OnceLock::new();
        T.get_or_init(Tower::new)
    }

    /// The operand `[P0, Q, P2]` of the coefficient `c`.
    fn tower_operand(c: u16) -> [u64; 3] {
        let t = &tower().ops;
        let (a, b) = (&t.low[usize::from(c & 0xff)], &t.high[usize::from(c >> 8)]);
        [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2]]
    }

    /// A version with a `mul_add_many` of its own.
    pub(super) trait Many: Kernel {
        /// Sources taken in a pass, at most.
        const MANY_SOURCES: usize;
        /// Destinations taken together in a pass.
        const MANY_GROUP: usize;
        /// What is precomputed per coefficient.
        type ManyOperand: Copy;

        fn many_operand(c: u16) -> Self::ManyOperand;

        /// `dsts[k] ^= sum over j of c_jk * srcs[j]` over `len` bytes, a multiple of 64, for
        /// at most `MANY_SOURCES` sources. The operands come group by group of `MANY_GROUP`
        /// destinations (the last group maybe smaller): for a group of `g` destinations from
        /// `k`, `ops[k * n + j * g + q]` is the operand of source `j` and destination `k + q`,
        /// `n` being the number of sources.
        ///
        /// # Safety
        /// The processor has the version's features; every source and destination is valid
        /// for `len` bytes; the destinations overlap neither each other nor any source.
        unsafe fn pass(srcs: &[*const u8], ops: &[Self::ManyOperand], dsts: &[*mut u8], len: usize);
    }

    /// The driver of `mul_add_many`: the sources `K::MANY_SOURCES` at a time through `K::pass`
    /// over the whole 64-byte steps, and the remaining tail of fewer than 64 bytes source by
    /// source through `drive`. A lone source goes through `drive` as well, which is faster
    /// for one.
    ///
    /// # Safety
    /// The processor has the features of `K`; the arguments have passed `check_many`.
    pub(super) unsafe fn drive_many<K: Many>(
        srcs: &[&[u8]],
        coefs: &[Vec<u16>],
        dsts: &mut [&mut [u8]],
    ) {
        let Some(len) = srcs.first().map(|s| s.len()) else {
            return;
        };
        let body = len / 64 * 64;
        let nd = dsts.len();
        if body > 0 && nd > 0 {
            let per_pass = K::MANY_SOURCES;
            let mut ops = Vec::with_capacity(per_pass.min(srcs.len()) * nd);
            for (ss, cs) in srcs.chunks(per_pass).zip(coefs.chunks(per_pass)) {
                if ss.len() == 1 {
                    // SAFETY: forwarded from the caller.
                    unsafe { drive::<K>(&ss[0][..body], &cs[0], &mut cut(dsts, 0..body)) };
                    continue;
                }
                ops.clear();
                for k in (0..nd).step_by(K::MANY_GROUP) {
                    let g = K::MANY_GROUP.min(nd - k);
                    for c in cs {
                        ops.extend(c[k..k + g].iter().map(|&c| K::many_operand(c)));
                    }
                }
                let ptrs: Vec<*const u8> = ss.iter().map(|s| s.as_ptr()).collect();
                let outs: Vec<*mut u8> = dsts.iter_mut().map(|d| d.as_mut_ptr()).collect();
                // SAFETY: every source and destination holds `len >= body` bytes, and the
                // destinations are distinct `&mut` slices, so overlap nothing else.
                unsafe { K::pass(&ptrs, &ops, &outs, body) };
            }
        }
        if body < len {
            let mut tails = cut(dsts, body..len);
            for (s, c) in srcs.iter().zip(coefs) {
                // SAFETY: forwarded from the caller.
                unsafe { drive::<K>(&s[body..], c, &mut tails) };
            }
        }
    }

    /// The bytes `range` of every destination.
    fn cut<'a>(dsts: &'a mut [&mut [u8]], range: std::ops::Range<usize>) -> Vec<&'a mut [u8]> {
        dsts.iter_mut().map(|d| &mut d[range.clone()]).collect()
    }

    /// How far ahead of the current step the passes below ask for the lines of every source
    /// and destination, in bytes. A step takes a few bytes of each of often more than a
    /// hundred buffers, too many streams for the processor to fetch ahead on its own. With
    /// 103 destinations, 256 bytes (two steps of the 512-bit version) measured best: 128 was
    /// clearly slower, more no faster.
    const PREFETCH_AHEAD: usize = 256;

    /// Asks for the 64-byte line at `p` to be brought into the caches. A prefetch never
    /// faults, whatever the address.
    #[inline]
    fn prefetch(p: *const u8) {
        // SAFETY: a prefetch is only a hint, and SSE is part of x86_64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }

    impl Many for Avx512Gfni {
        const MANY_SOURCES: usize = MANY_SOURCES;
        const MANY_GROUP: usize = MANY_GROUP_AVX512;
        type ManyOperand = [u64; 3];

        fn many_operand(c: u16) -> [u64; 3] {
            tower_operand(c)
        }

        unsafe fn pass(srcs: &[*const u8], ops: &[[u64; 3]], dsts: &[*mut u8], len: usize) {
            // SAFETY: forwarded from the caller.
            unsafe { avx512_planes_pass(srcs, ops, dsts, len) }
        }
    }

    /// `Many::pass` with 512-bit vectors, 128 source bytes a step; when `len` is an odd
    /// multiple of 64, the last step takes 64 bytes, its planes having zeros for the others.
    ///
    /// # Safety
    /// As for `Many::pass`, with AVX-512F, AVX-512BW and GFNI.
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    unsafe fn avx512_planes_pass(
        srcs: &[*const u8],
        ops: &[[u64; 3]],
        dsts: &[*mut u8],
        len: usize,
    ) {
        let tw = tower();
        let to_split = _mm512_broadcast_i32x4(lane(TO_SPLIT));
        let to_planes = tw.to_planes.map(|m| _mm512_set1_epi64(m as i64));
        let from_planes = tw.from_planes.map(|m| _mm512_set1_epi64(m as i64));
        let ns = srcs.len();
        assert!(ns <= MANY_SOURCES);
        let mut planes = [[_mm512_setzero_si512(); 3]; MANY_SOURCES];
        let mut i = 0;
        while i < len {
            let half = i + 64 == len;
            for (s, p) in srcs.iter().zip(planes.iter_mut()) {
                prefetch(s.wrapping_add(i + PREFETCH_AHEAD));
                prefetch(s.wrapping_add(i + PREFETCH_AHEAD + 64));
                // SAFETY: `i + 64 <= len`, and `i + 128 <= len` unless `half`; every source is
                // valid for `len` bytes.
                let (v0, v1) = unsafe {
                    let v0 = _mm512_loadu_si512(s.add(i).cast());
                    let v1 = if half {
                        _mm512_setzero_si512()
                    } else {
                        _mm512_loadu_si512(s.add(i + 64).cast())
                    };
                    (v0, v1)
                };
                // The low bytes of the words of each lane of `v0`, then those of `v1`; the
                // high bytes likewise.
                let (v0, v1) = (
                    _mm512_shuffle_epi8(v0, to_split),
                    _mm512_shuffle_epi8(v1, to_split),
                );
                let lo = _mm512_unpacklo_epi64(v0, v1);
                let hi = _mm512_unpackhi_epi64(v0, v1);
                let s0 = _mm512_xor_si512(
                    _mm512_gf2p8affine_epi64_epi8::<0>(lo, to_planes[0]),
                    _mm512_gf2p8affine_epi64_epi8::<0>(hi, to_planes[1]),
                );
                let s1 = _mm512_xor_si512(
                    _mm512_gf2p8affine_epi64_epi8::<0>(lo, to_planes[2]),
                    _mm512_gf2p8affine_epi64_epi8::<0>(hi, to_planes[3]),
                );
                *p = [s0, s1, _mm512_xor_si512(s0, s1)];
            }
            let planes = &planes[..ns];
            let mut k = 0;
            while k < dsts.len() {
                let g = MANY_GROUP_AVX512.min(dsts.len() - k);
                let o = &ops[k * ns..(k + g) * ns];
                let d = &dsts[k..k + g];
                let f = &from_planes;
                // SAFETY: forwarded from the caller, with the bytes of this step.
                unsafe {
                    match (g, half) {
                        (4, false) => avx512_planes_group::<4, false>(planes, o, d, i, f),
                        (3, false) => avx512_planes_group::<3, false>(planes, o, d, i, f),
                        (2, false) => avx512_planes_group::<2, false>(planes, o, d, i, f),
                        (_, false) => avx512_planes_group::<1, false>(planes, o, d, i, f),
                        (4, true) => avx512_planes_group::<4, true>(planes, o, d, i, f),
                        (3, true) => avx512_planes_group::<3, true>(planes, o, d, i, f),
                        (2, true) => avx512_planes_group::<2, true>(planes, o, d, i, f),
                        (_, true) => avx512_planes_group::<1, true>(planes, o, d, i, f),
                    }
                }
                k += g;
            }
            i += if half { 64 } else { 128 };
        }
    }

    /// One step of `G` destinations from byte `at`: the products of every source's planes
    /// with its operands (`G` per source) accumulated in registers, then turned back into
    /// natural words (`from_planes`) and added to the destinations; only the first 64 bytes
    /// when `HALF`.
    ///
    /// # Safety
    /// As for `Many::pass`, with the bytes of the step for `len`; `dsts` holds `G` pointers
    /// and `ops` `G` operands per source.
    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    #[inline]
    unsafe fn avx512_planes_group<const G: usize, const HALF: bool>(
        planes: &[[__m512i; 3]],
        ops: &[[u64; 3]],
        dsts: &[*mut u8],
        at: usize,
        from_planes: &[__m512i; 4],
    ) {
        let mut u0 = [_mm512_setzero_si512(); G];
        let mut u1 = [_mm512_setzero_si512(); G];
        for (o, [s0, s1, sum]) in ops.chunks_exact(G).zip(planes) {
            for g in 0..G {
                // Each operand is used once, straight from memory (an embedded broadcast):
                // taking two steps at a time, loading each into a register for both, measured
                // slower, a broadcast into a register taking a vector pipe.
                let [m0, m1, m2] = o[g].map(|m| _mm512_set1_epi64(m as i64));
                let p0 = _mm512_gf2p8affine_epi64_epi8::<0>(*s0, m0);
                let q = _mm512_gf2p8affine_epi64_epi8::<0>(*s1, m1);
                let p2 = _mm512_gf2p8affine_epi64_epi8::<0>(*sum, m2);
                u0[g] = _mm512_ternarylogic_epi64::<0x96>(u0[g], p0, q);
                u1[g] = _mm512_ternarylogic_epi64::<0x96>(u1[g], p0, p2);
            }
        }
        // The words of each destination: the first 64 bytes, then the next 64 (zeros when
        // `HALF`).
        let f = from_planes;
        let words: [[__m512i; 2]; G] = std::array::from_fn(|g| {
            let lo = _mm512_xor_si512(
                _mm512_gf2p8affine_epi64_epi8::<0>(u0[g], f[0]),
                _mm512_gf2p8affine_epi64_epi8::<0>(u1[g], f[1]),
            );
            let hi = _mm512_xor_si512(
                _mm512_gf2p8affine_epi64_epi8::<0>(u0[g], f[2]),
                _mm512_gf2p8affine_epi64_epi8::<0>(u1[g], f[3]),
            );
            [_mm512_unpacklo_epi8(lo, hi), _mm512_unpackhi_epi8(lo, hi)]
        });
        let vectors = if HALF { 1 } else { 2 };
        // All the destinations are read before any is written, as in `avx512_gfni_span`.
        let old: [[__m512i; 2]; G] = std::array::from_fn(|g| {
            std::array::from_fn(|h| {
                if h < vectors {
                    // SAFETY: the caller vouches for the bytes of the step in every
                    // destination.
                    unsafe { _mm512_loadu_si512(dsts[g].add(at + 64 * h).cast()) }
                } else {
                    _mm512_setzero_si512()
                }
            })
        });
        for g in 0..G {
            for h in 0..vectors {
                let v = _mm512_xor_si512(old[g][h], words[g][h]);
                // SAFETY: as for the loads; the destinations overlap no other pointer.
                unsafe { _mm512_storeu_si512(dsts[g].add(at + 64 * h).cast(), v) };
            }
            prefetch(dsts[g].wrapping_add(at + PREFETCH_AHEAD));
            prefetch(dsts[g].wrapping_add(at + PREFETCH_AHEAD + 64));
        }
    }

    impl Many for Avx2Gfni {
        const MANY_SOURCES: usize = MANY_SOURCES;
        const MANY_GROUP: usize = MANY_GROUP_AVX2;
        type ManyOperand = [u64; 3];

        fn many_operand(c: u16) -> [u64; 3] {
            tower_operand(c)
        }

        unsafe fn pass(srcs: &[*const u8], ops: &[[u64; 3]], dsts: &[*mut u8], len: usize) {
            // SAFETY: forwarded from the caller.
            unsafe { avx2_planes_pass(srcs, ops, dsts, len) }
        }
    }

    /// `Many::pass` with 256-bit vectors, 64 source bytes a step.
    ///
    /// # Safety
    /// As for `Many::pass`, with AVX2 and GFNI.
    #[target_feature(enable = "avx2,gfni")]
    unsafe fn avx2_planes_pass(srcs: &[*const u8], ops: &[[u64; 3]], dsts: &[*mut u8], len: usize) {
        let tw = tower();
        let to_split = _mm256_broadcastsi128_si256(lane(TO_SPLIT));
        let to_planes = tw.to_planes.map(|m| _mm256_set1_epi64x(m as i64));
        let from_planes = tw.from_planes.map(|m| _mm256_set1_epi64x(m as i64));
        let ns = srcs.len();
        assert!(ns <= MANY_SOURCES);
        let mut planes = [[_mm256_setzero_si256(); 3]; MANY_SOURCES];
        let mut i = 0;
        while i < len {
            for (s, p) in srcs.iter().zip(planes.iter_mut()) {
                prefetch(s.wrapping_add(i + PREFETCH_AHEAD));
                // SAFETY: `i + 64 <= len`, and every source is valid for `len` bytes.
                let (v0, v1) = unsafe {
                    (
                        _mm256_loadu_si256(s.add(i).cast()),
                        _mm256_loadu_si256(s.add(i + 32).cast()),
                    )
                };
                let (v0, v1) = (
                    _mm256_shuffle_epi8(v0, to_split),
                    _mm256_shuffle_epi8(v1, to_split),
                );
                let lo = _mm256_unpacklo_epi64(v0, v1);
                let hi = _mm256_unpackhi_epi64(v0, v1);
                let s0 = _mm256_xor_si256(
                    _mm256_gf2p8affine_epi64_epi8::<0>(lo, to_planes[0]),
                    _mm256_gf2p8affine_epi64_epi8::<0>(hi, to_planes[1]),
                );
                let s1 = _mm256_xor_si256(
                    _mm256_gf2p8affine_epi64_epi8::<0>(lo, to_planes[2]),
                    _mm256_gf2p8affine_epi64_epi8::<0>(hi, to_planes[3]),
                );
                *p = [s0, s1, _mm256_xor_si256(s0, s1)];
            }
            let planes = &planes[..ns];
            let mut k = 0;
            while k < dsts.len() {
                let g = MANY_GROUP_AVX2.min(dsts.len() - k);
                let o = &ops[k * ns..(k + g) * ns];
                let d = &dsts[k..k + g];
                let f = &from_planes;
                // SAFETY: forwarded from the caller, with `i + 64 <= len`.
                unsafe {
                    match g {
                        4 => avx2_planes_group::<4>(planes, o, d, i, f),
                        3 => avx2_planes_group::<3>(planes, o, d, i, f),
                        2 => avx2_planes_group::<2>(planes, o, d, i, f),
                        _ => avx2_planes_group::<1>(planes, o, d, i, f),
                    }
                }
                k += g;
            }
            i += 64;
        }
    }

    /// `avx512_planes_group` with 256-bit vectors, for 64 bytes.
    ///
    /// # Safety
    /// As for `avx512_planes_group`, with AVX2 and GFNI.
    #[target_feature(enable = "avx2,gfni")]
    #[inline]
    unsafe fn avx2_planes_group<const G: usize>(
        planes: &[[__m256i; 3]],
        ops: &[[u64; 3]],
        dsts: &[*mut u8],
        at: usize,
        from_planes: &[__m256i; 4],
    ) {
        let mut u0 = [_mm256_setzero_si256(); G];
        let mut u1 = [_mm256_setzero_si256(); G];
        for (o, [s0, s1, sum]) in ops.chunks_exact(G).zip(planes) {
            for g in 0..G {
                let [m0, m1, m2] = o[g].map(|m| _mm256_set1_epi64x(m as i64));
                let p0 = _mm256_gf2p8affine_epi64_epi8::<0>(*s0, m0);
                let q = _mm256_gf2p8affine_epi64_epi8::<0>(*s1, m1);
                let p2 = _mm256_gf2p8affine_epi64_epi8::<0>(*sum, m2);
                u0[g] = _mm256_xor_si256(u0[g], _mm256_xor_si256(p0, q));
                u1[g] = _mm256_xor_si256(u1[g], _mm256_xor_si256(p0, p2));
            }
        }
        let f = from_planes;
        for g in 0..G {
            let lo = _mm256_xor_si256(
                _mm256_gf2p8affine_epi64_epi8::<0>(u0[g], f[0]),
                _mm256_gf2p8affine_epi64_epi8::<0>(u1[g], f[1]),
            );
            let hi = _mm256_xor_si256(
                _mm256_gf2p8affine_epi64_epi8::<0>(u0[g], f[2]),
                _mm256_gf2p8affine_epi64_epi8::<0>(u1[g], f[3]),
            );
            // SAFETY: the caller vouches for `at + 64` bytes of every destination.
            unsafe {
                for (half, v) in [_mm256_unpacklo_epi8(lo, hi), _mm256_unpackhi_epi8(lo, hi)]
                    .into_iter()
                    .enumerate()
                {
                    let d = dsts[g].add(at + 32 * half).cast();
                    _mm256_storeu_si256(d, _mm256_xor_si256(_mm256_loadu_si256(d), v));
                }
            }
            prefetch(dsts[g].wrapping_add(at + PREFETCH_AHEAD));
        }
    }

    /// Sources taken in a pass of the nibble version, whose operands are 128 bytes each: with
    /// 103 destinations, 16 sources take 210 KB of them, which the smaller second-level caches
    /// of older processors still hold; 32 measured no faster here.
    const MANY_SOURCES_NIBBLES: usize = 16;

    impl Many for Avx2Nibbles {
        const MANY_SOURCES: usize = MANY_SOURCES_NIBBLES;
        const MANY_GROUP: usize = 1;
        type ManyOperand = [u8; 128];

        fn many_operand(c: u16) -> [u8; 128] {
            Self::operand(c)
        }

        unsafe fn pass(srcs: &[*const u8], ops: &[[u8; 128]], dsts: &[*mut u8], len: usize) {
            // SAFETY: forwarded from the caller.
            unsafe { avx2_nibbles_pass(srcs, ops, dsts, len) }
        }
    }

    /// `Many::pass` by nibble lookups, 128 source bytes a step (64 for the last when `len` is
    /// an odd multiple of 64). Every source is cut into its four nibble vectors per 64 bytes
    /// once a step, as `avx2_nibble_span` does, and every destination then accumulates the
    /// looked-up low and high bytes of its products over the sources, in the order of the
    /// planes: they are interleaved back into words only at the end of the pass.
    ///
    /// # Safety
    /// As for `Many::pass`, with AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_nibbles_pass(
        srcs: &[*const u8],
        ops: &[[u8; 128]],
        dsts: &[*mut u8],
        len: usize,
    ) {
        let to_split = _mm256_broadcastsi128_si256(lane(TO_SPLIT));
        let low4 = _mm256_set1_epi8(0x0f);
        let ns = srcs.len();
        assert!(ns <= MANY_SOURCES_NIBBLES);
        let mut nibbles = [[[_mm256_setzero_si256(); 4]; 2]; MANY_SOURCES_NIBBLES];
        let mut i = 0;
        while i < len {
            let w = if i + 128 <= len { 2 } else { 1 };
            for (s, n) in srcs.iter().zip(nibbles.iter_mut()) {
                for line in 0..w {
                    prefetch(s.wrapping_add(i + PREFETCH_AHEAD + 64 * line));
                }
                for (h, n) in n.iter_mut().enumerate().take(w) {
                    // SAFETY: `i + 64 * w <= len`, and every source is valid for `len` bytes.
                    let (a, b) = unsafe {
                        let at = s.add(i + 64 * h);
                        (
                            _mm256_loadu_si256(at.cast()),
                            _mm256_loadu_si256(at.add(32).cast()),
                        )
                    };
                    let a = _mm256_shuffle_epi8(a, to_split);
                    let b = _mm256_shuffle_epi8(b, to_split);
                    let lo = _mm256_unpacklo_epi64(a, b);
                    let hi = _mm256_unpackhi_epi64(a, b);
                    *n = [
                        _mm256_and_si256(lo, low4),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(lo), low4),
                        _mm256_and_si256(hi, low4),
                        _mm256_and_si256(_mm256_srli_epi16::<4>(hi), low4),
                    ];
                }
            }
            let nibbles = &nibbles[..ns];
            for (d, o) in dsts.iter().zip(ops.chunks_exact(ns)) {
                // SAFETY: forwarded from the caller, with the `64 * w` bytes from `i`.
                unsafe {
                    if w == 2 {
                        avx2_nibbles_dst::<2>(nibbles, o, *d, i);
                    } else {
                        avx2_nibbles_dst::<1>(nibbles, o, *d, i);
                    }
                }
            }
            i += 64 * w;
        }
    }

    /// `W` times 64 bytes from `at` of one destination: the lookups of every source's
    /// nibbles in its tables (`ops`, one per source) accumulated in registers, each table
    /// serving all `W`, then interleaved into words and added to the destination.
    ///
    /// # Safety
    /// As for `Many::pass`, with `at + 64 * W` bytes for `len`; `ops` holds one operand per
    /// source.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn avx2_nibbles_dst<const W: usize>(
        nibbles: &[[[__m256i; 4]; 2]],
        ops: &[[u8; 128]],
        dst: *mut u8,
        at: usize,
    ) {
        let mut lo = [_mm256_setzero_si256(); W];
        let mut hi = [_mm256_setzero_si256(); W];
        for (op, n) in ops.iter().zip(nibbles) {
            let t: [__m256i; 8] = std::array::from_fn(|k| {
                // SAFETY: `16 * k + 16 <= 128`, inside the operand.
                _mm256_broadcastsi128_si256(unsafe {
                    _mm_loadu_si128(op[16 * k..].as_ptr().cast())
                })
            });
            for w in 0..W {
                let look = |k: usize| _mm256_shuffle_epi8(t[k], n[w][k % 4]);
                lo[w] = _mm256_xor_si256(
                    _mm256_xor_si256(lo[w], _mm256_xor_si256(look(0), look(1))),
                    _mm256_xor_si256(look(2), look(3)),
                );
                hi[w] = _mm256_xor_si256(
                    _mm256_xor_si256(hi[w], _mm256_xor_si256(look(4), look(5))),
                    _mm256_xor_si256(look(6), look(7)),
                );
            }
        }
        for w in 0..W {
            // Interleaving the planes within lanes gives words 0-15, then words 16-31.
            let halves = [
                _mm256_unpacklo_epi8(lo[w], hi[w]),
                _mm256_unpackhi_epi8(lo[w], hi[w]),
            ];
            for (h, v) in halves.into_iter().enumerate() {
                // SAFETY: the caller vouches for `at + 64 * W` bytes of the destination.
                unsafe {
                    let d = dst.add(at + 64 * w + 32 * h).cast();
                    _mm256_storeu_si256(d, _mm256_xor_si256(_mm256_loadu_si256(d), v));
                }
            }
        }
        for line in 0..W {
            prefetch(dst.wrapping_add(at + PREFETCH_AHEAD + 64 * line));
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The operand `m` (in the form `affine_of` gives) applied to the byte `x`, as
        /// `vgf2p8affineqb` does.
        fn apply_affine(m: u64, x: u8) -> u8 {
            (0..8).fold(0, |out, i| {
                let row = (m >> (8 * (7 - i))) as u8;
                out | (((row & x).count_ones() & 1) as u8) << i
            })
        }

        /// The planar method on single words, with the very operands of the vector versions:
        /// to the coordinates, the three products, their sums, back to a natural word; for
        /// every coefficient, with words of every low and high byte.
        #[test]
        fn the_planar_form_multiplies() {
            let tw = tower();
            let [l0, h0, l1, h1] = tw.to_planes;
            let [f0, f1, f2, f3] = tw.from_planes;
            for c in 0..=u16::MAX {
                let s = c.rotate_left(5) ^ 0x9e37;
                let (lo, hi) = (s as u8, (s >> 8) as u8);
                let s0 = apply_affine(l0, lo) ^ apply_affine(h0, hi);
                let s1 = apply_affine(l1, lo) ^ apply_affine(h1, hi);
                let [m0, m1, m2] = tower_operand(c);
                let p0 = apply_affine(m0, s0);
                let u0 = p0 ^ apply_affine(m1, s1);
                let u1 = p0 ^ apply_affine(m2, s0 ^ s1);
                let lo = apply_affine(f0, u0) ^ apply_affine(f1, u1);
                let hi = apply_affine(f2, u0) ^ apply_affine(f3, u1);
                let got = u16::from_le_bytes([lo, hi]);
                assert_eq!(got, crate::gf::mul(c, s), "c={c:#06x} s={s:#06x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), enough for test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }

        fn coef(&mut self) -> u16 {
            match self.next() % 8 {
                0 => 0,
                1 => 1,
                2 => 0xffff,
                _ => self.next() as u16,
            }
        }
    }

    /// The word-by-word definition, straight from the field.
    fn by_definition(src: &[u8], coefs: &[u16], dsts: &mut [Vec<u8>]) {
        for (c, d) in coefs.iter().zip(dsts.iter_mut()) {
            for (dw, sw) in d.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                let s = u16::from_le_bytes([sw[0], sw[1]]);
                let v = u16::from_le_bytes([dw[0], dw[1]]) ^ gf::mul(*c, s);
                dw.copy_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn apply(path: Path, src: &[u8], coefs: &[u16], dsts: &mut [Vec<u8>]) {
        let mut refs: Vec<&mut [u8]> = dsts.iter_mut().map(|b| b.as_mut_slice()).collect();
        check(src, coefs, &refs);
        run(path, src, coefs, &mut refs);
    }

    const LENGTHS: [usize; 14] = [
        0,
        2,
        30,
        32,
        34,
        62,
        64,
        66,
        126,
        128,
        4094,
        4098,
        8192 + 96,
        100_000,
    ];

    #[test]
    fn portable_matches_the_field() {
        let src: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
        let coefs = [0u16, 1, 2, 0x1234, 0xffff];
        let mut bufs: Vec<Vec<u8>> = (0..coefs.len()).map(|k| vec![k as u8; 512]).collect();
        let before = bufs.clone();
        {
            let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            mul_add_multi(&src, &coefs, &mut refs);
        }
        for (k, c) in coefs.iter().enumerate() {
            for w in 0..256 {
                let s = u16::from_le_bytes([src[2 * w], src[2 * w + 1]]);
                let b = u16::from_le_bytes([before[k][2 * w], before[k][2 * w + 1]]);
                let a = u16::from_le_bytes([bufs[k][2 * w], bufs[k][2 * w + 1]]);
                assert_eq!(a, b ^ gf::mul(*c, s));
            }
        }
    }

    #[test]
    fn columns_are_products_of_powers_of_two() {
        for c in [0u16, 1, 2, 0x8000, 0x1234, 0xffff, 0xbeef] {
            let col = columns(c);
            for (j, image) in col.iter().enumerate() {
                assert_eq!(*image, gf::mul(c, 1 << j), "c={c:#x} j={j}");
            }
        }
    }

    #[test]
    fn portable_matches_the_definition_on_random_data() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for len in [0, 2, 64, 1000, 4098] {
            let src = rng.bytes(len);
            let coefs: Vec<u16> = (0..7).map(|_| rng.coef()).collect();
            let start: Vec<Vec<u8>> = coefs.iter().map(|_| rng.bytes(len)).collect();
            let mut want = start.clone();
            by_definition(&src, &coefs, &mut want);
            let mut got = start;
            apply(Path::Portable, &src, &coefs, &mut got);
            assert!(got == want, "len {len}");
        }
    }

    /// One version against `portable`, byte for byte, over many lengths, numbers of
    /// destinations (1 to 70, across the groups and batches of the driver) and coefficients
    /// (0 and 1 included).
    fn same_as_portable(path: Path) {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ path as u64);
        for len in LENGTHS {
            for ndst in [1usize, 2, 3, 4, 5, 8, 13, 40, 70] {
                let src = rng.bytes(len);
                let mut coefs: Vec<u16> = (0..ndst).map(|_| rng.coef()).collect();
                if ndst > 2 {
                    coefs[0] = 0;
                    coefs[1] = 1;
                }
                let start: Vec<Vec<u8>> = coefs.iter().map(|_| rng.bytes(len)).collect();
                let mut want = start.clone();
                apply(Path::Portable, &src, &coefs, &mut want);
                let mut got = start.clone();
                apply(path, &src, &coefs, &mut got);
                for k in 0..ndst {
                    if let Some(at) = (0..len).find(|&i| got[k][i] != want[k][i]) {
                        panic!(
                            "{}: length {len}, {ndst} destinations, destination {k} \
                             (coefficient {:#06x}) differs first at byte {at}",
                            path.name(),
                            coefs[k]
                        );
                    }
                }
            }
        }
    }

    /// Misaligned starts: sub-slices beginning at every even offset within a vector.
    fn same_as_portable_misaligned(path: Path) {
        let mut rng = Rng(0x1234_5678_9abc_def1 ^ path as u64);
        let src_all = rng.bytes(1200);
        let dst_all: Vec<Vec<u8>> = (0..6).map(|_| rng.bytes(1200)).collect();
        let coefs: Vec<u16> = (0..6).map(|_| rng.coef()).collect();
        for off in (0..64).step_by(2) {
            for (s_off, d_off) in [(off, off), (0, off), (off, 64 - off)] {
                let len = 1000 + off;
                let src = &src_all[s_off..s_off + len];
                let start = dst_all.clone();
                let mut want = start.clone();
                let mut got = start;
                for (out, p) in [(&mut want, Path::Portable), (&mut got, path)] {
                    let mut refs: Vec<&mut [u8]> =
                        out.iter_mut().map(|b| &mut b[d_off..d_off + len]).collect();
                    run(p, src, &coefs, &mut refs);
                }
                assert!(got == want, "{}: offsets {s_off} and {d_off}", path.name());
            }
        }
    }

    /// Every even length up to 200 from every even offset within a 64-byte line, the
    /// destinations starting at different offsets from one another: the aligned head, the
    /// tail and calls without a single whole step all occur.
    fn same_as_portable_short(path: Path) {
        let mut rng = Rng(0x0f1e_2d3c_4b5a_6978 ^ path as u64);
        let src_all = rng.bytes(300);
        let dst_all: Vec<Vec<u8>> = (0..6).map(|_| rng.bytes(300)).collect();
        let coefs: Vec<u16> = (0..6).map(|_| rng.next() as u16 | 1).collect();
        for len in (0..=200).step_by(2) {
            for off in (0..64).step_by(2) {
                let src = &src_all[64 - off..64 - off + len];
                let mut want = dst_all.clone();
                let mut got = dst_all.clone();
                for (out, p) in [(&mut want, Path::Portable), (&mut got, path)] {
                    let mut refs: Vec<&mut [u8]> = out
                        .iter_mut()
                        .enumerate()
                        .map(|(k, b)| &mut b[off + 6 * k..off + 6 * k + len])
                        .collect();
                    run(p, src, &coefs, &mut refs);
                }
                assert!(got == want, "{}: length {len}, offset {off}", path.name());
            }
        }
    }

    /// All the comparisons with `portable` for one version, forced rather than dispatched.
    fn check_path(path: Path) {
        if !path.available() {
            eprintln!("skipped: this processor cannot run {}", path.name());
            return;
        }
        same_as_portable(path);
        same_as_portable_misaligned(path);
        same_as_portable_short(path);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_gfni_matches_portable() {
        check_path(Path::Avx512Gfni);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_gfni_matches_portable() {
        check_path(Path::Avx2Gfni);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_nibbles_match_portable() {
        check_path(Path::Avx2);
    }

    /// `mul_add_multi` itself, through whatever version it picks here.
    #[test]
    fn dispatched_kernel_matches_the_definition() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for len in [0, 2, 62, 64, 126, 128, 4098, 100_000] {
            let src = rng.bytes(len);
            let coefs: Vec<u16> = (0..11).map(|_| rng.coef()).collect();
            let start: Vec<Vec<u8>> = coefs.iter().map(|_| rng.bytes(len)).collect();
            let mut want = start.clone();
            by_definition(&src, &coefs, &mut want);
            let mut got = start;
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|b| b.as_mut_slice()).collect();
            mul_add_multi(&src, &coefs, &mut refs);
            assert!(got == want, "{}: length {len}", path_name());
        }
    }

    #[test]
    fn dispatch_uses_the_fastest_available_path() {
        let first = Path::ALL.into_iter().find(|p| p.available()).unwrap();
        assert_eq!(path_name(), first.name());
        assert_eq!(available_paths()[0], path_name());
        assert_eq!(*available_paths().last().unwrap(), "portable");
    }

    #[test]
    fn named_paths_run_and_agree() {
        let mut rng = Rng(77);
        let src = rng.bytes(3000);
        let coefs: Vec<u16> = (0..9).map(|_| rng.coef()).collect();
        let start: Vec<Vec<u8>> = coefs.iter().map(|_| rng.bytes(3000)).collect();
        let mut want = start.clone();
        by_definition(&src, &coefs, &mut want);
        for name in available_paths() {
            let mut got = start.clone();
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|b| b.as_mut_slice()).collect();
            mul_add_multi_on(name, &src, &coefs, &mut refs);
            assert!(got == want, "{name}");
        }
    }

    #[test]
    #[should_panic(expected = "no kernel version named")]
    fn unknown_path_names_are_refused() {
        mul_add_multi_on("sse9", &[], &[], &mut []);
    }

    /// `mul_add_many` on `path` from `start`, the destinations taken from `offset` bytes into
    /// their buffers.
    fn apply_many(
        path: Path,
        srcs: &[&[u8]],
        coefs: &[Vec<u16>],
        start: &[Vec<u8>],
        offset: usize,
    ) -> Vec<Vec<u8>> {
        let mut out = start.to_vec();
        let len = srcs.first().map_or(0, |s| s.len());
        let mut refs: Vec<&mut [u8]> = out
            .iter_mut()
            .map(|b| &mut b[offset..offset + len])
            .collect();
        check_many(srcs, coefs, &refs);
        run_many(path, srcs, coefs, &mut refs);
        out
    }

    /// The reference for `mul_add_many`: `portable` source by source.
    fn many_by_portable(
        srcs: &[&[u8]],
        coefs: &[Vec<u16>],
        start: &[Vec<u8>],
        offset: usize,
    ) -> Vec<Vec<u8>> {
        let mut out = start.to_vec();
        let len = srcs.first().map_or(0, |s| s.len());
        let mut refs: Vec<&mut [u8]> = out
            .iter_mut()
            .map(|b| &mut b[offset..offset + len])
            .collect();
        for (s, c) in srcs.iter().zip(coefs) {
            portable(s, c, &mut refs);
        }
        out
    }

    /// Coefficients for `nsrc` sources and `ndst` destinations, with zeros and ones among
    /// them, a whole row and a whole column of zeros included when there is room.
    fn many_coefs(rng: &mut Rng, nsrc: usize, ndst: usize) -> Vec<Vec<u16>> {
        let mut coefs: Vec<Vec<u16>> = (0..nsrc)
            .map(|_| (0..ndst).map(|_| rng.coef()).collect())
            .collect();
        coefs[0][0] = 1;
        if nsrc > 1 {
            coefs[1].iter_mut().for_each(|c| *c = 0);
        }
        if ndst > 1 {
            coefs.iter_mut().for_each(|row| row[ndst - 1] = 0);
        }
        coefs
    }

    /// `mul_add_many` on one version against `portable` source by source, byte for byte: over
    /// lengths with and without a tail shorter than 64 bytes or a last step of 64, numbers of
    /// sources across the passes (a lone source left over included) and numbers of
    /// destinations across the groups.
    fn many_same_as_portable(path: Path) {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d ^ path as u64);
        for len in [0usize, 2, 62, 64, 192, 4096 + 2, 4096 + 64 + 2, 10_000] {
            for nsrc in [1usize, 3, 17, 33, 40] {
                for ndst in [1usize, 4, 5, 103] {
                    if len * nsrc * ndst > 10_000 * 40 * 5 && nsrc != 40 {
                        continue; // the biggest cases once, with 40 sources
                    }
                    let bufs: Vec<Vec<u8>> = (0..nsrc).map(|_| rng.bytes(len)).collect();
                    let srcs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
                    let coefs = many_coefs(&mut rng, nsrc, ndst);
                    let start: Vec<Vec<u8>> = (0..ndst).map(|_| rng.bytes(len)).collect();
                    let want = many_by_portable(&srcs, &coefs, &start, 0);
                    let got = apply_many(path, &srcs, &coefs, &start, 0);
                    for k in 0..ndst {
                        if let Some(at) = (0..len).find(|&i| got[k][i] != want[k][i]) {
                            panic!(
                                "{}: length {len}, {nsrc} sources, {ndst} destinations, \
                                 destination {k} differs first at byte {at}",
                                path.name()
                            );
                        }
                    }
                }
            }
        }
    }

    /// `mul_add_many` with the sources and the destinations starting at even offsets within a
    /// 64-byte line, different ones.
    fn many_same_as_portable_misaligned(path: Path) {
        let mut rng = Rng(0x0123_4567_89ab_cdef ^ path as u64);
        let src_all: Vec<Vec<u8>> = (0..5).map(|_| rng.bytes(1400)).collect();
        let start: Vec<Vec<u8>> = (0..6).map(|_| rng.bytes(1400)).collect();
        let coefs = many_coefs(&mut rng, 5, 6);
        for (s_off, d_off) in [(2, 2), (0, 34), (62, 6)] {
            let len = 1000 + 2 * s_off;
            let srcs: Vec<&[u8]> = src_all.iter().map(|b| &b[s_off..s_off + len]).collect();
            let want = many_by_portable(&srcs, &coefs, &start, d_off);
            let got = apply_many(path, &srcs, &coefs, &start, d_off);
            assert!(got == want, "{}: offsets {s_off} and {d_off}", path.name());
        }
    }

    fn check_many_path(path: Path) {
        if !path.available() {
            eprintln!("skipped: this processor cannot run {}", path.name());
            return;
        }
        many_same_as_portable(path);
        many_same_as_portable_misaligned(path);
    }

    #[test]
    fn many_portable_matches_portable_per_source() {
        check_many_path(Path::Portable);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn many_avx512_gfni_matches_portable() {
        check_many_path(Path::Avx512Gfni);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn many_avx2_gfni_matches_portable() {
        check_many_path(Path::Avx2Gfni);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn many_avx2_nibbles_match_portable() {
        check_many_path(Path::Avx2);
    }

    /// `mul_add_many` itself, through whatever version it picks here, and by name.
    #[test]
    fn dispatched_many_matches_the_definition() {
        let mut rng = Rng(0x7f4a_7c15_9e37_79b9);
        let len = 3000;
        let bufs: Vec<Vec<u8>> = (0..6).map(|_| rng.bytes(len)).collect();
        let srcs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
        let coefs = many_coefs(&mut rng, 6, 9);
        let start: Vec<Vec<u8>> = (0..9).map(|_| rng.bytes(len)).collect();
        let mut want = start.clone();
        for (s, c) in srcs.iter().zip(&coefs) {
            by_definition(s, c, &mut want);
        }
        let mut got = start.clone();
        let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|b| b.as_mut_slice()).collect();
        mul_add_many(&srcs, &coefs, &mut refs);
        assert!(got == want, "{}", path_name());
        for name in available_paths() {
            let mut got = start.clone();
            let mut refs: Vec<&mut [u8]> = got.iter_mut().map(|b| b.as_mut_slice()).collect();
            mul_add_many_on(name, &srcs, &coefs, &mut refs);
            assert!(got == want, "{name}");
        }
    }

    #[test]
    fn many_without_sources_or_destinations_does_nothing() {
        let mut d = vec![7u8; 64];
        mul_add_many(&[], &[], &mut [&mut d]);
        assert_eq!(d, vec![7u8; 64]);
        mul_add_many(&[&[1u8; 64]], &[vec![]], &mut []);
    }

    #[test]
    #[should_panic(expected = "one row of coefficients per source")]
    fn many_wants_a_row_of_coefficients_per_source() {
        let mut d = vec![0u8; 64];
        mul_add_many(&[&[1u8; 64], &[2u8; 64]], &[vec![3]], &mut [&mut d]);
    }
}
