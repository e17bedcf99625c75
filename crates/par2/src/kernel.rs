//! The one hot loop of PAR2: `dst ^= c * src` over little-endian 16-bit words, for several
//! destinations sharing one source. A portable version is always here; faster ones are picked
//! at run time where the processor has them.

use crate::gf;

/// For every `k`: `dsts[k] ^= coefs[k] * src`, word by word (16-bit little-endian words).
/// Every destination is as long as `src`, whose length is even.
pub fn mul_add_multi(src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    assert_eq!(coefs.len(), dsts.len());
    assert!(src.len() % 2 == 0, "slices hold whole 16-bit words");
    for d in dsts.iter() {
        assert_eq!(d.len(), src.len());
    }
    portable(src, coefs, dsts);
}

/// The portable version: a product table of the low and of the high byte per coefficient.
pub fn portable(src: &[u8], coefs: &[u16], dsts: &mut [&mut [u8]]) {
    for (c, dst) in coefs.iter().zip(dsts.iter_mut()) {
        if *c == 0 {
            continue;
        }
        let mut lo = [0u16; 256];
        let mut hi = [0u16; 256];
        for b in 0..256u16 {
            lo[b as usize] = gf::mul(*c, b);
            hi[b as usize] = gf::mul(*c, b << 8);
        }
        for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
            let p = lo[s[0] as usize] ^ hi[s[1] as usize];
            let v = u16::from_le_bytes([d[0], d[1]]) ^ p;
            d.copy_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
