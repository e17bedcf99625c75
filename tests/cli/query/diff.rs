//! `diff`: every kind of change, in text and JSON, both ways.

use super::*;

/// `diff DEST 1 2` of the fixture.
pub(super) const DIFF_1_2: &str = "\
new       archive
new       archive/2019
renamed   photos/2019/a.jpg -> archive/2019/a.jpg
renamed   photos/2019/b.jpg -> archive/2019/b.jpg
new       backup
copied    photos/2020/c.jpg -> backup/c-copy.jpg
changed   docs/edit.txt
deleted   docs/old.txt
renamed   docs/report.txt -> docs/report-final.txt
metadata  meta.txt
changed   misc/link
metadata  music
new       new
new       new/fresh.bin
deleted   photos/2019
changed   typechange
";

#[test]
fn diff_names_every_kind_of_change() {
    let f = two_snapshots();
    let dest = f.env.dest();
    let out = f.env.butcher_ok([os("diff"), os(&dest), os("1"), os("2")]);
    assert_eq!(stdout(&out), DIFF_1_2);
    let summary = "butcher: snapshot 1 -> 2: 5 new (120.0 kB), 3 changed (18 B), \
                   2 metadata (5 B), 2 deleted (4 B), 3 renamed (370.0 kB), \
                   1 copied (180.0 kB), 8 unchanged (430.0 kB)";
    let stderr = stderr(&out);
    assert!(stderr.lines().any(|l| l == summary), "{stderr}");

    let json = query(&f.env, "diff", &dest, &["1", "2", "--json"]);
    assert_eq!(
        json.lines()
            .filter(|l| l.starts_with("{\"change\""))
            .count(),
        16
    );
    for line in [
        r#"{"change":"changed","path":"typechange","kind":"symlink","size":0,"what":"type"}"#,
        r#"{"change":"changed","path":"misc/link","kind":"symlink","size":0,"what":"target"}"#,
        r#"{"change":"changed","path":"docs/edit.txt","kind":"file","size":18,"what":"content"}"#,
        r#"{"change":"renamed","path":"docs/report-final.txt","kind":"file","size":20000,"from":"docs/report.txt"}"#,
        r#"{"change":"copied","path":"backup/c-copy.jpg","kind":"file","size":180000,"from":"photos/2020/c.jpg"}"#,
        r#"{"change":"deleted","path":"docs/old.txt","kind":"file","size":4}"#,
        r#"{"change":"metadata","path":"music","kind":"dir","size":0}"#,
    ] {
        assert!(
            json.lines().any(|l| l.trim_end_matches(',') == line),
            "{line} not in {json}"
        );
    }
    assert!(
        json.starts_with("{\"a\":1,\"b\":2,\"changes\":[\n"),
        "{json}"
    );
    assert!(json.ends_with(
        "],\"summary\":{\"new\":{\"count\":5,\"bytes\":120000},\"changed\":{\"count\":3,\"bytes\":18},\
         \"metadata\":{\"count\":2,\"bytes\":5},\"deleted\":{\"count\":2,\"bytes\":4},\
         \"renamed\":{\"count\":3,\"bytes\":370000},\"copied\":{\"count\":1,\"bytes\":180000},\
         \"unchanged\":{\"count\":8,\"bytes\":430010}}}\n"
    ));

    // Backwards, the copy is a plain deletion and the moves go back.
    let back = query(&f.env, "diff", &dest, &["2", "1"]);
    assert!(back.contains("deleted   backup/c-copy.jpg\n"), "{back}");
    assert!(
        back.contains("renamed   archive/2019/a.jpg -> photos/2019/a.jpg\n"),
        "{back}"
    );
    assert!(query(&f.env, "diff", &dest, &["2", "2"]).is_empty());
}
