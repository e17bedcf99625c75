//! How the query commands print data on stdout: UTC dates, paths one per line, disc lists, and
//! hand-written JSON. Messages go to stderr elsewhere.

use std::fmt::Display;
use std::io::{self, Write};

/// Runs `f` on a buffered stdout. A closed pipe (`butcher ls DEST | head`) ends the output
/// quietly instead of being an error.
pub fn to_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for nanoseconds since the epoch.
pub fn utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (the proleptic Gregorian calendar; the
/// well-known "civil from days" algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A path for a text listing, always on one line: UTF-8 as it is; a backslash, a control
/// character or a byte that is not UTF-8 escaped as `\\`, `\n`, `\t`, `\r` or `\xNN`.
pub fn show(path: &[u8]) -> String {
    let mut s = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        s.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Disc numbers as `0001`, `0003-0005` or `0001,0003-0004`; `-` for none.
pub fn disc_ranges(discs: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < discs.len() {
        let mut j = i;
        while j + 1 < discs.len() && discs[j + 1] == discs[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            format!("{:04}", discs[i])
        } else {
            format!("{:04}-{:04}", discs[i], discs[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(",")
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of already-encoded values, one per line.
pub fn json_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        return "[]".to_string();
    }
    format!("[\n{}\n]", items.join(",\n"))
}

/// A JSON array of strings, one per line.
pub fn json_strings(items: &[String]) -> String {
    json_list(items.iter().map(|s| json_str(s)))
}

/// A JSON array of numbers on one line.
pub fn json_numbers<T: Display>(items: &[T]) -> String {
    let v: Vec<String> = items.iter().map(|n| n.to_string()).collect();
    format!("[{}]", v.join(","))
}

/// Builds one JSON object, fields in the order they are added.
#[derive(Debug, Default)]
pub struct JsonObject {
    fields: Vec<String>,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field whose value is already JSON.
    pub fn raw(mut self, key: &str, json: impl Into<String>) -> Self {
        self.fields
            .push(format!("{}:{}", json_str(key), json.into()));
        self
    }

    /// Adds a string field.
    pub fn str(self, key: &str, value: &str) -> Self {
        self.raw(key, json_str(value))
    }

    /// Adds a number (or boolean) field.
    pub fn num(self, key: &str, value: impl Display) -> Self {
        self.raw(key, value.to_string())
    }

    /// Adds a path (raw bytes) as a string; one that is not UTF-8 is given lossily and, byte
    /// exact, in hex as `KEY_hex`.
    pub fn path(self, key: &str, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.str(key, s),
            Err(_) => self
                .str(key, &String::from_utf8_lossy(bytes))
                .str(&format!("{key}_hex"), &hex(bytes)),
        }
    }

    /// The object as JSON text.
    pub fn build(self) -> String {
        format!("{{{}}}", self.fields.join(","))
    }
}

/// Lowercase hex of bytes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_714_557_600_999_999_999), "2024-05-01 10:00:00");
        assert_eq!(utc(951_782_400 * 1_000_000_000), "2000-02-29 00:00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
        assert_eq!(utc(-86_400 * 365 * 1_000_000_000), "1969-01-01 00:00:00");
    }

    #[test]
    fn paths_stay_on_one_line() {
        assert_eq!(show(b"photos/a b.jpg"), "photos/a b.jpg");
        assert_eq!(show("été/ü".as_bytes()), "été/ü");
        assert_eq!(show(b"a\nb\\c\x01\xff"), "a\\nb\\\\c\\x01\\xff");
    }

    #[test]
    fn disc_lists() {
        assert_eq!(disc_ranges(&[]), "-");
        assert_eq!(disc_ranges(&[2]), "0002");
        assert_eq!(disc_ranges(&[3, 4]), "0003-0004");
        assert_eq!(disc_ranges(&[1, 3, 4, 5, 9]), "0001,0003-0005,0009");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        let o = JsonObject::new()
            .num("n", 3)
            .path("path", b"ok")
            .path("from", b"x\xffy")
            .build();
        assert_eq!(
            o,
            "{\"n\":3,\"path\":\"ok\",\"from\":\"x\u{fffd}y\",\"from_hex\":\"78ff79\"}"
        );
        assert_eq!(json_list(Vec::new()), "[]");
        assert_eq!(json_list(["1".into(), "2".into()]), "[\n1,\n2\n]");
        assert_eq!(json_numbers(&[1u32, 4]), "[1,4]");
        assert_eq!(json_strings(&["a\"".into()]), "[\n\"a\\\"\"\n]");
    }
}
