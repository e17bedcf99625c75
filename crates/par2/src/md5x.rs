//! MD5 of many buffers of one length at once, as PAR2 creation needs for its slices.
//!
//! MD5 is a chain of dependent steps, so one buffer keeps a core mostly idle. Here the
//! buffers are hashed side by side instead, one buffer per 32-bit lane of a vector
//! register: 16 at once with AVX-512, 8 with AVX2. The working variables A, B, C and D
//! each live in one register, and every MD5 step is done for all lanes with a few vector
//! instructions. Each 64-byte block of the lanes is read with one plain load per lane and
//! turned into "word `w` of every lane" vectors by a dword transpose (on an AMD EPYC with
//! AVX-512 this ran at about twice the speed of reading the words with gathers).
//!
//! Since every buffer has the same length, all lanes take the same number of blocks and
//! need the same padding, so they finish together. A group smaller than the vector (fewer
//! buffers, or the last ones) is filled up with copies of its first buffer whose results
//! are dropped; a group of 2 to 8 buffers takes the 8-lane pass, and a single buffer is
//! hashed with the `md-5` crate.
//!
//! The version used is chosen at run time from what the processor has; without AVX-512F
//! or AVX2 (or off x86_64) every buffer goes through `md5::Md5`.

use md5::{Digest, Md5};
use rayon::prelude::*;

/// The MD5 initial values of A, B, C and D.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The MD5 of every buffer, in order; all buffers have the same length.
///
/// # Panics
/// If the buffers are not all of the same length.
pub fn md5_many(bufs: &[&[u8]]) -> Vec<[u8; 16]> {
    let mut out = vec![[0u8; 16]; bufs.len()];
    hash_into(Path::best(), bufs, &mut out);
    out
}

/// As [`md5_many`], with the groups of buffers that are hashed together shared among
/// the threads of the current rayon pool.
///
/// # Panics
/// If the buffers are not all of the same length.
pub fn md5_many_parallel(bufs: &[&[u8]]) -> Vec<[u8; 16]> {
    let path = Path::best();
    check_lengths(bufs);
    let mut out = vec![[0u8; 16]; bufs.len()];
    let lanes = path.lanes();
    out.par_chunks_mut(lanes)
        .zip(bufs.par_chunks(lanes))
        .for_each(|(out, bufs)| hash_into(path, bufs, out));
    out
}

/// The ways of hashing a group of buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// 16 lanes in 512-bit registers.
    Avx512,
    /// 8 lanes in 256-bit registers.
    Avx2,
    /// One buffer at a time with `md5::Md5`.
    Scalar,
}

impl Path {
    /// Every way, fastest first.
    const ALL: [Path; 3] = [Path::Avx512, Path::Avx2, Path::Scalar];

    /// Whether this processor can run the way (the feature checks are cached by std).
    fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => is_x86_feature_detected!("avx2"),
            Path::Scalar => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest way this processor can run.
    fn best() -> Path {
        Path::ALL
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(Path::Scalar)
    }

    /// How many buffers are hashed together.
    fn lanes(self) -> usize {
        match self {
            Path::Avx512 => 16,
            Path::Avx2 => 8,
            Path::Scalar => 1,
        }
    }
}

fn check_lengths(bufs: &[&[u8]]) {
    if let Some(first) = bufs.first() {
        assert!(
            bufs.iter().all(|b| b.len() == first.len()),
            "md5_many: the buffers are not all of the same length"
        );
    }
}

/// Writes the MD5 of `bufs[i]` to `out[i]` using `path`.
///
/// The buffers go by groups of `path.lanes()`. A group of one is hashed with `md5::Md5`,
/// which takes less time than a vector pass; a group of 2 to 8 with 8 lanes where the
/// processor has AVX2, as a pass of 8 lanes with AVX2 takes less time than one of 16 with
/// AVX-512.
///
/// # Panics
/// If the processor cannot run `path`, if `out` and `bufs` differ in length, or if the
/// buffers do.
fn hash_into(path: Path, bufs: &[&[u8]], out: &mut [[u8; 16]]) {
    assert!(
        path.available(),
        "{path:?} is not available on this processor"
    );
    assert_eq!(bufs.len(), out.len());
    check_lengths(bufs);
    let lanes = path.lanes();
    for (bufs, out) in bufs.chunks(lanes).zip(out.chunks_mut(lanes)) {
        #[cfg(target_arch = "x86_64")]
        if bufs.len() > 1 {
            if path == Path::Avx512 && (bufs.len() > 8 || !Path::Avx2.available()) {
                hash_group::<16>(bufs, out, |state, lanes| {
                    // SAFETY: `path.available()` was checked: the processor has AVX-512F.
                    unsafe { x86::compress16(state, lanes) }
                });
                continue;
            }
            if path != Path::Scalar && Path::Avx2.available() {
                hash_group::<8>(bufs, out, |state, lanes| {
                    // SAFETY: `Path::Avx2.available()` was checked: the processor has AVX2.
                    unsafe { x86::compress8(state, lanes) }
                });
                continue;
            }
        }
        for (buf, out) in bufs.iter().zip(out.iter_mut()) {
            *out = Md5::digest(buf).into();
        }
    }
}

// The lane-parallel code below is used by the x86_64 versions only.

/// The MD5 state of `N` lanes: `state[v][i]` is variable v (A, B, C or D) of lane i.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
type State<const N: usize> = [[u32; N]; 4];

/// Writes the MD5 of `bufs[i]` to `out[i]`, for 2 to `N` buffers of one length, with
/// `compress`, which runs the MD5 compression of `N` lanes over all the 64-byte blocks of
/// its `N` slices (all of one length, a multiple of 64).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn hash_group<const N: usize>(
    bufs: &[&[u8]],
    out: &mut [[u8; 16]],
    compress: impl Fn(&mut State<N>, &[&[u8]; N]),
) {
    assert!(!bufs.is_empty() && bufs.len() <= N && out.len() == bufs.len());
    let len = bufs[0].len();
    let body = len - len % 64;
    // Lanes without a buffer of their own hash a copy of the first one.
    let mut lanes = [&bufs[0][..body]; N];
    for (lane, buf) in lanes.iter_mut().zip(bufs) {
        *lane = &buf[..body];
    }
    let mut state: State<N> = INIT.map(|v| [v; N]);
    compress(&mut state, &lanes);
    // The rest of each buffer and the padding: one or two more blocks.
    let mut tails = [[0u8; 128]; N];
    let mut used = 0;
    for (i, tail) in tails.iter_mut().enumerate() {
        let buf = bufs.get(i).unwrap_or(&bufs[0]);
        used = final_blocks(&buf[body..], len, tail);
    }
    let mut lanes = [&tails[0][..used]; N];
    for (lane, tail) in lanes.iter_mut().zip(&tails) {
        *lane = &tail[..used];
    }
    compress(&mut state, &lanes);
    for (i, digest) in out.iter_mut().enumerate() {
        for (bytes, v) in digest.chunks_exact_mut(4).zip(&state) {
            bytes.copy_from_slice(&v[i].to_le_bytes());
        }
    }
}

/// The last one or two blocks of a message of `total` bytes whose unhashed end is `rest`
/// (fewer than 64 bytes): `rest`, the byte 0x80, zeros, and the length in bits as a
/// 64-bit little-endian number. Returns how many of the 128 bytes are used: 64 or 128.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn final_blocks(rest: &[u8], total: usize, tail: &mut [u8; 128]) -> usize {
    debug_assert!(rest.len() < 64);
    let used = if rest.len() < 56 { 64 } else { 128 };
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    tail[rest.len() + 1..used - 8].fill(0);
    tail[used - 8..used].copy_from_slice(&((total as u64).wrapping_mul(8)).to_le_bytes());
    used
}

/// The 64 MD5 steps on the working variables `$a`, `$b`, `$c`, `$d` with the message
/// words `$m[0..16]` of one block. Each step is passed to `$step` as: the round function
/// (F, G, H or I), the four variables in the order of the step (the first one is the one
/// updated), the index of the message word, the additive constant and the rotation.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_steps {
    ($step:ident, $m:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
        $step!($m; F, $a, $b, $c, $d, 0, 0xd76aa478, 7);
        $step!($m; F, $d, $a, $b, $c, 1, 0xe8c7b756, 12);
        $step!($m; F, $c, $d, $a, $b, 2, 0x242070db, 17);
        $step!($m; F, $b, $c, $d, $a, 3, 0xc1bdceee, 22);
        $step!($m; F, $a, $b, $c, $d, 4, 0xf57c0faf, 7);
        $step!($m; F, $d, $a, $b, $c, 5, 0x4787c62a, 12);
        $step!($m; F, $c, $d, $a, $b, 6, 0xa8304613, 17);
        $step!($m; F, $b, $c, $d, $a, 7, 0xfd469501, 22);
        $step!($m; F, $a, $b, $c, $d, 8, 0x698098d8, 7);
        $step!($m; F, $d, $a, $b, $c, 9, 0x8b44f7af, 12);
        $step!($m; F, $c, $d, $a, $b, 10, 0xffff5bb1, 17);
        $step!($m; F, $b, $c, $d, $a, 11, 0x895cd7be, 22);
        $step!($m; F, $a, $b, $c, $d, 12, 0x6b901122, 7);
        $step!($m; F, $d, $a, $b, $c, 13, 0xfd987193, 12);
        $step!($m; F, $c, $d, $a, $b, 14, 0xa679438e, 17);
        $step!($m; F, $b, $c, $d, $a, 15, 0x49b40821, 22);
        $step!($m; G, $a, $b, $c, $d, 1, 0xf61e2562, 5);
        $step!($m; G, $d, $a, $b, $c, 6, 0xc040b340, 9);
        $step!($m; G, $c, $d, $a, $b, 11, 0x265e5a51, 14);
        $step!($m; G, $b, $c, $d, $a, 0, 0xe9b6c7aa, 20);
        $step!($m; G, $a, $b, $c, $d, 5, 0xd62f105d, 5);
        $step!($m; G, $d, $a, $b, $c, 10, 0x02441453, 9);
        $step!($m; G, $c, $d, $a, $b, 15, 0xd8a1e681, 14);
        $step!($m; G, $b, $c, $d, $a, 4, 0xe7d3fbc8, 20);
        $step!($m; G, $a, $b, $c, $d, 9, 0x21e1cde6, 5);
        $step!($m; G, $d, $a, $b, $c, 14, 0xc33707d6, 9);
        $step!($m; G, $c, $d, $a, $b, 3, 0xf4d50d87, 14);
        $step!($m; G, $b, $c, $d, $a, 8, 0x455a14ed, 20);
        $step!($m; G, $a, $b, $c, $d, 13, 0xa9e3e905, 5);
        $step!($m; G, $d, $a, $b, $c, 2, 0xfcefa3f8, 9);
        $step!($m; G, $c, $d, $a, $b, 7, 0x676f02d9, 14);
        $step!($m; G, $b, $c, $d, $a, 12, 0x8d2a4c8a, 20);
        $step!($m; H, $a, $b, $c, $d, 5, 0xfffa3942, 4);
        $step!($m; H, $d, $a, $b, $c, 8, 0x8771f681, 11);
        $step!($m; H, $c, $d, $a, $b, 11, 0x6d9d6122, 16);
        $step!($m; H, $b, $c, $d, $a, 14, 0xfde5380c, 23);
        $step!($m; H, $a, $b, $c, $d, 1, 0xa4beea44, 4);
        $step!($m; H, $d, $a, $b, $c, 4, 0x4bdecfa9, 11);
        $step!($m; H, $c, $d, $a, $b, 7, 0xf6bb4b60, 16);
        $step!($m; H, $b, $c, $d, $a, 10, 0xbebfbc70, 23);
        $step!($m; H, $a, $b, $c, $d, 13, 0x289b7ec6, 4);
        $step!($m; H, $d, $a, $b, $c, 0, 0xeaa127fa, 11);
        $step!($m; H, $c, $d, $a, $b, 3, 0xd4ef3085, 16);
        $step!($m; H, $b, $c, $d, $a, 6, 0x04881d05, 23);
        $step!($m; H, $a, $b, $c, $d, 9, 0xd9d4d039, 4);
        $step!($m; H, $d, $a, $b, $c, 12, 0xe6db99e5, 11);
        $step!($m; H, $c, $d, $a, $b, 15, 0x1fa27cf8, 16);
        $step!($m; H, $b, $c, $d, $a, 2, 0xc4ac5665, 23);
        $step!($m; I, $a, $b, $c, $d, 0, 0xf4292244, 6);
        $step!($m; I, $d, $a, $b, $c, 7, 0x432aff97, 10);
        $step!($m; I, $c, $d, $a, $b, 14, 0xab9423a7, 15);
        $step!($m; I, $b, $c, $d, $a, 5, 0xfc93a039, 21);
        $step!($m; I, $a, $b, $c, $d, 12, 0x655b59c3, 6);
        $step!($m; I, $d, $a, $b, $c, 3, 0x8f0ccc92, 10);
        $step!($m; I, $c, $d, $a, $b, 10, 0xffeff47d, 15);
        $step!($m; I, $b, $c, $d, $a, 1, 0x85845dd1, 21);
        $step!($m; I, $a, $b, $c, $d, 8, 0x6fa87e4f, 6);
        $step!($m; I, $d, $a, $b, $c, 15, 0xfe2ce6e0, 10);
        $step!($m; I, $c, $d, $a, $b, 6, 0xa3014314, 15);
        $step!($m; I, $b, $c, $d, $a, 13, 0x4e0811a1, 21);
        $step!($m; I, $a, $b, $c, $d, 4, 0xf7537e82, 6);
        $step!($m; I, $d, $a, $b, $c, 11, 0xbd3af235, 10);
        $step!($m; I, $c, $d, $a, $b, 2, 0x2ad7d2bb, 15);
        $step!($m; I, $b, $c, $d, $a, 9, 0xeb86d391, 21);
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::State;
    use std::arch::x86_64::*;

    /// The `_mm512_ternarylogic_epi32` table of each round function of `(b, c, d)`,
    /// where b, c and d stand for the bit patterns 0xF0, 0xCC and 0xAA.
    macro_rules! table {
        (F) => {
            0xCA // (b & c) | (!b & d)
        };
        (G) => {
            0xE4 // (b & d) | (c & !d)
        };
        (H) => {
            0x96 // b ^ c ^ d
        };
        (I) => {
            0x39 // c ^ (b | !d)
        };
    }

    /// One MD5 step on 16 lanes: `a = b + ((a + f(b, c, d) + m[g] + k) <<< s)`.
    /// The sum not depending on b, c and d is formed first, off the chain of steps.
    macro_rules! step16 {
        ($m:ident; $f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:literal, $k:literal, $s:literal) => {
            let early = _mm512_add_epi32(
                _mm512_add_epi32($m[$g], _mm512_set1_epi32($k as u32 as i32)),
                $a,
            );
            let f = _mm512_ternarylogic_epi32::<{ table!($f) }>($b, $c, $d);
            $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(_mm512_add_epi32(early, f)));
        };
    }

    /// The round functions on 8 lanes with AVX2, which has no three-input logic.
    macro_rules! round8 {
        (F, $b:ident, $c:ident, $d:ident) => {
            // (b & c) | (!b & d) == d ^ (b & (c ^ d))
            _mm256_xor_si256($d, _mm256_and_si256($b, _mm256_xor_si256($c, $d)))
        };
        (G, $b:ident, $c:ident, $d:ident) => {
            // (b & d) | (c & !d) == c ^ (d & (b ^ c))
            _mm256_xor_si256($c, _mm256_and_si256($d, _mm256_xor_si256($b, $c)))
        };
        (H, $b:ident, $c:ident, $d:ident) => {
            _mm256_xor_si256(_mm256_xor_si256($b, $c), $d)
        };
        (I, $b:ident, $c:ident, $d:ident) => {
            // c ^ (b | !d) == !(c ^ (!b & d))
            _mm256_xor_si256(
                _mm256_xor_si256($c, _mm256_andnot_si256($b, $d)),
                _mm256_set1_epi32(-1),
            )
        };
    }

    /// One MD5 step on 8 lanes, as `step16`.
    macro_rules! step8 {
        ($m:ident; $f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:literal, $k:literal, $s:literal) => {
            let early = _mm256_add_epi32(
                _mm256_add_epi32($m[$g], _mm256_set1_epi32($k as u32 as i32)),
                $a,
            );
            let x = _mm256_add_epi32(early, round8!($f, $b, $c, $d));
            let rotated = _mm256_or_si256(
                _mm256_slli_epi32::<$s>(x),
                _mm256_srli_epi32::<{ 32 - $s }>(x),
            );
            $a = _mm256_add_epi32($b, rotated);
        };
    }

    /// Runs the MD5 compression of 16 lanes over all the 64-byte blocks of `lanes`, which
    /// are all of one length, a multiple of 64.
    ///
    /// The code avoids closures: a closure here would carry the target features and could
    /// not be inlined into the generic library function calling it.
    ///
    /// # Safety
    /// The processor must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn compress16(state: &mut State<16>, lanes: &[&[u8]; 16]) {
        let len = lanes[0].len();
        assert!(len.is_multiple_of(64) && lanes.iter().all(|l| l.len() == len));
        let mut v = [_mm512_setzero_si512(); 4];
        for (v, s) in v.iter_mut().zip(state.iter()) {
            // SAFETY: `s` is 64 readable bytes; the load has no alignment requirement.
            *v = unsafe { _mm512_loadu_si512(s.as_ptr().cast()) };
        }
        let [mut a, mut b, mut c, mut d] = v;
        let mut rows = [_mm512_setzero_si512(); 16];
        for at in (0..len).step_by(64) {
            for (r, lane) in rows.iter_mut().zip(lanes) {
                let row = &lane[at..at + 64];
                // SAFETY: `row` is 64 readable bytes; the load has no alignment requirement.
                *r = unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
            }
            let m = transpose16(&rows);
            let (a0, b0, c0, d0) = (a, b, c, d);
            md5_steps!(step16, m, a, b, c, d);
            a = _mm512_add_epi32(a, a0);
            b = _mm512_add_epi32(b, b0);
            c = _mm512_add_epi32(c, c0);
            d = _mm512_add_epi32(d, d0);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            // SAFETY: `s` is 64 writable bytes; the store has no alignment requirement.
            unsafe { _mm512_storeu_si512(s.as_mut_ptr().cast(), v) };
        }
    }

    /// Transposes 16 rows of 16 dwords: `out[w]` holds dword `w` of every row, row `i`
    /// in lane `i`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: &[__m512i; 16]) -> [__m512i; 16] {
        // Within each 128-bit lane: pairs of rows interleaved, then groups of four rows,
        // so that `u[4q + j]` holds, in its 128-bit lane k, dword 4k + j of rows 4q..4q+4.
        let mut t = [_mm512_setzero_si512(); 16];
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_epi32(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_epi32(r[2 * p], r[2 * p + 1]);
        }
        let mut u = [_mm512_setzero_si512(); 16];
        for q in 0..4 {
            let (p0, p1, p2, p3) = (t[4 * q], t[4 * q + 1], t[4 * q + 2], t[4 * q + 3]);
            u[4 * q] = _mm512_unpacklo_epi64(p0, p2);
            u[4 * q + 1] = _mm512_unpackhi_epi64(p0, p2);
            u[4 * q + 2] = _mm512_unpacklo_epi64(p1, p3);
            u[4 * q + 3] = _mm512_unpackhi_epi64(p1, p3);
        }
        // Then a 4x4 transpose of 128-bit lanes across the four groups of rows.
        let mut out = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let (g0, g1, g2, g3) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
            let v0 = _mm512_shuffle_i32x4::<0x44>(g0, g1);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(g0, g1);
            let v2 = _mm512_shuffle_i32x4::<0x44>(g2, g3);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(g2, g3);
            out[j] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            out[4 + j] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            out[8 + j] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        out
    }

    /// Runs the MD5 compression of 8 lanes over all the 64-byte blocks of `lanes`, which
    /// are all of one length, a multiple of 64. As `compress16`, without closures.
    ///
    /// # Safety
    /// The processor must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress8(state: &mut State<8>, lanes: &[&[u8]; 8]) {
        let len = lanes[0].len();
        assert!(len.is_multiple_of(64) && lanes.iter().all(|l| l.len() == len));
        let mut v = [_mm256_setzero_si256(); 4];
        for (v, s) in v.iter_mut().zip(state.iter()) {
            // SAFETY: `s` is 32 readable bytes; the load has no alignment requirement.
            *v = unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
        }
        let [mut a, mut b, mut c, mut d] = v;
        let mut lo = [_mm256_setzero_si256(); 8];
        let mut hi = [_mm256_setzero_si256(); 8];
        for at in (0..len).step_by(64) {
            for ((lo, hi), lane) in lo.iter_mut().zip(hi.iter_mut()).zip(lanes) {
                let row = &lane[at..at + 64];
                // SAFETY: `row` is 64 readable bytes, read as two halves of 32; the loads
                // have no alignment requirement.
                unsafe {
                    *lo = _mm256_loadu_si256(row.as_ptr().cast());
                    *hi = _mm256_loadu_si256(row[32..].as_ptr().cast());
                }
            }
            let (lo_words, hi_words) = (transpose8(&lo), transpose8(&hi));
            let mut m = [_mm256_setzero_si256(); 16];
            m[..8].copy_from_slice(&lo_words);
            m[8..].copy_from_slice(&hi_words);
            let (a0, b0, c0, d0) = (a, b, c, d);
            md5_steps!(step8, m, a, b, c, d);
            a = _mm256_add_epi32(a, a0);
            b = _mm256_add_epi32(b, b0);
            c = _mm256_add_epi32(c, c0);
            d = _mm256_add_epi32(d, d0);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            // SAFETY: `s` is 32 writable bytes; the store has no alignment requirement.
            unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), v) };
        }
    }

    /// Transposes 8 rows of 8 dwords: `out[w]` holds dword `w` of every row, row `i` in
    /// lane `i`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: &[__m256i; 8]) -> [__m256i; 8] {
        let mut t = [_mm256_setzero_si256(); 8];
        for p in 0..4 {
            t[2 * p] = _mm256_unpacklo_epi32(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_epi32(r[2 * p], r[2 * p + 1]);
        }
        // `u[4q + j]` holds, in its 128-bit lane k, dword 4k + j of rows 4q..4q+4.
        let mut u = [_mm256_setzero_si256(); 8];
        for q in 0..2 {
            let (p0, p1, p2, p3) = (t[4 * q], t[4 * q + 1], t[4 * q + 2], t[4 * q + 3]);
            u[4 * q] = _mm256_unpacklo_epi64(p0, p2);
            u[4 * q + 1] = _mm256_unpackhi_epi64(p0, p2);
            u[4 * q + 2] = _mm256_unpacklo_epi64(p1, p3);
            u[4 * q + 3] = _mm256_unpackhi_epi64(p1, p3);
        }
        let mut out = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            out[j] = _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j]);
            out[4 + j] = _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic filler bytes (xorshift64).
    fn fill(buf: &mut [u8], mut seed: u64) {
        seed |= 1;
        for b in buf.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = (seed >> 24) as u8;
        }
    }

    fn buffers(count: usize, len: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let mut v = vec![0u8; len];
                fill(
                    &mut v,
                    0x9e37_79b9_7f4a_7c15 ^ ((i as u64) << 32) ^ len as u64,
                );
                v
            })
            .collect()
    }

    fn expected(bufs: &[&[u8]]) -> Vec<[u8; 16]> {
        bufs.iter().map(|b| Md5::digest(b).into()).collect()
    }

    fn available() -> Vec<Path> {
        let paths: Vec<Path> = Path::ALL.into_iter().filter(|p| p.available()).collect();
        println!("ways this processor runs: {paths:?}");
        paths
    }

    const LENS: [usize; 14] = [
        0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 4096, 4097, 100_000,
    ];
    const COUNTS: [usize; 7] = [1, 2, 8, 15, 16, 17, 40];

    #[test]
    fn every_path_matches_md5_crate() {
        for path in available() {
            for len in LENS {
                for count in COUNTS {
                    let data = buffers(count, len);
                    let bufs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
                    let mut got = vec![[0u8; 16]; count];
                    hash_into(path, &bufs, &mut got);
                    assert_eq!(
                        got,
                        expected(&bufs),
                        "{path:?}, {count} buffers of {len} bytes"
                    );
                }
            }
        }
    }

    #[test]
    fn public_functions_match_md5_crate() {
        for len in LENS {
            for count in COUNTS {
                let data = buffers(count, len);
                let bufs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
                let want = expected(&bufs);
                assert_eq!(md5_many(&bufs), want, "{count} buffers of {len} bytes");
                assert_eq!(
                    md5_many_parallel(&bufs),
                    want,
                    "{count} buffers of {len} bytes"
                );
            }
        }
    }

    #[test]
    fn every_group_size() {
        // Groups of every size, for the 16-lane and 8-lane passes and their spare lanes.
        let data = buffers(50, 130);
        for path in available() {
            for count in 0..=data.len() {
                let bufs: Vec<&[u8]> = data[..count].iter().map(|v| v.as_slice()).collect();
                let mut got = vec![[0u8; 16]; count];
                hash_into(path, &bufs, &mut got);
                assert_eq!(got, expected(&bufs), "{path:?}, {count} buffers");
            }
        }
    }

    #[test]
    fn fallback_matches_md5_crate() {
        let data = buffers(40, 4096 + 7);
        let bufs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
        let mut got = vec![[0u8; 16]; bufs.len()];
        hash_into(Path::Scalar, &bufs, &mut got);
        assert_eq!(got, expected(&bufs));
    }

    #[test]
    fn unaligned_overlapping_and_equal_buffers() {
        // Sub-slices of one allocation at odd offsets, some overlapping, some identical.
        let mut big = vec![0u8; 70_000];
        fill(&mut big, 7);
        let bufs: Vec<&[u8]> = (0..37)
            .map(|i| &big[(i * 1237) % 5000..][..65_001])
            .collect();
        for path in available() {
            let mut got = vec![[0u8; 16]; bufs.len()];
            hash_into(path, &bufs, &mut got);
            assert_eq!(got, expected(&bufs), "{path:?}");
        }
    }

    #[test]
    fn known_digest() {
        let bufs: Vec<&[u8]> = vec![b"abc"; 3];
        let want = [
            0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
            0x7f, 0x72,
        ];
        assert_eq!(md5_many(&bufs), vec![want; 3]);
    }

    #[test]
    fn empty_input() {
        assert!(md5_many(&[]).is_empty());
        assert!(md5_many_parallel(&[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "not all of the same length")]
    fn different_lengths_panic() {
        md5_many(&[b"ab", b"abc"]);
    }
}
