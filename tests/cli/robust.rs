//! What a careless setup or a damaged small file must not do: back up the backup, read a
//! device without end, stop verify or refuse a message any OpenPGP reader accepts.

use std::fs;

use crate::common::{assert_trees_equal, stderr, stdout, TestEnv};

/// `butcher backup src src/backup`: DEST inside the source is left out with one note, so a
/// second run finds nothing new and stores nothing, and the restore is the source without it.
#[test]
fn dest_inside_the_source_is_left_out() {
    let env = TestEnv::new().with_passphrase("pw");
    crate::common::tree::make_small_tree(&env.src());
    let dest = env.src().join("backup");
    let run = || {
        env.butcher_ok([
            "backup".as_ref(),
            env.src().as_os_str(),
            dest.as_os_str(),
            "--json".as_ref(),
        ])
    };
    let first = run();
    let err = stderr(&first);
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("inside the source"))
        .collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("DEST"), "{err}");
    assert!(!err.contains("not backed up"), "{err}");
    let second = run();
    let json = stdout(&second);
    assert!(json.contains("\"archives\":0"), "{json}");
    assert!(json.contains("\"new_bytes\":0"), "{json}");
    assert!(json.contains("\"discs\":[]"), "{json}");

    env.butcher_ok([
        "restore".as_ref(),
        dest.as_os_str(),
        env.target().as_os_str(),
    ]);
    fs::rename(&dest, env.path("backup-moved")).unwrap();
    assert_trees_equal(env.src(), env.target());
}
