//! How archives are compressed: the user's choice for a run. The codec each archive really
//! has and records is [`Codec`], part of the on-disc layout.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::layout::Codec;

/// The compression a backup run is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Per file: content that compresses goes into [`Codec::Bzip2`] archives, the rest (media,
    /// archives, random bytes) into plain `.tar` archives. The default.
    #[default]
    Auto,
    /// Every archive bzip2 (see [`Codec::Bzip2`]).
    Bzip2,
    /// Every archive zstd (see [`Codec::Zstd`]).
    Zstd,
    /// Every archive plain tar.
    None,
}

impl Compression {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [Compression; 4] = [
        Compression::Auto,
        Compression::Bzip2,
        Compression::Zstd,
        Compression::None,
    ];

    /// The name of the choice on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Auto => "auto",
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The one codec of every archive, or `None` for `auto`, which chooses per file.
    pub(crate) fn fixed_codec(self) -> Option<Codec> {
        match self {
            Compression::Auto => None,
            Compression::Bzip2 => Some(Codec::Bzip2),
            Compression::Zstd => Some(Codec::Zstd),
            Compression::None => Some(Codec::None),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Compression::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown compression {s:?} (use auto, bzip2, zstd or none)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(c.as_str().parse::<Compression>().unwrap(), c);
        }
        assert!("gzip".parse::<Compression>().is_err());
        assert_eq!(Compression::Auto.fixed_codec(), None);
        assert_eq!(Compression::Zstd.fixed_codec(), Some(Codec::Zstd));
        assert_eq!(Codec::AUTO_COMPRESSIBLE.as_str(), "bzip2");
    }
}
