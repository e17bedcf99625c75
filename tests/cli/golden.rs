//! The golden test of the on-disc format: a fixed tree backed up without encryption or
//! compression gives byte-identical archives, the same names and the same catalogue schema.
//! Any change here is a format change: bump FORMAT_VERSION, update docs/format.md and rewrite
//! tests/golden/format-v6.txt (run with BUTCHER_BLESS=1 to write it).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::common::{disc_dirs, sha256_hex, TestEnv};

const GOLDEN: &str = "tests/golden/format-v6.txt";

fn fixed_tree(src: &Path) {
    fs::create_dir_all(src.join("dir/empty")).unwrap();
    fs::write(src.join("a.txt"), "alpha\n").unwrap();
    fs::write(src.join("dup.txt"), "alpha\n").unwrap();
    // A fixed pattern, not common::Rng: the golden file pins these bytes' sums.
    let big: Vec<u8> = (0..150_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(src.join("dir/big.bin"), big).unwrap();
    fs::write(src.join("dir/empty.txt"), "").unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    fs::hard_link(src.join("dir/empty.txt"), src.join("hard.txt")).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
    for f in ["a.txt", "dup.txt", "dir/big.bin", "dir/empty.txt"] {
        let file = fs::File::options().write(true).open(src.join(f)).unwrap();
        file.set_times(fs::FileTimes::new().set_modified(t))
            .unwrap();
    }
}

fn describe(dest: &Path) -> String {
    let mut out = String::new();
    let db = rusqlite::Connection::open(dest.join("catalogue.db")).unwrap();
    let v: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    writeln!(
        out,
        "format version {} (user_version {v})",
        butcher::FORMAT_VERSION
    )
    .unwrap();
    writeln!(out, "-- schema").unwrap();
    let mut st = db
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    for sql in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        writeln!(out, "{}", sql.unwrap()).unwrap();
    }
    writeln!(out, "-- meta keys").unwrap();
    let mut st = db.prepare("SELECT key FROM meta ORDER BY key").unwrap();
    for k in st.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        writeln!(out, "{}", k.unwrap()).unwrap();
    }
    writeln!(out, "-- pieces (sha256 piece archive member offset length)").unwrap();
    let mut st = db
        .prepare("SELECT lower(hex(sha256)), piece, archive_id, CAST(member AS TEXT), offset, length FROM pieces ORDER BY archive_id, member")
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?
            ))
        })
        .unwrap();
    for r in rows {
        writeln!(out, "{}", r.unwrap()).unwrap();
    }
    // Every version (path, snapshots, kind, size, mode, sha256, links), and the entries view
    // of each snapshot: what a run that changes one file and removes another adds.
    writeln!(
        out,
        "-- versions (path first until kind size mode sha256 links)"
    )
    .unwrap();
    let mut st = db
        .prepare(
            "SELECT CAST(n.path AS TEXT), v.first_snapshot, CASE v.until_snapshot WHEN 2147483647 THEN '-' ELSE v.until_snapshot END,
                    v.kind, v.size, printf('%o', v.mode),
                    CASE WHEN v.sha256 IS NULL THEN '-' ELSE lower(hex(v.sha256)) END,
                    coalesce(v.links, '-')
             FROM versions v JOIN path_names n ON n.id = v.path_id ORDER BY n.path, v.id",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| {
            let cols: Vec<String> = (0..8)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    v => String::from_utf8_lossy(v.as_bytes().unwrap()).into_owned(),
                })
                .collect();
            Ok(cols.join(" "))
        })
        .unwrap();
    for r in rows {
        writeln!(out, "{}", r.unwrap()).unwrap();
    }
    for snap in [1, 2] {
        let mut st = db
            .prepare("SELECT CAST(path AS TEXT) FROM entries WHERE snapshot_id = ?1 ORDER BY path")
            .unwrap();
        let paths: Vec<String> = st
            .query_map([snap], |r| r.get(0))
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        writeln!(out, "-- entries of snapshot {snap}: {}", paths.join(" ")).unwrap();
    }
    writeln!(out, "-- discs").unwrap();
    for d in disc_dirs(dest) {
        let mut names: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // How many parity pieces a parity disc has moves with the length of FORMAT.txt (in
        // the streams): one entry stands for them, and their count is checked below.
        let piece = |n: &str| n.starts_with("parity-") && n.ends_with(".bin");
        let mut plain: Vec<&str> = names
            .iter()
            .filter(|n| !n.ends_with(".par2") && !piece(n))
            .map(|n| n.as_str())
            .collect();
        let pieces = names.iter().filter(|n| piece(n)).count() as u64;
        if pieces > 0 {
            plain.push("parity-NNNN.bin...");
        }
        writeln!(
            out,
            "{}: {}",
            d.file_name().unwrap().to_string_lossy(),
            plain.join(" ")
        )
        .unwrap();
        let recovery: Vec<String> = names
            .iter()
            .filter(|n| n.ends_with(".par2"))
            .cloned()
            .collect();
        if !recovery.is_empty() {
            // The counts depend on the length of FORMAT.txt (this document's text): the rule
            // is checked here and the golden text keeps only what does not move with it.
            use butcher_par2::rule;
            let set = butcher_par2::load(&d, &recovery).unwrap();
            let input: u64 = set.files.iter().map(|f| f.slices.len() as u64).sum();
            let r = rule::recovery_slices(input, 10);
            assert_eq!(set.recovery.len() as u32, r, "10 % of {input} slices");
            let lengths: Vec<u64> = set.files.iter().map(|f| f.len).collect();
            assert_eq!(set.slice_size, rule::slice_size(&lengths));
            let base = d.file_name().unwrap().to_string_lossy().into_owned();
            let mut want = vec![rule::index_name(&base)];
            let mut first = 0;
            for c in rule::volume_counts(r) {
                want.push(rule::volume_name(&base, first, c, r));
                first += c;
            }
            want.sort();
            assert_eq!(recovery, want);
            for f in &set.set_files {
                assert!(f.whole(), "{} is whole", f.name);
            }
            writeln!(
                out,
                "  recovery: index and {} volume files, slice size {}, creator {:?}",
                recovery.len() - 1,
                set.slice_size,
                set.creator.as_deref().unwrap_or("")
            )
            .unwrap();
            let mut protected: Vec<String> = set
                .files
                .iter()
                .map(|f| f.name.clone())
                .filter(|n| !piece(n))
                .collect();
            if set.files.iter().any(|f| piece(&f.name)) {
                let all = set.files.iter().filter(|f| piece(&f.name)).count() as u64;
                assert_eq!(all, pieces, "every piece is protected");
                protected.push("parity-NNNN.bin...".to_string());
            }
            protected.sort();
            writeln!(out, "  protected: {}", protected.join(" ")).unwrap();
            for f in set.files.iter().filter(|f| f.name.starts_with('a')) {
                writeln!(out, "  protected {} {} bytes", f.name, f.len).unwrap();
            }
        }
        if names.iter().any(|n| n == "PARITY.txt") {
            // The parity disc's manifest, but for what moves with the set id and FORMAT.txt.
            let text = fs::read_to_string(d.join("PARITY.txt")).unwrap();
            for line in text.lines() {
                let w: Vec<&str> = line.split(' ').collect();
                match w[0] {
                    "set" => assert_eq!(w[1].len(), 32, "{line}"),
                    "length" => {
                        let n: u64 = w[1].parse().unwrap();
                        assert_eq!(n % 2048, 0, "{line}");
                        let size: u64 = text
                            .lines()
                            .find_map(|l| l.strip_prefix("piece-size "))
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert_eq!(pieces, n.div_ceil(size), "pieces of {n} bytes");
                        writeln!(out, "  PARITY.txt: length, a multiple of 2048").unwrap();
                    }
                    "member" => writeln!(out, "  PARITY.txt: member {}", w[1]).unwrap(),
                    "file" if w[5].starts_with('a') => {
                        writeln!(out, "  PARITY.txt: {line}").unwrap()
                    }
                    "file" => writeln!(out, "  PARITY.txt: file {} {}", w[1], w[5]).unwrap(),
                    _ => writeln!(out, "  PARITY.txt: {line}").unwrap(),
                }
            }
        }
        for n in names.iter().filter(|n| n.starts_with('a')) {
            let bytes = fs::read(d.join(n)).unwrap();
            let sum = sha256_hex(&bytes);
            writeln!(out, "  {n} {} bytes sha256 {sum}", bytes.len()).unwrap();
            let mut ar = tar::Archive::new(&bytes[..]);
            for e in ar.entries().unwrap() {
                let e = e.unwrap();
                let h = e.header();
                writeln!(
                    out,
                    "    {} size {} mode {:o} mtime {} type {:?}",
                    String::from_utf8_lossy(&e.path_bytes()),
                    h.size().unwrap(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.entry_type()
                )
                .unwrap();
            }
        }
    }
    out
}

#[test]
fn the_format_is_unchanged() {
    let env = TestEnv::new();
    fixed_tree(&env.src());
    let backup = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "backup".into(),
            env.src().into(),
            env.dest().into(),
            "--no-encryption".into(),
            "--compression=none".into(),
            "--archive-size=64K".into(),
            "--disc-size=1M".into(),
        ];
        args.extend(extra.iter().map(|a| a.into()));
        env.butcher_ok(args);
    };
    backup(&["--parity-discs=2"]);
    // A second run: one file changed (same mtime), one removed.
    fs::write(env.src().join("a.txt"), "alpha, changed\n").unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
    fs::File::options()
        .write(true)
        .open(env.src().join("a.txt"))
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(t))
        .unwrap();
    fs::remove_file(env.src().join("dup.txt")).unwrap();
    backup(&[]);
    // The open group's parity disc, written now.
    env.butcher_ok([
        "close".as_ref(),
        env.dest().as_os_str(),
        "--no-encryption".as_ref(),
        "--disc-size=1M".as_ref(),
    ]);
    let got = describe(&env.dest());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("BUTCHER_BLESS").is_some() {
        fs::write(&path, &got).unwrap();
    }
    let want = fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, want,
        "the on-disc format changed (see the comment at the top of this file)"
    );
}
