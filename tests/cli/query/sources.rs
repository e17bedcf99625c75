//! Where the catalogue is read from (DEST, discs, a file) and refused queries.

use super::diff::DIFF_1_2;
use super::*;

#[test]
fn a_folder_of_encrypted_discs_gives_the_same_answers_as_dest() {
    let f = two_snapshots();
    let dest = f.env.dest();
    let all: Vec<u32> = [f.run1.clone(), f.run2.clone()].concat();
    let discs = only_discs(&f, "discs", &all);
    let last = discs.join(format!("disc-{:04}", f.run2[0]));
    for (cmd, args) in [
        ("snapshots", &[][..]),
        ("snapshots", &["--json"][..]),
        ("ls", &[][..]),
        ("ls", &["--snapshot", "1", "photos", "--json"][..]),
        ("diff", &["1", "2"][..]),
        ("diff", &["1", "2", "--json"][..]),
        ("where", &["archive/2019", "backup"][..]),
        ("where", &["*", "--json"][..]),
    ] {
        let want = query(&f.env, cmd, &dest, args);
        assert!(!want.is_empty(), "{cmd} {args:?}");
        assert_eq!(
            query(&f.env, cmd, &discs, args),
            want,
            "{cmd} {args:?} from discs"
        );
        assert_eq!(
            query(&f.env, cmd, &last, args),
            want,
            "{cmd} {args:?} from one disc"
        );
    }
    assert_eq!(query(&f.env, "diff", &discs, &["1", "2"]), DIFF_1_2);
    // A catalogue file named directly, encrypted or not, and DEST's working catalogue elsewhere.
    let copy = last.join("catalogue.db.gpg");
    let working = dest.join("catalogue.db");
    let want = query(&f.env, "snapshots", &dest, &[]);
    assert_eq!(query(&f.env, "snapshots", &copy, &[]), want);
    assert_eq!(query(&f.env, "snapshots", &working, &[]), want);
    let cat_arg = format!("--catalogue={}", working.display());
    assert_eq!(
        query(&f.env, "snapshots", &f.env.path("nowhere"), &[&cat_arg]),
        want
    );

    // The copy on run 1's first disc was written before snapshot 1 was complete.
    let first = discs.join(format!("disc-{:04}", f.run1[0]));
    let out = query(&f.env, "snapshots", &first, &[]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(
        out.lines().nth(1).unwrap().split_whitespace().nth(3),
        Some("running")
    );

    // The passphrase: from a file, wrong, missing. DEST's working catalogue needs none.
    let mut env = f.env;
    let pf = format!("--passphrase-file={}", pass_file(&env).display());
    env.unset_env(PASSPHRASE_ENV);
    assert_eq!(
        query(&env, "ls", &discs, &[&pf]),
        query(&env, "ls", &dest, &[])
    );
    let err = query_fails(&env, "ls", &discs, &[], 2);
    assert!(err.contains("no passphrase"), "{err}");
    env.set_env(PASSPHRASE_ENV, "not the passphrase");
    let err = query_fails(&env, "snapshots", &discs, &[], 2);
    assert!(err.contains("wrong passphrase"), "{err}");
}

#[test]
fn bad_queries_are_refused_with_a_usage_error() {
    let env = TestEnv::new().with_passphrase(PASS);
    first_tree(&env.src());
    backup(&env, &[]);
    let dest = env.dest();
    let err = query_fails(&env, "diff", &dest, &["1", "9"], 2);
    assert!(err.contains("no snapshot 9"), "{err}");
    let err = query_fails(&env, "ls", &dest, &["--snapshot", "0"], 2);
    assert!(err.contains("no snapshot 0"), "{err}");
    let err = query_fails(&env, "ls", &dest, &["nothing/here*"], 2);
    assert!(
        err.contains("no path of snapshot 1 matches nothing/here*"),
        "{err}"
    );
    let err = query_fails(&env, "where", &dest, &["photos", "nothing"], 0);
    assert!(
        err.contains("\"nothing\" matches no path of snapshot 1"),
        "{err}"
    );
    let err = query_fails(&env, "ls", &env.src(), &[], 2);
    assert!(err.contains("holds no butcher catalogue"), "{err}");
    let err = query_fails(&env, "where", &dest, &[], 2);
    assert!(err.contains("GLOB"), "{err}");
}
