//! The README.txt on every disc: enough for a stranger to restore by hand.

/// File name of the README on a disc.
pub const NAME: &str = "README.txt";

/// Upper bound of the rendered README's length, for disc space planning.
pub const MAX_LEN: usize = 16384;

/// The exact by-hand restore script, carried on every disc.
const SCRIPT: &str = include_str!("../../scripts/restore-by-hand.sh");

/// The README text for disc `number` of backup set `set_id`.
pub fn render(number: u32, set_id: &str, encrypted: bool) -> String {
    let cat = super::catalogue_copy_name(encrypted);
    let decrypt = if encrypted {
        "gpg --batch --pinentry-mode loopback --passphrase-file PASSFILE -d"
    } else {
        "cat"
    };
    format!(
        "\
butcher backup disc {number:04}
backup set {set_id}, format version {version}

This disc holds part of a backup made with butcher. You can restore it without butcher,
with bash, gpg (GnuPG), tar, bzip2 or zstd, and sqlite3.

Files on this disc
  aNNNNNN.tar.bz2.gpg  archives: tar, compressed (.bz2 bzip2, .zst zstd, none if just .tar),
                       encrypted with your passphrase (.gpg; no .gpg means not encrypted)
  {cat:<20} the catalogue (SQLite) of every snapshot and of all discs up to this one
  SHA256SUMS           checksums: run  sha256sum -c SHA256SUMS  in this directory
  README.txt           this file

Quick restore of everything (needs all discs; copy each disc to a folder disc-NNNN):
  1. For every archive on every disc, oldest first:
       {decrypt} aNNNNNN.tar.bz2.gpg | bzip2 -d | tar -x -C OUT
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

#[cfg(test)]
mod tests {
    #[test]
    fn readme_is_short_ascii() {
        for enc in [true, false] {
            let t = super::render(12, "0123456789abcdef0123456789abcdef", enc);
            assert!(t.len() < super::MAX_LEN);
            assert!(t.is_ascii());
            assert!(t.contains("disc 0012"));
        }
    }
}
