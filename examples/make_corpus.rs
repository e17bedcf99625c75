//! A deterministic benchmark corpus shaped like a personal archive:
//!
//! * ~60 % of the bytes: media that does not compress (random bytes, 1-20 MiB) named like
//!   camera files, `Photos/2019/IMG_0412.jpg`, `Videos/2021/VID_0007.mp4`;
//! * ~25 %: documents that do (prose, CSV statements, logs, source code), 1 KiB-2 MiB with
//!   log-uniform sizes;
//! * ~15 %: thousands of small files (100 B-8 KiB) in nested folders: notes, configs, code,
//!   and some random "thumbnails".
//!
//! The same `--size-mb` and `--seed` always give the same tree: paths, bytes and mtimes
//! (files and folders). The total of the file sizes is exactly `--size-mb` MiB.
//!
//! ```text
//! cargo run --release --example make_corpus -- --out DIR --size-mb 1024 --seed 1
//! ```

use std::fs::{self, File, FileTimes};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;
/// mtimes fall in the 12 years from 2012-01-01.
const EPOCH_2012: u64 = 1_325_376_000;
const SPAN_SECS: u64 = 12 * 365 * 86_400;

/// xoshiro256** seeded through splitmix64: small, fast and the same on every machine.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }

    /// Log-uniform in `lo..=hi`.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        ((a + (b - a) * self.unit()).exp() as u64).clamp(lo, hi)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A vocabulary drawn with Zipf-like frequencies (rank^-0.95): a few very common words and a
/// long tail of rare made-up ones, which is what makes prose compress like prose.
struct Words {
    words: Vec<String>,
    /// Cumulative weights, for a binary search.
    cumulative: Vec<f64>,
}

const COMMON: &str = "a an and as at be but by for from had has have he her his i in is it its \
    not of on or our she so that the their there they this to was we were what when which who \
    will with you year day time people house money letter school work garden holiday doctor \
    invoice account payment tax refund meeting project report budget insurance contract car \
    train ticket flight hotel family birthday dinner recipe photo album music print please \
    thanks regards hello dear monday friday january june october";

const SYLLABLES: &[&str] = &[
    "ba", "ne", "ri", "to", "ku", "mel", "san", "dor", "vi", "la", "gen", "ost", "tra", "im", "ur",
    "pe", "chan", "wil", "ka", "mo", "ter", "is", "ald", "brun",
];

impl Words {
    fn new(rng: &mut Rng) -> Self {
        let mut words: Vec<String> = COMMON.split_whitespace().map(str::to_string).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < 5000 {
            let n = rng.range(1, 4);
            let w: String = (0..n).map(|_| *rng.pick(SYLLABLES)).collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut cumulative = Vec::with_capacity(words.len());
        let mut total = 0.0;
        for rank in 0..words.len() {
            total += 1.0 / ((rank + 1) as f64).powf(0.95);
            cumulative.push(total);
        }
        Words { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let total = *self.cumulative.last().expect("vocabulary is not empty");
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A phrase of `n` words separated by `sep`.
    fn phrase(&self, rng: &mut Rng, n: u64, sep: &str) -> String {
        let mut s = String::new();
        for k in 0..n {
            if k > 0 {
                s.push_str(sep);
            }
            s.push_str(self.word(rng));
        }
        s
    }
}

/// Writes the corpus and counts what it wrote.
struct Corpus {
    root: PathBuf,
    rng: Rng,
    words: Words,
    files: u64,
    bytes: u64,
}

impl Corpus {
    /// Writes `data` at `rel` (made unique), with a deterministic mtime.
    fn write(&mut self, rel: &str, data: &[u8]) -> io::Result<()> {
        let mut path = self.root.join(rel);
        let (stem, ext) = rel.rsplit_once('.').unwrap_or((rel, ""));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = self.root.join(format!("{stem}-{n}.{ext}"));
        }
        fs::create_dir_all(path.parent().expect("paths are below the root"))?;
        let mut f = BufWriter::new(File::create(&path)?);
        f.write_all(data)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.set_times(FileTimes::new().set_modified(self.mtime()))?;
        self.files += 1;
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn mtime(&mut self) -> std::time::SystemTime {
        let secs = EPOCH_2012 + self.rng.range(0, SPAN_SECS);
        UNIX_EPOCH + Duration::new(secs, self.rng.range(0, 999_999_999) as u32)
    }

    fn random_bytes(&mut self, len: u64) -> Vec<u8> {
        let mut v = vec![0u8; len as usize];
        self.rng.fill(&mut v);
        v
    }

    /// Next file size from `lo..=hi` (by `draw`), taking the whole remainder when what would
    /// be left is smaller than `lo`.
    fn next_size(&mut self, left: u64, lo: u64, hi: u64, log: bool) -> u64 {
        let size = if log {
            self.rng.log_uniform(lo, hi)
        } else {
            self.rng.range(lo, hi)
        };
        if left <= size || left - size < lo {
            left
        } else {
            size
        }
    }
}

/// Media: random bytes, 1-20 MiB per file.
fn media(c: &mut Corpus, budget: u64) -> io::Result<()> {
    let mut left = budget;
    let (mut img, mut vid) = (c.rng.range(100, 2000), 1);
    while left > 0 {
        let year = c.rng.range(2012, 2023);
        let (rel, size) = if c.rng.unit() < 0.6 {
            img += c.rng.range(1, 30);
            let size = c.next_size(left, MIB, 8 * MIB, false);
            (format!("Photos/{year}/IMG_{:04}.jpg", img % 10_000), size)
        } else {
            vid += 1;
            let size = c.next_size(left, 6 * MIB, 20 * MIB, false);
            (format!("Videos/{year}/VID_{vid:04}.mp4"), size)
        };
        let size = size.min(left);
        let data = c.random_bytes(size);
        c.write(&rel, &data)?;
        left -= size;
    }
    Ok(())
}

/// Prose: sentences of Zipf-distributed words, with capitals, numbers and paragraphs.
fn prose(c: &mut Corpus, len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + 256);
    while s.len() < len {
        let n = c.rng.range(5, 22);
        let mut sentence = c.words.phrase(&mut c.rng, n, " ");
        if let Some(first) = sentence.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        if c.rng.unit() < 0.12 {
            sentence.push_str(&format!(" {}", c.rng.range(1, 2023)));
        }
        s.push_str(&sentence);
        s.push_str(if c.rng.unit() < 0.85 { ". " } else { "? " });
        if c.rng.unit() < 0.1 {
            s.push_str("\n\n");
        }
    }
    s.truncate(len);
    s.into_bytes()
}

const PLACES: &[&str] = &[
    "Leipzig", "Bremen", "Graz", "Basel", "Nantes", "Porto", "Turin", "Bergen", "Krakow",
    "Utrecht", "Aarhus", "Brno",
];
const CATEGORIES: &[&str] = &[
    "food", "rent", "salary", "phone", "fuel", "books", "energy", "travel", "health", "gifts",
];

/// A bank statement export.
fn csv(c: &mut Corpus, len: usize) -> Vec<u8> {
    let mut s = String::from("booking_date;counterparty;place;category;amount;balance;ref\n");
    let mut balance: i64 = c.rng.range(10_000, 900_000) as i64;
    while s.len() < len {
        let amount = c.rng.range(0, 60_000) as i64 - 45_000;
        balance += amount;
        let who = c.words.phrase(&mut c.rng, 2, " ");
        s.push_str(&format!(
            "{}-{:02}-{:02};{who};{};{};{}.{:02};{}.{:02};TX{:010}\n",
            c.rng.range(2008, 2023),
            c.rng.range(1, 12),
            c.rng.range(1, 28),
            c.rng.pick(PLACES),
            c.rng.pick(CATEGORIES),
            amount / 100,
            amount.unsigned_abs() % 100,
            balance / 100,
            balance.unsigned_abs() % 100,
            c.rng.next_u64() % 10_000_000_000,
        ));
    }
    s.truncate(len);
    s.into_bytes()
}

/// Source code with functions, conditions, loops and comments.
fn code(c: &mut Corpus, len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + 256);
    while s.len() < len {
        let name = c.words.phrase(&mut c.rng, 2, "_");
        let arg = c.words.phrase(&mut c.rng, 1, "_");
        s.push_str(&format!("\n/// {}\nfn {name}({arg}: &str) -> u32 {{\n", {
            let n = c.rng.range(3, 12);
            c.words.phrase(&mut c.rng, n, " ")
        }));
        for _ in 0..c.rng.range(2, 16) {
            let indent = "    ".repeat(c.rng.range(1, 3) as usize);
            let a = c.words.phrase(&mut c.rng, 2, "_");
            let b = c.words.phrase(&mut c.rng, 1, "_");
            let line = match c.rng.range(0, 4) {
                0 => format!("let {a} = {b}.len() + {};", c.rng.range(0, 512)),
                1 => format!("if {a} > {b} {{ return {}; }}", c.rng.range(0, 9)),
                2 => format!("for {b} in {a}.iter() {{ total += {b}; }}"),
                3 => {
                    let n = c.rng.range(3, 9);
                    format!("// {}", c.words.phrase(&mut c.rng, n, " "))
                }
                _ => format!("log::debug!(\"{a} {{}}\", {b});"),
            };
            s.push_str(&format!("{indent}{line}\n"));
        }
        s.push_str("    0\n}\n");
    }
    s.truncate(len);
    s.into_bytes()
}

/// A service log with timestamps, levels and messages.
fn log(c: &mut Corpus, len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + 256);
    let mut t = EPOCH_2012 + c.rng.range(0, SPAN_SECS);
    let levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
    let units = ["nas", "sync", "cron", "mail", "web"];
    while s.len() < len {
        t += c.rng.range(0, 90);
        let n = c.rng.range(3, 10);
        s.push_str(&format!(
            "{t} {} {}[{}]: {} (took {} ms)\n",
            c.rng.pick(&levels),
            c.rng.pick(&units),
            c.rng.range(100, 9999),
            c.words.phrase(&mut c.rng, n, " "),
            c.rng.range(0, 5000)
        ));
    }
    s.truncate(len);
    s.into_bytes()
}

/// Documents: 40 % prose, 20 % CSV, 25 % code, 15 % logs by count.
fn documents(c: &mut Corpus, budget: u64) -> io::Result<()> {
    let mut left = budget;
    while left > 0 {
        let size = c.next_size(left, KIB, 2 * MIB, true).min(left);
        let year = c.rng.range(2008, 2023);
        let kind = c.rng.unit();
        let title = c.words.phrase(&mut c.rng, 2, "-");
        let (rel, data) = if kind < 0.40 {
            let folder = c.rng.pick(&["Letters", "Work", "Taxes", "Travel", "Notes"]);
            let ext = c.rng.pick(&["txt", "md", "tex"]);
            let data = prose(c, size as usize);
            (format!("Documents/{folder}/{year}/{title}.{ext}"), data)
        } else if kind < 0.60 {
            let data = csv(c, size as usize);
            (format!("Documents/Bank/{year}/statement-{title}.csv"), data)
        } else if kind < 0.85 {
            let project = c.rng.pick(&["website", "photo-sorter", "thesis", "tools"]);
            let data = code(c, size as usize);
            (format!("Code/{project}/src/{title}.rs"), data)
        } else {
            let data = log(c, size as usize);
            (format!("Logs/{year}/{title}.log"), data)
        };
        c.write(&rel, &data)?;
        left -= size;
    }
    Ok(())
}

/// Nested folders (up to 6 deep) for the small files, about 30 files each.
fn small_dirs(c: &mut Corpus, budget: u64) -> Vec<String> {
    let roots = [
        "Mail/inbox",
        "Notes",
        "Settings",
        "Photos/thumbs",
        "Code/dotfiles",
    ];
    let mut dirs: Vec<(String, u32)> = roots.iter().map(|r| (r.to_string(), 1)).collect();
    let want = (budget / (4 * KIB * 30)).max(roots.len() as u64) as usize;
    while dirs.len() < want {
        let (parent, depth) = c.rng.pick(&dirs).clone();
        if depth < 6 {
            let name = c.words.phrase(&mut c.rng, 1, "");
            dirs.push((format!("{parent}/{name}{}", c.rng.range(0, 50)), depth + 1));
        }
    }
    let mut out: Vec<String> = dirs.into_iter().map(|(d, _)| d).collect();
    out.sort();
    out.dedup();
    out
}

/// Small files: 30 % random thumbnails, the rest notes, configs and code.
fn small_files(c: &mut Corpus, budget: u64) -> io::Result<()> {
    let dirs = small_dirs(c, budget);
    let mut left = budget;
    while left > 0 {
        let size = c.next_size(left, 100, 8 * KIB, false).min(left);
        let dir = c.rng.pick(&dirs).clone();
        let stem = c.words.phrase(&mut c.rng, 2, "_");
        let kind = c.rng.unit();
        let (name, data) = if kind < 0.30 {
            (format!("thumb_{stem}.png"), c.random_bytes(size))
        } else if kind < 0.55 {
            (format!("{stem}.txt"), prose(c, size as usize))
        } else if kind < 0.80 {
            (format!("{stem}.rs"), code(c, size as usize))
        } else {
            (format!("{stem}.conf"), config(c, size as usize))
        };
        c.write(&format!("{dir}/{name}"), &data)?;
        left -= size;
    }
    Ok(())
}

/// `key = value` settings.
fn config(c: &mut Corpus, len: usize) -> Vec<u8> {
    let mut s = String::new();
    while s.len() < len {
        let key = c.words.phrase(&mut c.rng, 2, ".");
        let value = match c.rng.range(0, 2) {
            0 => c.rng.range(0, 65_535).to_string(),
            1 => ["true", "false"][c.rng.range(0, 1) as usize].to_string(),
            _ => format!("\"{}\"", c.words.phrase(&mut c.rng, 1, "")),
        };
        s.push_str(&format!("{key} = {value}\n"));
    }
    s.truncate(len);
    s.into_bytes()
}

/// Gives every folder a deterministic mtime, deepest first (writing into a folder changes its
/// mtime, so parents come after their children).
fn date_folders(c: &mut Corpus) -> io::Result<()> {
    let mut dirs = Vec::new();
    let mut stack = vec![c.root.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
                dirs.push(e.path());
            }
        }
    }
    // Sorted by depth, then by name within a depth, so the order does not depend on readdir.
    dirs.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(a.cmp(b))
    });
    dirs.push(c.root.clone());
    for d in dirs {
        let t = c.mtime();
        File::open(&d)?.set_times(FileTimes::new().set_modified(t))?;
    }
    Ok(())
}

struct Args {
    out: PathBuf,
    size_mb: u64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut out, mut size_mb, mut seed) = (None, None, 1u64);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = Some(PathBuf::from(value()?)),
            "--size-mb" => size_mb = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        out: out.ok_or("--out DIR is required")?,
        size_mb: size_mb.ok_or("--size-mb N is required")?,
        seed,
    })
}

fn generate(out: &Path, size_mb: u64, seed: u64) -> io::Result<Corpus> {
    let mut rng = Rng::new(seed);
    let words = Words::new(&mut rng);
    let mut c = Corpus {
        root: out.to_path_buf(),
        rng,
        words,
        files: 0,
        bytes: 0,
    };
    let total = size_mb * MIB;
    let media_bytes = total * 60 / 100;
    let small_bytes = total * 15 / 100;
    media(&mut c, media_bytes)?;
    documents(&mut c, total - media_bytes - small_bytes)?;
    small_files(&mut c, small_bytes)?;
    date_folders(&mut c)?;
    Ok(c)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("make_corpus: {e}\nusage: make_corpus --out DIR --size-mb N [--seed S]");
            std::process::exit(2);
        }
    };
    if fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) {
        eprintln!("make_corpus: {} is not empty", args.out.display());
        std::process::exit(2);
    }
    match generate(&args.out, args.size_mb, args.seed) {
        Ok(c) => println!("files={} bytes={}", c.files, c.bytes),
        Err(e) => {
            eprintln!("make_corpus: {e}");
            std::process::exit(1);
        }
    }
}
