//! Deterministic test trees.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seed of every generated tree; the trees are identical from run to run.
pub const TREE_SEED: u64 = 0x5eed_b07c_4e12_0001;

/// splitmix64: a tiny deterministic PRNG, the one source of pseudo-random bytes and choices
/// in the tests. (The golden test keeps a fixed byte pattern of its own: the golden file pins
/// its sums, and a new input would rewrite tests/golden/format-v4.txt.)
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }
}

/// What a generated tree holds. All paths are relative to the tree root.
#[derive(Debug, Clone, Default)]
pub struct TreeFacts {
    /// Sum of the sizes of all regular-file paths (a hard-linked file counts
    /// once per path).
    pub total_file_bytes: u64,
    /// Number of regular-file paths (hard links counted per path).
    pub files: usize,
    /// Number of directories below the root.
    pub dirs: usize,
    /// Number of symlinks.
    pub symlinks: usize,
    /// Size of the largest file.
    pub largest_file_bytes: u64,
    /// Every entry below the root, sorted by raw bytes.
    pub paths: Vec<PathBuf>,

    pub empty_files: Vec<PathBuf>,
    /// Directories without entries (some nested in otherwise empty dirs).
    pub empty_dirs: Vec<PathBuf>,
    /// Mode 0700 directory (holds a 0600 file).
    pub private_dir: Option<PathBuf>,
    /// Mode 0555 directory (holds a file).
    pub readonly_dir: Option<PathBuf>,
    /// Mode 0444 file.
    pub readonly_file: Option<PathBuf>,
    /// Mode 0755 file.
    pub executable_file: Option<PathBuf>,
    /// Mode 0600 file.
    pub private_file: Option<PathBuf>,
    /// All symlinks created (relative, absolute, dangling, to a dir, loops...).
    pub symlink_paths: Vec<PathBuf>,
    pub relative_symlink: Option<PathBuf>,
    pub absolute_symlink: Option<PathBuf>,
    pub dangling_symlink: Option<PathBuf>,
    pub dir_symlink: Option<PathBuf>,
    /// Files with awkward names (spaces, newline, quotes, globs, unicode,
    /// non-UTF-8, ...).
    pub weird_names: Vec<PathBuf>,
    /// A file whose name has bytes 0xff 0xfe (not UTF-8).
    pub non_utf8_name: Option<PathBuf>,
    /// A file whose last component is 200 bytes long.
    pub long_name: Option<PathBuf>,
    /// A file whose relative path is longer than 300 bytes.
    pub long_path: Option<PathBuf>,
    /// Paths holding the same content (3 of them, different dirs and names).
    pub duplicates: Vec<PathBuf>,
    /// Two names of one inode.
    pub hard_links: Vec<PathBuf>,
    /// Files of exactly `archive_size`, `archive_size - 1`, `archive_size + 1` bytes.
    pub exact_size_file: Option<PathBuf>,
    pub minus_one_file: Option<PathBuf>,
    pub plus_one_file: Option<PathBuf>,
    /// A file of `3.5 * archive_size` bytes.
    pub big_file: Option<PathBuf>,
    /// A file with an mtime after 2100-01-01 (beyond 32-bit time_t).
    pub far_future_file: Option<PathBuf>,
}

/// Path from raw bytes.
pub fn bpath(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// Distinct, deterministic mtime (seconds, nanoseconds) for entry number `i`.
fn generated_mtime(i: u64) -> (u64, u32) {
    let secs = 1_500_000_000 + i * 86_413;
    let nanos = ((i * 7_919_113 + 1) % 1_000_000_000) as u32;
    (secs, nanos)
}

fn to_system_time((secs, nanos): (u64, u32)) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn set_mtime(path: &Path, t: (u64, u32)) {
    let t = to_system_time(t);
    let times = fs::FileTimes::new().set_modified(t).set_accessed(t);
    fs::File::open(path)
        .and_then(|f| f.set_times(times))
        .unwrap_or_else(|e| panic!("cannot set times of {path:?}: {e}"));
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {path:?}: {e}"));
}

const WORDS: &[&str] = &[
    "archive", "backup", "disc", "piece", "chunk", "manifest", "restore", "encrypt", "compress",
    "the", "of", "and", "a", "to", "in", "is", "that", "for", "it", "with", "as", "on", "cold",
    "storage", "blu-ray", "tar", "index", "catalog", "checksum", "sha256", "lorem", "ipsum",
];

struct Builder {
    root: PathBuf,
    rng: Rng,
    written: u64,
    modes: BTreeMap<PathBuf, u32>,
    mtimes: BTreeMap<PathBuf, (u64, u32)>,
}

impl Builder {
    fn new(root: &Path) -> Self {
        fs::create_dir_all(root).unwrap_or_else(|e| panic!("cannot create {root:?}: {e}"));
        Builder {
            root: root.to_path_buf(),
            rng: Rng::new(TREE_SEED),
            written: 0,
            modes: BTreeMap::new(),
            mtimes: BTreeMap::new(),
        }
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    /// The mtime set for `rel`, or the generated one for the `counter`-th path fixed.
    fn mtime_of(&self, rel: &Path, counter: u64) -> (u64, u32) {
        self.mtimes
            .get(rel)
            .copied()
            .unwrap_or(generated_mtime(counter))
    }

    fn dir(&mut self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let abs = self.abs(rel);
        fs::create_dir_all(&abs).unwrap_or_else(|e| panic!("cannot create dir {abs:?}: {e}"));
        rel.to_path_buf()
    }

    fn parent_of(&mut self, rel: &Path) {
        if let Some(parent) = rel.parent() {
            self.dir(parent);
        }
    }

    fn file(&mut self, rel: impl AsRef<Path>, content: &[u8]) -> PathBuf {
        let rel = rel.as_ref();
        self.parent_of(rel);
        let abs = self.abs(rel);
        fs::write(&abs, content).unwrap_or_else(|e| panic!("cannot write {abs:?}: {e}"));
        self.written += content.len() as u64;
        rel.to_path_buf()
    }

    /// Streams `len` bytes produced by `gen` into a new file.
    fn generated_file(
        &mut self,
        rel: impl AsRef<Path>,
        len: u64,
        mut gen: impl FnMut(&mut Rng, &mut Vec<u8>),
    ) -> PathBuf {
        let rel = rel.as_ref();
        self.parent_of(rel);
        let abs = self.abs(rel);
        let mut f = fs::File::create(&abs).unwrap_or_else(|e| panic!("cannot create {abs:?}: {e}"));
        let mut left = len;
        let mut buf = Vec::with_capacity(1 << 16);
        while left > 0 {
            buf.clear();
            gen(&mut self.rng, &mut buf);
            let n = (buf.len() as u64).min(left) as usize;
            f.write_all(&buf[..n])
                .unwrap_or_else(|e| panic!("cannot write {abs:?}: {e}"));
            left -= n as u64;
        }
        self.written += len;
        rel.to_path_buf()
    }

    fn random_file(&mut self, rel: impl AsRef<Path>, len: u64) -> PathBuf {
        self.generated_file(rel, len, |rng, buf| {
            buf.resize(1 << 16, 0);
            rng.fill(buf);
        })
    }

    fn text_file(&mut self, rel: impl AsRef<Path>, len: u64) -> PathBuf {
        let mut line_no = 0u64;
        self.generated_file(rel, len, move |rng, buf| {
            while buf.len() < 1 << 16 {
                line_no += 1;
                buf.extend_from_slice(format!("{line_no:08}:").as_bytes());
                let words = rng.range(4, 14);
                for _ in 0..words {
                    buf.push(b' ');
                    buf.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
                }
                buf.push(b'\n');
            }
        })
    }

    fn symlink(&mut self, target: impl AsRef<OsStr>, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        self.parent_of(rel);
        let abs = self.abs(rel);
        symlink(Path::new(target.as_ref()), &abs)
            .unwrap_or_else(|e| panic!("cannot create symlink {abs:?}: {e}"));
        rel.to_path_buf()
    }

    fn hard_link(&mut self, existing: &Path, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        self.parent_of(rel);
        let (from, to) = (self.abs(existing), self.abs(rel));
        fs::hard_link(&from, &to)
            .unwrap_or_else(|e| panic!("cannot hard-link {from:?} to {to:?}: {e}"));
        self.written += fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
        rel.to_path_buf()
    }

    fn mode(&mut self, rel: &Path, mode: u32) {
        self.modes.insert(rel.to_path_buf(), mode);
    }

    fn mtime(&mut self, rel: &Path, secs: u64, nanos: u32) {
        self.mtimes.insert(rel.to_path_buf(), (secs, nanos));
    }

    /// Sets explicit modes and distinct mtimes on every file and directory
    /// (directories last, deepest first, then their modes) and returns the
    /// counts.
    fn finish(self, mut facts: TreeFacts) -> TreeFacts {
        let paths = super::walk(&self.root);
        let mut dirs = Vec::new();
        let mut counter = 0u64;
        for rel in &paths {
            let abs = self.abs(rel);
            let md =
                fs::symlink_metadata(&abs).unwrap_or_else(|e| panic!("cannot stat {abs:?}: {e}"));
            let ft = md.file_type();
            if ft.is_dir() {
                facts.dirs += 1;
                dirs.push(rel.clone());
            } else if ft.is_symlink() {
                facts.symlinks += 1;
            } else if ft.is_file() {
                facts.files += 1;
                facts.total_file_bytes += md.len();
                facts.largest_file_bytes = facts.largest_file_bytes.max(md.len());
                counter += 1;
                set_mtime(&abs, self.mtime_of(rel, counter));
                set_mode(&abs, self.modes.get(rel).copied().unwrap_or(0o644));
            }
        }
        // Deepest first; the root last.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        dirs.push(PathBuf::new());
        for rel in &dirs {
            counter += 1;
            set_mtime(&self.abs(rel), self.mtime_of(rel, counter));
        }
        // chmod does not touch mtimes; read-only dirs are no obstacle anymore.
        for rel in &dirs {
            if !rel.as_os_str().is_empty() {
                set_mode(
                    &self.abs(rel),
                    self.modes.get(rel).copied().unwrap_or(0o755),
                );
            }
        }
        facts.paths = paths;
        facts
    }
}

/// Builds a deterministic tree full of things a backup/restore tool gets
/// wrong, with about `12 * archive_size` bytes of file content in total:
///
/// * empty files; empty dirs, nested too;
/// * a 0700 dir holding a 0600 file, a 0555 dir holding a file, 0444, 0755,
///   0600 and 0640 files (every other file 0644, every other dir 0755);
/// * symlinks: relative, absolute (`/etc/hostname`), dangling, to a dir, to
///   a symlink, to itself, with a 150-byte target and with a non-UTF-8 target;
/// * names with spaces, newline, tab, backslash, quotes, `*?[`, leading
///   dashes, control bytes, unicode in NFC and NFD, CJK, emoji, bytes
///   0xff 0xfe, a 200-byte component, and a path longer than 300 bytes;
/// * the same content under 3 names in different dirs, and a hard link;
/// * random (incompressible) files of exactly `archive_size`,
///   `archive_size - 1`, `archive_size + 1` and `3.5 * archive_size` bytes;
/// * compressible text and incompressible random files making up the rest;
/// * explicit distinct mtimes with nanoseconds on every file and dir (one
///   near the epoch, one after 2100).
///
/// `root` is created if needed and should be empty. `archive_size` must be
/// at least 64.
pub fn make_hostile_tree(root: &Path, archive_size: u64) -> TreeFacts {
    assert!(archive_size >= 64, "archive_size must be at least 64");
    let a = archive_size;
    let mut b = Builder::new(root);
    let mut f = TreeFacts::default();

    // Empty files and dirs.
    f.empty_files.push(b.file("empty.txt", b""));
    f.empty_files.push(b.file("misc/also-empty", b""));
    f.empty_dirs.push(b.dir("empty-dir"));
    f.empty_dirs.push(b.dir("nested-empty/a/b/c"));
    f.empty_dirs.push(b.dir("nested-empty/a/sibling"));
    b.file("misc/readme.md", b"# misc\n\nsome small file\n");

    // Modes.
    let p = b.dir("modes/private-dir");
    b.mode(&p, 0o700);
    f.private_dir = Some(p);
    let p = b.file("modes/private-dir/secret.txt", b"top secret\n");
    b.mode(&p, 0o600);
    let p = b.dir("modes/readonly-dir");
    b.mode(&p, 0o555);
    f.readonly_dir = Some(p);
    b.file("modes/readonly-dir/inside.txt", b"inside a read-only dir\n");
    let p = b.file("modes/readonly.txt", b"read only\n");
    b.mode(&p, 0o444);
    f.readonly_file = Some(p);
    let p = b.file("modes/run.sh", b"#!/bin/sh\necho hello\n");
    b.mode(&p, 0o755);
    f.executable_file = Some(p);
    let p = b.file("modes/private.txt", b"private\n");
    b.mode(&p, 0o600);
    f.private_file = Some(p);
    let p = b.file("modes/group-read.txt", b"group may read\n");
    b.mode(&p, 0o640);

    // Symlinks.
    b.text_file("text/words-00.txt", (a / 3).max(100));
    let p = b.symlink("../text/words-00.txt", "links/relative");
    f.relative_symlink = Some(p.clone());
    f.symlink_paths.push(p);
    let p = b.symlink("/etc/hostname", "links/absolute");
    f.absolute_symlink = Some(p.clone());
    f.symlink_paths.push(p);
    let p = b.symlink("../does/not/exist", "links/dangling");
    f.dangling_symlink = Some(p.clone());
    f.symlink_paths.push(p);
    let p = b.symlink("../modes", "links/to-dir");
    f.dir_symlink = Some(p.clone());
    f.symlink_paths.push(p);
    f.symlink_paths
        .push(b.symlink("relative", "links/to-symlink"));
    f.symlink_paths
        .push(b.symlink("self-loop", "links/self-loop"));
    let long_target = format!("../{}", "t".repeat(150));
    f.symlink_paths
        .push(b.symlink(long_target, "links/long-target"));
    f.symlink_paths
        .push(b.symlink(OsStr::from_bytes(b"bad-\xff\xfe"), "links/non-utf8-target"));
    f.symlink_paths
        .push(b.symlink(OsStr::from_bytes(b"new\nline"), "names/link to newline"));

    // Awkward names.
    let names: &[&[u8]] = &[
        b"with space",
        b"  leading and trailing spaces  ",
        b"new\nline",
        b"tab\there",
        b"back\\slash",
        b"single'quote",
        b"double\"quote",
        b"glob*?[x]",
        b"-leading-dash",
        b"--help",
        b".hidden",
        b"ctrl-\x01-\x1b[31m-red",
        b"percent-%s%n",
        b"shell;|&$(echo x)`y`<>",
        b"#hash ~tilde: colon",
        "caf\u{e9}-nfc".as_bytes(),
        "cafe\u{301}-nfd".as_bytes(),
        "日本語.txt".as_bytes(),
        "emoji-\u{1f980}\u{1f389}".as_bytes(),
        b"bad-\xff\xfe",
    ];
    for name in names {
        let mut rel = b"names/".to_vec();
        rel.extend_from_slice(name);
        let rel = bpath(&rel);
        let content = format!("file named {:?}\n", OsStr::from_bytes(name));
        f.weird_names.push(b.file(&rel, content.as_bytes()));
    }
    f.non_utf8_name = Some(bpath(b"names/bad-\xff\xfe"));
    f.weird_names.push(b.file(
        bpath(b"names/dir-\xff\xfe/inner.txt"),
        b"in a non-UTF-8 dir\n",
    ));
    f.weird_names
        .push(b.file("names/dir with space/and file", b"spaces everywhere\n"));
    f.weird_names
        .push(b.file("names/日本/ファイル", "日本語のテキスト\n".as_bytes()));
    let long_name = format!("long-{}", "x".repeat(195));
    assert_eq!(long_name.len(), 200);
    let p = b.file(Path::new("names").join(&long_name), b"long name\n");
    f.long_name = Some(p.clone());
    f.weird_names.push(p);
    let mut deep = PathBuf::from("deep");
    for level in 0..8 {
        deep.push(format!("level-{level:02}-{}", "d".repeat(36)));
    }
    deep.push("leaf.txt");
    assert!(deep.as_os_str().len() > 300);
    f.long_path = Some(b.file(&deep, b"deep down\n"));

    // Hard link.
    let original = b.text_file("hardlink/original.txt", 4000);
    let linked = b.hard_link(&original, "hardlink/other-dir/linked.txt");
    f.hard_links = vec![original, linked];

    // Special mtimes.
    let p = b.file("times/far-future.txt", b"from the future\n");
    b.mtime(&p, 4_102_444_800 + 12_345, 999_999_999);
    f.far_future_file = Some(p);
    let p = b.file("times/near-epoch.txt", b"from the past\n");
    b.mtime(&p, 86_400, 1);
    let p = b.dir("times/old-dir");
    b.mtime(&p, 315_532_800, 500_000_000);
    b.file("times/old-dir/file.txt", b"in an old dir\n");

    // Many small files.
    for i in 0..40u64 {
        let len = b.rng.range(1, 2000);
        b.text_file(format!("many/small-{i:03}.txt"), len);
    }

    // Size boundaries and a multi-piece file (incompressible).
    f.exact_size_file = Some(b.random_file("sizes/exact.bin", a));
    f.minus_one_file = Some(b.random_file("sizes/minus-one.bin", a - 1));
    f.plus_one_file = Some(b.random_file("sizes/plus-one.bin", a + 1));
    f.big_file = Some(b.random_file("sizes/big.bin", a * 7 / 2));

    // Duplicates (incompressible, so deduplication is visible).
    let dup = b.rng.bytes((a / 2 + 13) as usize);
    f.duplicates = vec![
        b.file("dup/one.bin", &dup),
        b.file("dup/nested/two.bin", &dup),
        b.file("names/third copy.bin", &dup),
    ];

    // Fill up to ~12 * archive_size: 40% text, 60% random.
    let remaining = (12 * a).saturating_sub(b.written);
    let text_budget = remaining * 2 / 5;
    let random_budget = remaining - text_budget;
    let mut left = text_budget;
    let mut i = 1;
    while left > 0 {
        let len = b.rng.range(a / 4, a).min(left);
        b.text_file(format!("text/words-{i:02}.txt"), len);
        left -= len;
        i += 1;
    }
    let mut left = random_budget;
    let mut i = 0;
    while left > 0 {
        let len = b.rng.range(a / 4, a).min(left);
        b.random_file(format!("random/sub-{}/blob-{i:02}.bin", i % 3), len);
        left -= len;
        i += 1;
    }

    b.finish(f)
}

/// A small deterministic tree: 12 regular files (text and random, 0644 and
/// one 0755) in a few nested dirs, with explicit distinct mtimes.
pub fn make_small_tree(root: &Path) -> TreeFacts {
    let mut b = Builder::new(root);
    b.text_file("readme.txt", 700);
    b.text_file("a/one.txt", 1200);
    b.text_file("a/two.txt", 300);
    b.random_file("a/data.bin", 4096);
    b.text_file("a/b/three.txt", 5000);
    b.random_file("a/b/four.bin", 3000);
    b.text_file("a/b/c/five.txt", 150);
    b.text_file("a/b/c/six.txt", 9000);
    b.text_file("c/seven.txt", 2500);
    b.random_file("c/eight.bin", 1);
    let p = b.file("c/nine.sh", b"#!/bin/sh\necho nine\n");
    b.mode(&p, 0o755);
    b.text_file("c/d/ten.txt", 800);
    b.finish(TreeFacts::default())
}
