//! `snapshots` and `ls`: rows, dates, sizes, discs, globs and JSON.

use super::*;

#[test]
fn snapshots_lists_both_runs_with_the_discs_each_wrote() {
    let f = two_snapshots();
    let out = query(&f.env, "snapshots", &f.env.dest(), &[]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header = "ID DATE (UTC) STATUS FILES BYTES NEW BYTES DISCS";
    assert_eq!(lines[0].join(" "), header);
    let bytes1 = 200_000 + 150_000 + 180_000 + 20_000 + 6 + 4 + 10 + 250_000 + 5 + 15 + 4;
    let bytes2 = 200_000 + 150_000 + 2 * 180_000 + 20_000 + 6 + 18 + 250_000 + 5 + 120_000 + 4;
    let (first, last) = (f.run1[0], *f.run1.last().unwrap());
    let row1 = format!("1 complete 11 {bytes1} {bytes1} {first:04}-{last:04}");
    let row2 = format!("2 complete 11 {bytes2} {} {:04}", 18 + 120_000, f.run2[0]);
    let without_date = |l: &Vec<&str>| [&l[..1], &l[3..]].concat().join(" ");
    assert_eq!(without_date(&lines[1]), row1);
    assert_eq!(without_date(&lines[2]), row2);

    // The date is the run's start in UTC, as `date -u` writes it.
    let json = query(&f.env, "snapshots", &f.env.dest(), &["--json"]);
    let src = fs::canonicalize(f.env.src()).unwrap();
    let archives1 = archives(&f.env.dest()).len() - archives_on(&f.env.dest(), f.run2[0]);
    assert!(json.contains(&format!(
        "\"status\":\"complete\",\"source\":\"{}\",\"files\":11,\"bytes\":{bytes1},\
         \"new_bytes\":{bytes1},\"archives\":{archives1},\"discs\":{}}}",
        src.display(),
        numbers(&f.run1)
    )));
    for (id, line) in [(1, &lines[1]), (2, &lines[2])] {
        let ns = json_number(&json, id, "started_ns");
        let t = UNIX_EPOCH + Duration::from_nanos(ns);
        assert!(
            t >= f.started && t <= f.ended,
            "snapshot {id} started at {ns}"
        );
        if require_tool("date") {
            let out = run_ok(
                f.env
                    .cmd("date")
                    .args(["-u", "+%Y-%m-%d %H:%M:%S"])
                    .arg(format!("-d@{}", ns / 1_000_000_000)),
            );
            let want = String::from_utf8(out.stdout).unwrap();
            assert_eq!(format!("{} {}", line[1], line[2]), want.trim());
        }
    }
}

fn archives_on(dest: &Path, disc: u32) -> usize {
    archives(dest)
        .iter()
        .filter(|a| a.parent().unwrap().ends_with(format!("disc-{disc:04}")))
        .count()
}

/// The value of `"key":N` in the JSON object of snapshot `id`.
fn json_number(json: &str, id: i64, key: &str) -> u64 {
    let line = json
        .lines()
        .find(|l| l.starts_with(&format!("{{\"id\":{id},")))
        .unwrap();
    let rest = &line[line.find(&format!("\"{key}\":")).unwrap() + key.len() + 3..];
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

#[test]
fn ls_lists_types_sizes_dates_and_the_discs_holding_each_file() {
    let f = two_snapshots();
    let rows = ls(&f, &[]);
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "archive",
            "archive/2019",
            "archive/2019/a.jpg",
            "archive/2019/b.jpg",
            "backup",
            "backup/c-copy.jpg",
            "docs",
            "docs/edit.txt",
            "docs/notes.txt",
            "docs/report-final.txt",
            "meta.txt",
            "misc",
            "misc/link -> ../docs/edit.txt",
            "music",
            "music/song.mp3",
            "new",
            "new/fresh.bin",
            "odd\\xff\\nname",
            "photos",
            "photos/2020",
            "photos/2020/c.jpg",
            "typechange -> docs/notes.txt",
        ]
    );
    for r in &rows {
        let dirs = [
            "archive",
            "archive/2019",
            "backup",
            "docs",
            "misc",
            "music",
            "new",
            "photos",
            "photos/2020",
        ];
        let want_kind = if r.path.contains(" -> ") {
            "symlink"
        } else if dirs.contains(&r.path.as_str()) {
            "dir"
        } else {
            "file"
        };
        assert_eq!(r.kind, want_kind, "{}", r.path);
        if r.kind != "symlink" {
            assert_eq!(r.date, T0_TEXT, "{}", r.path);
        }
        assert_eq!(r.discs.starts_with("disc "), r.kind == "file", "{}", r.path);
        if r.kind != "file" {
            assert_eq!((r.size, r.discs.as_str()), (0, "-"), "{}", r.path);
        }
    }
    let size = |p: &str| rows.iter().find(|r| r.path == p).unwrap().size;
    assert_eq!(size("archive/2019/a.jpg"), 200_000);
    assert_eq!(size("new/fresh.bin"), 120_000);
    assert_eq!(size("docs/edit.txt"), 18);

    // Content is stored once: renamed and copied files point at run 1's discs, new and edited
    // content at run 2's.
    let old = ls(&f, &["--snapshot", "1"]);
    let run1: BTreeSet<u32> = f.run1.iter().copied().collect();
    let run2: BTreeSet<u32> = f.run2.iter().copied().collect();
    for (now, then) in [
        ("archive/2019/a.jpg", "photos/2019/a.jpg"),
        ("archive/2019/b.jpg", "photos/2019/b.jpg"),
        ("backup/c-copy.jpg", "photos/2020/c.jpg"),
        ("docs/report-final.txt", "docs/report.txt"),
    ] {
        assert_eq!(discs_of(&rows, now), discs_of(&old, then), "{now}");
        assert!(discs_of(&rows, now).is_subset(&run1), "{now}");
    }
    assert_eq!(discs_of(&rows, "new/fresh.bin"), run2);
    assert_eq!(discs_of(&rows, "docs/edit.txt"), run2);
    assert!(discs_of(&old, "docs/edit.txt").is_subset(&run1));
}

#[test]
fn ls_globs_select_paths_and_everything_below_them() {
    let f = two_snapshots();
    let paths =
        |args: &[&str]| -> Vec<String> { ls(&f, args).into_iter().map(|r| r.path).collect() };
    assert_eq!(
        paths(&["photos"]),
        ["photos", "photos/2020", "photos/2020/c.jpg"]
    );
    assert_eq!(
        paths(&["*.jpg"]),
        [
            "archive/2019/a.jpg",
            "archive/2019/b.jpg",
            "backup/c-copy.jpg",
            "photos/2020/c.jpg"
        ]
    );
    assert_eq!(
        paths(&["--snapshot", "1", "photos/2019", "docs/o*"]),
        [
            "docs/old.txt",
            "photos/2019",
            "photos/2019/a.jpg",
            "photos/2019/b.jpg"
        ]
    );

    // JSON: every field, and a path that is not UTF-8 also in hex.
    let json = query(&f.env, "ls", &f.env.dest(), &["--json", "new/*", "odd*"]);
    let sha = sha256_hex(&random(6, 120_000));
    let ns = T0 * 1_000_000_000;
    let want = format!(
        "[\n\
         {{\"path\":\"new/fresh.bin\",\"kind\":\"file\",\"size\":120000,\"mtime\":\"{T0_TEXT}\",\
         \"mtime_ns\":{ns},\"mode\":\"0644\",\"sha256\":\"{sha}\",\"stored\":true,\"discs\":[{}]}},\n\
         {{\"path\":\"odd\u{fffd}\\nname\",\"path_hex\":\"6f6464ff0a6e616d65\",\"kind\":\"file\",\
         \"size\":4,\"mtime\":\"{T0_TEXT}\",\"mtime_ns\":{ns},\"mode\":\"0644\",\"sha256\":\"{}\",\
         \"stored\":true,\"discs\":{}}}\n]\n",
        f.run2[0],
        sha256_hex(b"odd\n"),
        numbers(&discs_of(&ls(&f, &[]), "odd\\xff\\nname")),
    );
    assert_eq!(json, want);
}
