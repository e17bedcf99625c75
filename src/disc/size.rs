//! Sizes on the command line: disc sizes (named media or byte counts) and byte counts with
//! K/M/G/T suffixes.

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
    /// The medium's name when it is a named one (`bd25`), else the byte count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMED.iter().find(|(_, n)| *n == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{}", ByteSize(self.0)),
        }
    }
}

/// A byte count as the command line gives it: `4096`, `64K`, `500M`, `2G`, `1T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_bytes(s).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that gives a whole number: `1G`, `640K`, `4097`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];
        match units
            .iter()
            .find(|(_, shift)| self.0 > 0 && self.0.is_multiple_of(1u64 << shift))
        {
            Some((unit, shift)) => write!(f, "{}{unit}", self.0 >> shift),
            None => write!(f, "{}", self.0),
        }
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

    #[test]
    fn sizes_print_as_they_are_written() {
        assert_eq!(DiscSize::default().to_string(), "bd25");
        assert_eq!(DiscSize::from_bytes(640 << 10).to_string(), "640K");
        assert_eq!(ByteSize(1 << 30).to_string(), "1G");
        assert_eq!(ByteSize(4097).to_string(), "4097");
        for s in ["bd50", "640K", "3M", "4097"] {
            assert_eq!(s.parse::<DiscSize>().unwrap().to_string(), s);
        }
    }
}
