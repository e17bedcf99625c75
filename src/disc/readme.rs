//! The README.txt on every disc: enough for a stranger to restore by hand.

use crate::layout::{catalogue_copy_name, FORMAT_NAME};

/// What the first two lines of a disc's README say, which restore, verify, burn.sh and the
/// by-hand script read: `butcher backup disc NNNN`, then
/// `backup set ID, format version V, disc size N bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The disc number.
    pub number: u32,
    /// The backup set id.
    pub set_id: String,
    /// The size of the disc the backup filled it for (format 3 on; 0 when not given).
    pub disc_size: u64,
}

/// The exact by-hand restore script, carried on every disc.
const SCRIPT: &str = include_str!("../../scripts/restore-by-hand.sh");

/// The README text of the disc `header` describes.
pub fn render(header: &Header, encrypted: bool) -> String {
    let Header {
        number,
        set_id,
        disc_size,
    } = header;
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
        "encrypted (OpenPGP, .gpg) with your passphrase or to your keys"
    } else {
        "not encrypted"
    };
    format!(
        "\
butcher backup disc {number:04}
backup set {set_id}, format version {version}, disc size {disc_size} bytes

This disc holds part of a backup made with butcher. You can restore it without butcher,
with bash, an OpenPGP program, tar, bzip2 or zstd, and sqlite3. The archives and the
catalogue copy are OpenPGP messages (SKESK v4 and/or PKESK v3 + SEIPD v1) that GnuPG (gpg)
decrypts; any program that reads those works as well (rnp and PGPy do).

Start from the highest-numbered disc of the set: its number is on the first line of its
README.txt, and its catalogue copy lists every disc written up to it and every snapshot.

Files on this disc
  {example:<20} archives: tar, compressed (.bz2 bzip2, .zst zstd, none if just .tar),
                       {how}
  {cat:<20} the catalogue (SQLite) of every snapshot and of all discs up to this one
  SHA256SUMS           checksums: run  sha256sum -c SHA256SUMS  in this directory
  README.txt           this file
  {format:<20} the format: every file on the disc and every catalogue column, described
  {base}.par2       recovery files (PAR2 2.0) over every file above; none when the
  {base}.vol*.par2  backup ran with --parity 0

Repairing a damaged disc
  If  sha256sum -c SHA256SUMS  reports a damaged or missing file, copy the disc into a
  folder (for unreadable sectors: dd if=FILE of=COPY bs=2048 conv=noerror,sync, or ddrescue;
  a zeroed sector is repaired like any other damage), then in that folder run
    par2 verify {base}.par2    what is damaged, and whether the recovery data suffices
    par2 repair {base}.par2    rebuilds the damaged files (keeps the old ones as NAME.1)
  and  sha256sum -c SHA256SUMS  again (delete the NAME.1 files first). par2 is par2cmdline
  (Debian/Ubuntu package par2); any PAR2 2.0 program works. Burn the repaired folder to a
  fresh disc. A flipped byte or an unreadable 2048-byte sector costs one recovery slice.

In what follows PASSFILE is a file whose first line is the passphrase (make it yourself,
readable only by you, and delete it afterwards). A backup encrypted to OpenPGP keys (made with
butcher backup --recipient CERT) opens with the secret key of any of its recipients instead:
import it once (gpg --import KEYFILE), use  gpg -d  where the passphrase command is below, and
leave PASSFILE unset for the script (gpg asks for the key's own passphrase, if it has one).

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
passphrase on its first line. Run as root it gives owners back too; with setfattr
(package attr) extended attributes and ACLs. If it stops (a wrong passphrase, a missing
disc), empty TARGET and run it again. {format} on this disc describes every byte the
script reads.
------------------------------------------------------------------------------------------
{SCRIPT}------------------------------------------------------------------------------------------
",
        version = crate::catalogue::FORMAT_VERSION,
        format = FORMAT_NAME,
        base = crate::layout::recovery_base(*number),
    )
}

/// The by-hand rebuild script, carried on every parity disc.
const PARITY_SCRIPT: &str = include_str!("../../scripts/rebuild-disc-by-hand.py");

/// The README text of a parity disc (format 5 on) protecting data discs `first` to `last`.
pub fn render_parity(header: &Header, encrypted: bool, first: u32, last: u32) -> String {
    let Header {
        number,
        set_id,
        disc_size,
    } = header;
    let cat = catalogue_copy_name(encrypted);
    format!(
        "\
butcher backup disc {number:04}
backup set {set_id}, format version {version}, disc size {disc_size} bytes

This is a PARITY DISC of a backup made with butcher. It holds no archives. It protects the
data discs {first:04} to {last:04}: any ONE of them that is lost, or damaged beyond what its own
recovery files repair, can be rebuilt from this disc and the other data discs of the group.

Start a restore from the highest-numbered disc of the set, as always; this disc's catalogue
copy lists every disc written up to it, so it is a good start when it is the highest.

With butcher:  butcher rebuild-disc DISCS N OUT_DIR   writes disc N's directory again, file
for file, ready to burn; butcher restore  rebuilds what it needs by itself.

Files on this disc
  parity-NNNN.bin      the parity: the byte-wise XOR of the protected discs' streams, in
                       pieces of at most 256 MiB (see {format}, section 3.5)
  PARITY.txt           which discs it protects, and where every file of each lies in
                       its stream (offset, size, sha256, name)
  {cat:<20} the catalogue (SQLite) of every snapshot and of all discs up to this one
  SHA256SUMS           checksums: run  sha256sum -c SHA256SUMS  in this directory
  README.txt           this file
  {format:<20} the format: every file on a disc and every catalogue column, described
  {base}.par2       recovery files (PAR2 2.0) of this disc, as on every disc
  {base}.vol*.par2  (par2 repair {base}.par2 repairs this disc)

Rebuilding a lost disc by hand (needs python3 only): copy this disc to a folder PARITY and
the group's other data discs to a folder DISCS as DISCS/disc-NNNN, save the script between
the lines below as rebuild-disc-by-hand.py and run
  python3 rebuild-disc-by-hand.py PARITY DISCS N OUT_DIR
It writes every file of disc N but its recovery files into OUT_DIR and checks each against
PARITY.txt; then restore as the README of any data disc says.
------------------------------------------------------------------------------------------
{PARITY_SCRIPT}------------------------------------------------------------------------------------------
",
        version = crate::catalogue::FORMAT_VERSION,
        format = FORMAT_NAME,
        base = crate::layout::recovery_base(*number),
    )
}

/// The disc number, backup set id and disc size from the first two lines of a disc's README
/// (a README of format 2 or older gives no disc size: 0).
pub fn parse_header(text: &str) -> Option<Header> {
    let mut lines = text.lines();
    let number = lines
        .next()?
        .strip_prefix("butcher backup disc ")?
        .trim()
        .parse()
        .ok()?;
    let mut fields = lines.next()?.strip_prefix("backup set ")?.split(',');
    let set_id = fields.next()?.trim().to_string();
    let disc_size = fields
        .find_map(|f| f.trim().strip_prefix("disc size "))
        .and_then(|f| f.strip_suffix(" bytes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(Header {
        number,
        set_id,
        disc_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_is_short_ascii() {
        let header = Header {
            number: 12,
            set_id: "0123456789abcdef0123456789abcdef".to_string(),
            disc_size: 655_360,
        };
        let widest = Header {
            number: u32::MAX,
            set_id: header.set_id.clone(),
            disc_size: u64::MAX,
        };
        for enc in [true, false] {
            assert!(render(&widest, enc).len() <= crate::layout::README_MAX_LEN);
            let t = render(&header, enc);
            assert!(t.is_ascii());
            assert!(t.contains("disc 0012"));
            assert!(t.contains("FORMAT.txt"));
            assert_eq!(parse_header(&t), Some(header.clone()));
            assert_eq!(t.contains("aNNNNNN.tar.bz2.gpg"), enc);
            let p = render_parity(&widest, enc, u32::MAX - 2, u32::MAX - 1);
            assert!(p.len() <= crate::layout::README_MAX_LEN, "{}", p.len());
            let p = render_parity(&header, enc, 4, 11);
            assert!(p.is_ascii() && p.contains("data discs 0004 to 0011"));
            assert_eq!(parse_header(&p), Some(header.clone()));
        }
    }

    /// A format-2 README names no disc size; its number and set are read all the same.
    #[test]
    fn a_format_2_header_is_read() {
        let t = "butcher backup disc 0003\nbackup set abc, format version 2\n\nThis disc";
        let h = parse_header(t).unwrap();
        assert_eq!((h.number, h.set_id.as_str(), h.disc_size), (3, "abc", 0));
    }
}
