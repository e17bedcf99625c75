//! `--parity PCT`: how much recovery data every disc carries.

use std::fmt;
use std::str::FromStr;

use crate::layout::DEFAULT_PARITY;

/// Recovery data as a share of the data it protects, in percent (0 to 100; 0 writes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parity(u32);

impl Parity {
    /// The most that can be asked for: as much recovery data as data.
    pub const MAX: u32 = 100;

    /// The share in percent, if it is one (0 to 100).
    pub fn new(percent: u32) -> Option<Self> {
        (percent <= Self::MAX).then_some(Parity(percent))
    }

    /// The share in percent.
    pub fn percent(self) -> u32 {
        self.0
    }
}

impl Default for Parity {
    fn default() -> Self {
        Parity(DEFAULT_PARITY)
    }
}

impl fmt::Display for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Parity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.trim().trim_end_matches('%');
        let n: u32 = digits
            .parse()
            .map_err(|_| format!("{s:?} is not a percentage (a whole number from 0 to 100)"))?;
        Parity::new(n).ok_or_else(|| format!("{n} % is more than {} %", Self::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentages_from_0_to_100() {
        assert_eq!("10".parse::<Parity>().unwrap().percent(), 10);
        assert_eq!("0".parse::<Parity>().unwrap().percent(), 0);
        assert_eq!("100%".parse::<Parity>().unwrap().percent(), 100);
        assert!("101".parse::<Parity>().is_err());
        assert!("-1".parse::<Parity>().is_err());
        assert!("ten".parse::<Parity>().is_err());
        assert_eq!(Parity::default().percent(), 10);
    }
}
