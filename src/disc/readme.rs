//! The README.txt on every disc: enough for a stranger to restore by hand.

use crate::layout::catalogue_copy_name;

/// The exact by-hand restore script, carried on every disc.
const SCRIPT: &str = include_str!("../../scripts/restore-by-hand.sh");

/// The README text for disc `number` of backup set `set_id`.
pub fn render(number: u32, set_id: &str, encrypted: bool) -> String {
    let cat = catalogue_copy_name(encrypted);
    let decrypt = if encrypted {
        "gpg --batch --pinentry-mode loopback --passphrase-file PASSFILE -d"
    } else {
        "cat"
    };
    let example = if encrypted {
        "aNNNNNN.tar.bz2.gpg"
    } else {
        "aNNNNNN.tar.bz2"
    };
    let how = if encrypted {
        "encrypted with your passphrase (OpenPGP, .gpg)"
    } else {
        "not encrypted"
    };
    format!(
        "\
butcher backup disc {number:04}
backup set {set_id}, format version {version}

This disc holds part of a backup made with butcher. You can restore it without butcher,
with bash, gpg (GnuPG), tar, bzip2 or zstd, and sqlite3.

Files on this disc
  {example:<20} archives: tar, compressed (.bz2 bzip2, .zst zstd, none if just .tar),
                       {how}
  {cat:<20} the catalogue (SQLite) of every snapshot and of all discs up to this one
  SHA256SUMS           checksums: run  sha256sum -c SHA256SUMS  in this directory
  README.txt           this file

Quick restore of everything (needs all discs; copy each disc to a folder disc-NNNN):
  1. For every archive on every disc, oldest first:
       {decrypt} {example} | bzip2 -d | tar -x -C OUT
     (use zstd -d for .zst, nothing for plain .tar)
  2. Files larger than one archive were split: NAME.butcher-piece-000001, -000002, ...
     Join them in name order:  cat NAME.butcher-piece-* > NAME
  This gives the newest version of every file, but files deleted between backups come back
  and duplicate files appear once.

Exact restore of one snapshot (needs sqlite3): save the script between the lines below as
restore-by-hand.sh and run
  PASSFILE=FILE bash restore-by-hand.sh DISCS TARGET [SNAPSHOT]
where DISCS holds copies of all discs as disc-0001, disc-0002, ... and FILE holds the
passphrase on its first line. The same procedure, explained, is docs/restore-by-hand.md of
butcher; the format is docs/format.md.
------------------------------------------------------------------------------------------
{SCRIPT}------------------------------------------------------------------------------------------
",
        version = crate::catalogue::FORMAT_VERSION,
    )
}

/// The disc number and backup set id from the first two lines of a disc's README.
pub fn parse_header(text: &str) -> Option<(u32, String)> {
    let mut lines = text.lines();
    let number = lines
        .next()?
        .strip_prefix("butcher backup disc ")?
        .trim()
        .parse()
        .ok()?;
    let set = lines
        .next()?
        .strip_prefix("backup set ")?
        .split(',')
        .next()?
        .trim();
    Some((number, set.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn readme_is_short_ascii() {
        for enc in [true, false] {
            let t = super::render(12, "0123456789abcdef0123456789abcdef", enc);
            assert!(t.len() < crate::layout::README_MAX_LEN);
            assert!(t.is_ascii());
            assert!(t.contains("disc 0012"));
            assert_eq!(
                super::parse_header(&t),
                Some((12, "0123456789abcdef0123456789abcdef".to_string()))
            );
            assert_eq!(t.contains("aNNNNNN.tar.bz2.gpg"), enc);
        }
    }
}
