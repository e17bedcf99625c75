//! Metadata from format 6 on: hard links, owners (ids and names), extended attributes and
//! POSIX ACLs, symlink mtimes, the source root's own mode, mtime and owner, mtimes before 1970
//! with nanoseconds, and sparse files, given back by butcher and (all but sparseness) by hand.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use butcher::fsmeta;

use crate::common::{disc_dirs, is_root, require_tool, run, run_ok, stderr, walk, TestEnv};
use crate::safety::rewrite_sums;

const SPARSE_LEN: u64 = 64 << 20;

/// EOPNOTSUPP on Linux, which ENOTSUP equals.
fn libc_enotsup() -> i32 {
    95
}

fn set_times(path: &Path, ns: i64) {
    fsmeta::set_mtime_nofollow(path, ns).unwrap();
}

/// The tree: three paths of one inode across directories, paths owned by other ids, a user
/// xattr and a POSIX ACL, a symlink with its own mtime, a file from before 1970, a sparse
/// 64 MiB file with 1 MiB of data, and a root of mode 0750 with an old mtime.
fn make_tree(src: &Path) {
    for d in ["a", "b", "owned/deep"] {
        fs::create_dir_all(src.join(d)).unwrap();
    }
    fs::write(src.join("a/one.txt"), "linked content\n").unwrap();
    fs::hard_link(src.join("a/one.txt"), src.join("b/two.txt")).unwrap();
    fs::hard_link(src.join("a/one.txt"), src.join("a/three.txt")).unwrap();
    fs::write(src.join("c.txt"), "with attributes\n").unwrap();
    fs::write(src.join("owned/deep/f"), "owned by others\n").unwrap();
    fs::write(src.join("old.txt"), "from 1969\n").unwrap();
    // A file system without extended attributes (some test machines' temporary folders) can
    // still check everything else; it says so.
    let xattrs = match fsmeta::write_xattrs(
        &src.join("c.txt"),
        &[(b"user.note".to_vec(), b"hello \x00 bytes".to_vec())],
    ) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc_enotsup()) => {
            // Where every tool is required, so is a file system that can hold what is tested.
            assert!(
                std::env::var_os("BUTCHER_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "the temporary file system has no user extended attributes: {e}"
            );
            eprintln!("the temporary file system has no user extended attributes: {e}");
            false
        }
        Err(e) => panic!("setting a user xattr: {e}"),
    };
    if xattrs && require_tool("setfacl") {
        run_ok(
            std::process::Command::new("setfacl")
                .args(["-m", "u:1234:r,g:2345:rw"])
                .arg(src.join("c.txt")),
        );
    }
    let img = fs::File::create(src.join("disk.img")).unwrap();
    img.set_len(SPARSE_LEN).unwrap();
    {
        use std::os::unix::fs::FileExt;
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 | 1).collect();
        img.write_all_at(&data, 10 << 20).unwrap();
    }
    drop(img);
    std::os::unix::fs::symlink("c.txt", src.join("link")).unwrap();
    if is_root() {
        fsmeta::lchown(&src.join("owned"), 1234, 2345).unwrap();
        fsmeta::lchown(&src.join("owned/deep/f"), 4321, 5432).unwrap();
        fsmeta::lchown(&src.join("link"), 1, 1).unwrap();
        // Set-user-id survives: owners are set before modes.
        fsmeta::lchown(&src.join("c.txt"), 1, 1).unwrap();
        fs::set_permissions(src.join("c.txt"), fs::Permissions::from_mode(0o4750)).unwrap();
    }
    set_times(&src.join("old.txt"), -86_400_123_456_789);
    set_times(&src.join("link"), 1_111_111_111_222_333_444);
    set_times(&src.join("owned/deep"), 1_200_000_000_000_000_007);
    fs::set_permissions(src, fs::Permissions::from_mode(0o750)).unwrap();
    set_times(src, 1_000_000_000_500_000_000);
}

#[derive(Debug, PartialEq)]
struct Meta {
    kind: u32,
    mode: u32,
    mtime: (i64, i64),
    owner: Option<(u32, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    content: Option<Vec<u8>>,
}

/// What the comparison covers of one path; `xattrs`: compare extended attributes.
fn meta(p: &Path, owners: bool, xattrs: bool) -> Meta {
    let md = fs::symlink_metadata(p).unwrap();
    Meta {
        kind: md.mode() & 0o170000,
        mode: if md.file_type().is_symlink() {
            0
        } else {
            md.mode() & 0o7777
        },
        mtime: (md.mtime(), md.mtime_nsec()),
        owner: owners.then(|| (md.uid(), md.gid())),
        xattrs: if xattrs {
            fsmeta::read_xattrs(p).unwrap()
        } else {
            Vec::new()
        },
        content: md.file_type().is_file().then(|| fs::read(p).unwrap()),
    }
}

/// `target` has what `src` has: every path's kind, mode, mtime, content, owner (as root),
/// extended attributes (when `xattrs`), the hard-link groups, and the root's own mode and
/// mtime (and owner).
fn assert_same(src: &Path, target: &Path, xattrs: bool) {
    let owners = is_root();
    assert_eq!(
        meta(target, owners, false),
        meta(src, owners, false),
        "the root itself"
    );
    let want = walk(src);
    let got = walk(target);
    assert_eq!(got, want, "the same paths");
    let mut groups: HashMap<u64, Vec<&Path>> = HashMap::new();
    let mut got_groups: HashMap<u64, Vec<&Path>> = HashMap::new();
    for r in &want {
        assert_eq!(
            meta(&target.join(r), owners, xattrs),
            meta(&src.join(r), owners, xattrs),
            "{}",
            r.display()
        );
        let (s, t) = (
            fs::symlink_metadata(src.join(r)).unwrap(),
            fs::symlink_metadata(target.join(r)).unwrap(),
        );
        if s.is_file() {
            groups.entry(s.ino()).or_default().push(r);
            got_groups.entry(t.ino()).or_default().push(r);
        }
    }
    let mut a: Vec<_> = groups.into_values().collect();
    let mut b: Vec<_> = got_groups.into_values().collect();
    a.sort();
    b.sort();
    assert_eq!(b, a, "the same hard-link groups");
    assert!(
        a.iter().any(|g| g.len() == 3),
        "the tree has a group of three links"
    );
}

fn backup(env: &TestEnv) {
    env.butcher_ok([
        "backup".as_ref(),
        env.src().as_os_str(),
        env.dest().as_os_str(),
        "--no-encryption".as_ref(),
        "--archive-size=1M".as_ref(),
        "--disc-size=16M".as_ref(),
    ]);
}

/// Everything comes back with butcher; the sparse file comes back sparse; by hand, everything
/// but sparseness (extended attributes with setfattr).
#[test]
fn metadata_comes_back_with_butcher_and_by_hand() {
    let env = TestEnv::new();
    make_tree(&env.src());
    backup(&env);
    let out = env.butcher_ok([
        "restore".as_ref(),
        env.dest().as_os_str(),
        env.target().as_os_str(),
    ]);
    let err = stderr(&out);
    assert_same(&env.src(), &env.target(), true);
    let acl = fsmeta::read_xattrs(&env.target().join("c.txt")).unwrap();
    let src_attrs = fsmeta::read_xattrs(&env.src().join("c.txt")).unwrap();
    if src_attrs
        .iter()
        .any(|(n, _)| n == b"system.posix_acl_access")
    {
        assert!(
            acl.iter().any(|(n, _)| n == b"system.posix_acl_access"),
            "{acl:?}"
        );
    }
    let allocated = fsmeta::allocated_bytes(&env.target().join("disk.img")).unwrap();
    assert!(
        allocated < 8 << 20,
        "the 64 MiB sparse file with 1 MiB of data takes {allocated} bytes"
    );
    if !is_root() {
        assert!(err.contains("not running as root"), "{err}");
    }

    if !require_tool("sqlite3") || !require_tool("tar") || !require_tool("bzip2") {
        return;
    }
    let by_hand = env.path("by-hand");
    let setfattr = require_tool("setfattr");
    run_ok(
        env.cmd("bash")
            .arg(env!("CARGO_MANIFEST_DIR").to_string() + "/scripts/restore-by-hand.sh")
            .arg(env.dest())
            .arg(&by_hand),
    );
    assert_same(&env.src(), &by_hand, setfattr);
}

/// `--numeric-owner` gives the recorded ids even where the recorded name is known here by
/// another id; without it, the name wins. (As root; the catalogue copy names uid 4321 "root".)
#[test]
fn owners_go_by_name_unless_numeric_owner() {
    if !is_root() {
        eprintln!("not root: owners cannot be given back; nothing to check here");
        return;
    }
    let env = TestEnv::new();
    make_tree(&env.src());
    backup(&env);
    let disc = disc_dirs(&env.dest()).pop().unwrap();
    let db = rusqlite::Connection::open(disc.join("catalogue.db")).unwrap();
    db.execute_batch(
        "INSERT INTO users (uid, name) VALUES (4321, 'root')
         ON CONFLICT (uid) DO UPDATE SET name = 'root'",
    )
    .unwrap();
    drop(db);
    rewrite_sums(&disc);
    let by_name = env.path("by-name");
    let by_id = env.path("by-id");
    env.butcher_ok(["restore".as_ref(), disc.as_os_str(), by_name.as_os_str()]);
    env.butcher_ok([
        "restore".as_ref(),
        disc.as_os_str(),
        by_id.as_os_str(),
        "--numeric-owner".as_ref(),
    ]);
    let uid = |p: &Path| fs::symlink_metadata(p.join("owned/deep/f")).unwrap().uid();
    assert_eq!(uid(&by_name), 0, "the name 'root' is uid 0 here");
    assert_eq!(uid(&by_id), 4321);
}

/// An extended attribute that cannot be set (a namespace the file system refuses, as a file
/// system without extended attributes would) leaves the file restored, named, exit 3.
#[test]
fn an_attribute_that_cannot_be_set_is_listed_and_exit_3() {
    let env = TestEnv::new();
    make_tree(&env.src());
    backup(&env);
    let disc = disc_dirs(&env.dest()).pop().unwrap();
    let db = rusqlite::Connection::open(disc.join("catalogue.db")).unwrap();
    let n = db
        .execute(
            "INSERT INTO xattrs (version_id, name, value)
             SELECT version_id, CAST('bogus.attr' AS BLOB), X'01' FROM entries
             WHERE path = CAST('old.txt' AS BLOB)",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    db.execute(
        "UPDATE versions SET xattrs = xattrs + 1 WHERE id =
           (SELECT version_id FROM entries WHERE path = CAST('old.txt' AS BLOB))",
        [],
    )
    .unwrap();
    drop(db);
    rewrite_sums(&disc);
    let out = run(env
        .butcher_command()
        .arg("restore")
        .arg(&disc)
        .arg(env.target()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("restored without some metadata: old.txt: its extended attributes"),
        "{err}"
    );
    assert_eq!(
        fs::read(env.target().join("old.txt")).unwrap(),
        b"from 1969\n"
    );
}

/// Not as root: a restore gives every path to the user restoring it, says so once, and still
/// gives back modes, times and hard links (exit 0). As root, the test restores as uid 65534
/// (setpriv); otherwise as the user running it.
#[test]
fn not_as_root_owners_stay_the_restoring_users_and_it_says_so() {
    let env = TestEnv::new();
    make_tree(&env.src());
    backup(&env);
    let target = env.path("mine/out");
    let mut cmd;
    let me = if is_root() {
        if !require_tool("setpriv") {
            return;
        }
        // The test's directories, DEST and a parent for TARGET must be open to that user.
        fs::set_permissions(env.root(), fs::Permissions::from_mode(0o755)).unwrap();
        run_ok(env.cmd("chmod").args(["-R", "a+rX"]).arg(env.dest()));
        fs::create_dir(env.path("mine")).unwrap();
        fsmeta::lchown(&env.path("mine"), 65534, 65534).unwrap();
        cmd = env.cmd("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(TestEnv::butcher_exe());
        (65534, 65534)
    } else {
        fs::create_dir(env.path("mine")).unwrap();
        cmd = env.butcher_command();
        let md = fs::metadata(env.path("mine")).unwrap();
        (md.uid(), md.gid())
    };
    let out = run(cmd.arg("restore").arg(env.dest()).arg(&target));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("not running as root").count(), 1, "{err}");
    for rel in ["owned/deep/f", "c.txt", "a/one.txt", "owned"] {
        let md = fs::symlink_metadata(target.join(rel)).unwrap();
        assert_eq!((md.uid(), md.gid()), me, "{rel}");
    }
    let one = fs::metadata(target.join("a/one.txt")).unwrap();
    let two = fs::metadata(target.join("b/two.txt")).unwrap();
    assert_eq!(one.ino(), two.ino(), "hard links without root too");
    let src = fs::symlink_metadata(env.src().join("old.txt")).unwrap();
    let got = fs::symlink_metadata(target.join("old.txt")).unwrap();
    assert_eq!(
        (got.mtime(), got.mtime_nsec()),
        (src.mtime(), src.mtime_nsec())
    );
}
