//! How archives are compressed: the user's choice, and what each archive records.

use std::str::FromStr;

use crate::error::{Error, Result};

/// How archives are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// bzip2 -9, or -1 for blocks that do not compress (`.tar.bz2`).
    Bzip2,
    /// zstd level 3 (`.tar.zst`).
    Zstd,
    /// Plain tar (`.tar`).
    None,
    /// Per file: content that compresses goes into [`Compression::AUTO_COMPRESSIBLE`]
    /// archives, the rest (media, archives, random bytes) into plain `.tar` archives. Only a
    /// choice for a run: every archive records the compression it really has. The default.
    #[default]
    Auto,
}

impl Compression {
    /// What `Auto` uses for content that compresses.
    pub const AUTO_COMPRESSIBLE: Compression = Compression::Bzip2;

    /// The value of `archives.compression` (`auto` is never recorded).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Bzip2 => "bzip2",
            Compression::Zstd => "zstd",
            Compression::None => "none",
            Compression::Auto => "auto",
        }
    }

    /// The file-name extension after `.tar` (`auto` names no archive).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Bzip2 => ".bz2",
            Compression::Zstd => ".zst",
            Compression::None | Compression::Auto => "",
        }
    }
}

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bzip2" => Ok(Compression::Bzip2),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            "auto" => Ok(Compression::Auto),
            other => Err(Error::Usage(format!(
                "unknown compression {other:?} (use bzip2, zstd, none or auto)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in [
            Compression::Bzip2,
            Compression::Zstd,
            Compression::None,
            Compression::Auto,
        ] {
            assert_eq!(c.as_str().parse::<Compression>().unwrap(), c);
        }
        assert!("gzip".parse::<Compression>().is_err());
    }
}
