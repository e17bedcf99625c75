//! MD5 of one long stream (a whole file), written for the length of its dependency chain.
//!
//! MD5's steps depend on each other, so one stream runs at the speed of the chain, not of
//! the processor's width. Each step computes `a = b + rotl(a + f(b, c, d) + m + k, s)`,
//! where `b` is the result of the step before. What does not need `b` is done first: the
//! sum `a + m + k`, and in the G rounds the half `c & !d` of `f` (its two halves have no bit
//! in common, so `|` is `+` and they are added one at a time), in the H rounds `c ^ d`,
//! in the I rounds `!d`. The chain from `b` is then three or four operations long instead of
//! four or five.

/// The MD5 initial values of A, B, C and D.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The MD5 constants, `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// An MD5 being computed over a stream given in pieces.
#[derive(Clone)]
pub struct Md5One {
    state: [u32; 4],
    /// Bytes of an unfinished 64-byte block.
    tail: [u8; 64],
    tail_len: usize,
    /// Bytes given so far.
    len: u64,
}

impl Default for Md5One {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5One {
    pub fn new() -> Self {
        Md5One {
            state: INIT,
            tail: [0; 64],
            tail_len: 0,
            len: 0,
        }
    }

    /// Adds `data` to the stream.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (64 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 64 {
                return;
            }
            let block = self.tail;
            blocks(&mut self.state, &block);
            self.tail_len = 0;
        }
        let whole = data.len() / 64 * 64;
        blocks(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The MD5 of everything given.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = [0u8; 128];
        pad[0] = 0x80;
        let n = if self.tail_len < 56 {
            56 - self.tail_len
        } else {
            120 - self.tail_len
        };
        pad[n..n + 8].copy_from_slice(&bits.to_le_bytes());
        let len = self.len;
        self.update(&pad[..n + 8]);
        debug_assert_eq!(self.tail_len, 0);
        let _ = len;
        let mut out = [0u8; 16];
        for (i, w) in self.state.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Runs the compression function over whole 64-byte blocks.
#[inline(always)]
fn blocks(state: &mut [u32; 4], data: &[u8]) {
    let [mut a, mut b, mut c, mut d] = *state;
    for block in data.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (i, w) in block.chunks_exact(4).enumerate() {
            m[i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        let (a0, b0, c0, d0) = (a, b, c, d);
        macro_rules! f {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $g:expr, $s:expr) => {
                let t = $a.wrapping_add(m[$g]).wrapping_add(K[$i]);
                let t = t.wrapping_add((($c ^ $d) & $b) ^ $d);
                $a = $b.wrapping_add(t.rotate_left($s));
            };
        }
        macro_rules! g {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $g:expr, $s:expr) => {
                let t = $a
                    .wrapping_add(m[$g])
                    .wrapping_add(K[$i])
                    .wrapping_add($c & !$d);
                let t = t.wrapping_add($b & $d);
                $a = $b.wrapping_add(t.rotate_left($s));
            };
        }
        macro_rules! h {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $g:expr, $s:expr) => {
                let t = $a.wrapping_add(m[$g]).wrapping_add(K[$i]);
                let cd = $c ^ $d;
                let t = t.wrapping_add($b ^ cd);
                $a = $b.wrapping_add(t.rotate_left($s));
            };
        }
        macro_rules! i {
            ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr, $g:expr, $s:expr) => {
                let t = $a.wrapping_add(m[$g]).wrapping_add(K[$i]);
                let nd = !$d;
                let t = t.wrapping_add($c ^ ($b | nd));
                $a = $b.wrapping_add(t.rotate_left($s));
            };
        }
        f!(a, b, c, d, 0, 0, 7);
        f!(d, a, b, c, 1, 1, 12);
        f!(c, d, a, b, 2, 2, 17);
        f!(b, c, d, a, 3, 3, 22);
        f!(a, b, c, d, 4, 4, 7);
        f!(d, a, b, c, 5, 5, 12);
        f!(c, d, a, b, 6, 6, 17);
        f!(b, c, d, a, 7, 7, 22);
        f!(a, b, c, d, 8, 8, 7);
        f!(d, a, b, c, 9, 9, 12);
        f!(c, d, a, b, 10, 10, 17);
        f!(b, c, d, a, 11, 11, 22);
        f!(a, b, c, d, 12, 12, 7);
        f!(d, a, b, c, 13, 13, 12);
        f!(c, d, a, b, 14, 14, 17);
        f!(b, c, d, a, 15, 15, 22);
        g!(a, b, c, d, 16, 1, 5);
        g!(d, a, b, c, 17, 6, 9);
        g!(c, d, a, b, 18, 11, 14);
        g!(b, c, d, a, 19, 0, 20);
        g!(a, b, c, d, 20, 5, 5);
        g!(d, a, b, c, 21, 10, 9);
        g!(c, d, a, b, 22, 15, 14);
        g!(b, c, d, a, 23, 4, 20);
        g!(a, b, c, d, 24, 9, 5);
        g!(d, a, b, c, 25, 14, 9);
        g!(c, d, a, b, 26, 3, 14);
        g!(b, c, d, a, 27, 8, 20);
        g!(a, b, c, d, 28, 13, 5);
        g!(d, a, b, c, 29, 2, 9);
        g!(c, d, a, b, 30, 7, 14);
        g!(b, c, d, a, 31, 12, 20);
        h!(a, b, c, d, 32, 5, 4);
        h!(d, a, b, c, 33, 8, 11);
        h!(c, d, a, b, 34, 11, 16);
        h!(b, c, d, a, 35, 14, 23);
        h!(a, b, c, d, 36, 1, 4);
        h!(d, a, b, c, 37, 4, 11);
        h!(c, d, a, b, 38, 7, 16);
        h!(b, c, d, a, 39, 10, 23);
        h!(a, b, c, d, 40, 13, 4);
        h!(d, a, b, c, 41, 0, 11);
        h!(c, d, a, b, 42, 3, 16);
        h!(b, c, d, a, 43, 6, 23);
        h!(a, b, c, d, 44, 9, 4);
        h!(d, a, b, c, 45, 12, 11);
        h!(c, d, a, b, 46, 15, 16);
        h!(b, c, d, a, 47, 2, 23);
        i!(a, b, c, d, 48, 0, 6);
        i!(d, a, b, c, 49, 7, 10);
        i!(c, d, a, b, 50, 14, 15);
        i!(b, c, d, a, 51, 5, 21);
        i!(a, b, c, d, 52, 12, 6);
        i!(d, a, b, c, 53, 3, 10);
        i!(c, d, a, b, 54, 10, 15);
        i!(b, c, d, a, 55, 1, 21);
        i!(a, b, c, d, 56, 8, 6);
        i!(d, a, b, c, 57, 15, 10);
        i!(c, d, a, b, 58, 6, 15);
        i!(b, c, d, a, 59, 13, 21);
        i!(a, b, c, d, 60, 4, 6);
        i!(d, a, b, c, 61, 11, 10);
        i!(c, d, a, b, 62, 2, 15);
        i!(b, c, d, a, 63, 9, 21);
        a = a.wrapping_add(a0);
        b = b.wrapping_add(b0);
        c = c.wrapping_add(c0);
        d = d.wrapping_add(d0);
    }
    *state = [a, b, c, d];
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn agrees_with_md5_for_every_length_and_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in (0..200).chain([511, 512, 513, 1000]) {
            let want: [u8; 16] = Md5::digest(&data[..len]).into();
            let mut one = Md5One::new();
            one.update(&data[..len]);
            assert_eq!(one.finalize(), want, "{len}");
            for split in [1, 3, 63, 64, 65] {
                let mut m = Md5One::new();
                for piece in data[..len].chunks(split) {
                    m.update(piece);
                }
                assert_eq!(m.finalize(), want, "{len} in pieces of {split}");
            }
        }
        // The RFC 1321 test suite's "abc".
        let mut m = Md5One::new();
        m.update(b"abc");
        assert_eq!(
            m.finalize(),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
    }
}
