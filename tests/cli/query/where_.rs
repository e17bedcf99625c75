//! `where`: the discs it names are exactly those a restore of the files needs.

use super::*;

/// The `where` answer: (disc, files, pieces, bytes) per data disc, the catalogue disc line if
/// any, and the discs to insert.
struct Where {
    data: Vec<(u32, u64, u64, u64)>,
    catalogue: Option<u32>,
    insert: Vec<u32>,
}

fn where_(f: &Fixture, args: &[&str]) -> Where {
    let out = query(&f.env, "where", &f.env.dest(), args);
    let mut w = Where {
        data: Vec::new(),
        catalogue: None,
        insert: Vec::new(),
    };
    for l in out.lines() {
        let t: Vec<&str> = l.split_whitespace().collect();
        match t.as_slice() {
            ["disc", n, files, "files", pieces, "pieces", bytes, "bytes"] => w.data.push((
                n.parse().unwrap(),
                files.parse().unwrap(),
                pieces.parse().unwrap(),
                bytes.parse().unwrap(),
            )),
            ["disc", n, "catalogue", "copy", "that", "records", "snapshot", "2"] => {
                w.catalogue = Some(n.parse().unwrap())
            }
            ["insert", "discs:", rest @ ..] => {
                w.insert = rest.iter().map(|n| n.parse().unwrap()).collect()
            }
            _ => panic!("unexpected line {l:?} in\n{out}"),
        }
    }
    assert_eq!(
        out.lines().last().unwrap(),
        format!("insert discs: {}", four(&w.insert))
    );
    w
}

fn restore_paths(f: &Fixture, from: &Path, target: &str, code: i32) {
    let args = [
        os("restore"),
        os(from),
        os(f.env.path(target)),
        os("--path"),
        os("archive/2019"),
        os("--path"),
        os("backup"),
    ];
    if code == 0 {
        f.env.butcher_ok(args);
    } else {
        f.env.butcher_fails(args, code);
    }
}

#[test]
fn where_names_exactly_the_discs_a_restore_needs() {
    let f = two_snapshots();
    let w = where_(&f, &["archive/2019", "backup"]);
    let data: Vec<u32> = w.data.iter().map(|d| d.0).collect();
    let bytes: u64 = w.data.iter().map(|d| d.3).sum();
    assert_eq!(
        bytes,
        200_000 + 150_000 + 180_000,
        "each piece counted once"
    );
    assert!(w.data.iter().all(|d| d.1 >= 1 && d.2 >= 1));
    let rows = ls(&f, &[]);
    let from_ls: BTreeSet<u32> = [
        "archive/2019/a.jpg",
        "archive/2019/b.jpg",
        "backup/c-copy.jpg",
    ]
    .iter()
    .flat_map(|p| discs_of(&rows, p))
    .collect();
    assert_eq!(data, from_ls.into_iter().collect::<Vec<_>>());
    assert!(data.iter().all(|d| f.run1.contains(d)), "{data:?}");
    // Run 1's discs do not know snapshot 2 as complete: run 2's disc brings the catalogue.
    assert_eq!(w.catalogue, Some(f.run2[0]));
    assert_eq!(w.insert, [data.clone(), f.run2.clone()].concat());

    // With just those discs at hand, the files come back whole.
    let subset = only_discs(&f, "subset", &w.insert);
    restore_paths(&f, &subset, "restored", 0);
    for p in [
        "archive/2019/a.jpg",
        "archive/2019/b.jpg",
        "backup/c-copy.jpg",
    ] {
        let got = fs::read(f.env.path("restored").join(p)).unwrap();
        assert!(got == fs::read(f.env.src().join(p)).unwrap(), "{p} differs");
    }
    // Each disc named is needed: without a data disc the restore is incomplete, and without
    // the catalogue disc restore sees only snapshot 1, where the paths do not exist.
    for (i, d) in data.iter().enumerate() {
        let fewer: Vec<u32> = w.insert.iter().copied().filter(|x| x != d).collect();
        let dir = only_discs(&f, &format!("without-{d}"), &fewer);
        restore_paths(&f, &dir, &format!("target-{i}"), 3);
    }
    let dir = only_discs(&f, "without-catalogue", &data);
    restore_paths(&f, &dir, "target-c", 2);

    // A file of run 2: its own disc, which also holds the catalogue.
    let w = where_(&f, &["new/fresh.bin"]);
    assert_eq!(w.data.len(), 1);
    assert_eq!(
        (w.data[0].0, w.data[0].1, w.data[0].3),
        (f.run2[0], 1, 120_000)
    );
    assert_eq!((w.catalogue, w.insert), (None, f.run2.clone()));
    let json = query(&f.env, "where", &f.env.dest(), &["--json", "new/fresh.bin"]);
    let want = format!(
        "{{\"snapshot\":2,\"discs\":[\n{{\"disc\":{},\"files\":1,\"pieces\":{},\"bytes\":120000}}\n],\
         \"catalogue_disc\":{0},\"insert\":[{0}],\"not_stored\":[]}}\n",
        f.run2[0], w.data[0].2
    );
    assert_eq!(json, want);
}
