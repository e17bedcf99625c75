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
with bash, an OpenPGP program, tar, bzip2 or zstd, and sqlite3. The archives and the
catalogue copy are OpenPGP messages (SKESK v4 + SEIPD v1) that GnuPG (gpg) decrypts; any
program that reads those works as well (rnp and PGPy do).

Start from the highest-numbered disc of the set: its number is on the first line of its
README.txt, and its catalogue copy lists every disc written up to it and every snapshot.

Files on this disc
  {example:<20} archives: tar, compressed (.bz2 bzip2, .zst zstd, none if just .tar),
                       {how}
  {cat:<20} the catalogue (SQLite) of every snapshot and of all discs up to this one
  SHA256SUMS           checksums: run  sha256sum -c SHA256SUMS  in this directory
  README.txt           this file

In what follows PASSFILE is a file whose first line is the passphrase (make it yourself,
readable only by you, and delete it afterwards).

Quick restore of everything (needs all discs; copy each disc to a folder disc-NNNN):
  1. mkdir OUT, then for every archive on every disc in name order (a000001, a000002, ...):
       {decrypt} {example} | bzip2 -d | tar -x -C OUT
     (use zstd -d for .zst, nothing for plain .tar)
  2. Files larger than one archive were split: NAME.butcher-piece-000001, -000002, ...
     Join them in name order:  cat NAME.butcher-piece-* > NAME
  This gives the newest content of every file, but it is crude: files deleted between
  backups come back, a renamed or copied file comes back only under the name it had when
  its content was first stored, symlinks and empty directories are missing, and joined
  files get today's date and default permissions.

Exact restore of one snapshot (needs sqlite3): save the script between the lines below as
restore-by-hand.sh and run
  PASSFILE=FILE bash restore-by-hand.sh DISCS TARGET [SNAPSHOT]
where DISCS holds copies of all discs as disc-0001, disc-0002, ... and FILE holds the
passphrase on its first line. If it stops (a wrong passphrase, a missing disc), empty
TARGET and run it again. The butcher project explains the same procedure in its
docs/restore-by-hand.md and describes every byte in docs/format.md (not on this disc).
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
