//! Arithmetic in GF(2^16) as PAR2 2.0 defines it: the generator polynomial
//! x^16 + x^12 + x^3 + x + 1 (0x1100B), with 2 as the primitive element.

use std::sync::OnceLock;

/// The field's generator polynomial.
pub const POLY: u32 = 0x1100B;

/// Number of non-zero elements (the order of the multiplicative group).
pub const ORDER: u32 = 65535;

struct Tables {
    log: Vec<u16>,
    exp: Vec<u16>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut log = vec![0u16; 65536];
        let mut exp = vec![0u16; 65536];
        let mut x: u32 = 1;
        for i in 0..ORDER {
            exp[i as usize] = x as u16;
            log[x as usize] = i as u16;
            x <<= 1;
            if x & 0x10000 != 0 {
                x ^= POLY;
            }
        }
        exp[ORDER as usize] = exp[0];
        Tables { log, exp }
    })
}

/// `a * b` in the field.
pub fn mul(a: u16, b: u16) -> u16 {
    if a == 0 || b == 0 {
        return 0;
    }
    let t = tables();
    let s = (u32::from(t.log[a as usize]) + u32::from(t.log[b as usize])) % ORDER;
    t.exp[s as usize]
}

/// The multiplicative inverse of a non-zero `a`.
pub fn inv(a: u16) -> u16 {
    assert!(a != 0, "zero has no inverse");
    let t = tables();
    let l = u32::from(t.log[a as usize]);
    t.exp[((ORDER - l) % ORDER) as usize]
}

/// `2^e`.
pub fn exp2(e: u32) -> u16 {
    tables().exp[(e % ORDER) as usize]
}

/// `a^e`.
pub fn pow(a: u16, e: u32) -> u16 {
    if e == 0 {
        return 1;
    }
    if a == 0 {
        return 0;
    }
    let t = tables();
    let l = u64::from(t.log[a as usize]);
    t.exp[((l * u64::from(e)) % u64::from(ORDER)) as usize]
}

/// The logarithms (base 2) of the constants of input slices 0, 1, 2, ...: the numbers whose
/// greatest common divisor with 65535 is 1, in increasing order (1, 2, 4, 7, 8, 11, ...).
/// There are 32,768 of them, the most input slices a PAR2 set can have.
pub fn input_logs(count: usize) -> Vec<u32> {
    (1..ORDER)
        .filter(|n| n % 3 != 0 && n % 5 != 0 && n % 17 != 0 && n % 257 != 0)
        .take(count)
        .collect()
}

/// The most input slices a PAR2 2.0 set can have.
pub const MAX_INPUT_SLICES: usize = 32768;

/// The coefficient of input slice `index` (its constant `2^log`) in the recovery slice of
/// exponent `exponent`.
pub fn coefficient(log: u32, exponent: u32) -> u16 {
    exp2(((u64::from(log) * u64::from(exponent)) % u64::from(ORDER)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_laws_hold() {
        for a in [1u16, 2, 3, 0x100b, 0x8000, 0xffff, 12345] {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
            assert_eq!(pow(a, 3), mul(a, mul(a, a)));
        }
        // x^16 = x^12 + x^3 + x + 1
        assert_eq!(mul(0x8000, 2), 0x100b);
        assert_eq!(input_logs(8), vec![1, 2, 4, 7, 8, 11, 13, 14]);
        assert_eq!(input_logs(usize::MAX).len(), MAX_INPUT_SLICES);
    }
}
