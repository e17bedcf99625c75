//! Disc sizes: named media or plain byte counts with K/M/G/T suffixes.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The capacity of one disc in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscSize(u64);

/// Named media and their capacities in bytes.
pub const NAMED: &[(&str, u64)] = &[
    ("bd25", 25_025_314_816),
    ("bd50", 50_050_629_632),
    ("bd100", 100_103_356_416),
    ("dvd", 4_700_372_992),
    ("dvd-dl", 8_543_666_176),
];

impl DiscSize {
    /// A size in bytes.
    pub fn from_bytes(n: u64) -> Self {
        DiscSize(n)
    }
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl Default for DiscSize {
    fn default() -> Self {
        DiscSize(NAMED[0].1)
    }
}

impl fmt::Display for DiscSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// Parses `123`, `64K`, `500M`, `2G`, `1T` (powers of 1024, optional `iB`/`B`).
pub fn parse_bytes(s: &str) -> Result<u64> {
    let t = s.trim();
    let bad = || {
        Error::Usage(format!(
            "cannot read {s:?} as a size (e.g. 4096, 64K, 500M, 2G)"
        ))
    };
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, mult) = match stripped.chars().last() {
        Some('k') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('m') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('g') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('t') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(mult).filter(|&v| v > 0).ok_or_else(bad)
}

impl FromStr for DiscSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((_, n)) = NAMED.iter().find(|(name, _)| *name == lower) {
            return Ok(DiscSize(*n));
        }
        parse_bytes(s).map(DiscSize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_suffixed_sizes() {
        assert_eq!("bd25".parse::<DiscSize>().unwrap().bytes(), 25_025_314_816);
        assert_eq!("BD50".parse::<DiscSize>().unwrap().bytes(), 50_050_629_632);
        assert_eq!("dvd-dl".parse::<DiscSize>().unwrap().bytes(), 8_543_666_176);
        assert_eq!("4096".parse::<DiscSize>().unwrap().bytes(), 4096);
        assert_eq!(parse_bytes("64K").unwrap(), 65536);
        assert_eq!(parse_bytes("3MiB").unwrap(), 3 << 20);
        assert_eq!(parse_bytes("2g").unwrap(), 2 << 30);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
