//! Hostile input on restore: archives and a catalogue crafted to write outside TARGET (`../x`,
//! absolute names, a symlink then a file through it). Restore refuses them or restores only
//! safe paths; nothing outside TARGET ever changes.
//!
//! The crafting takes a real small backup, adds an archive made with the `tar` crate and
//! encrypted with gpg, and rows in the catalogue copy (decrypted with gpg, edited, encrypted
//! again) that name its members.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::common::tree::make_small_tree;
use crate::common::{
    add_entry, disc_dirs, require_tool, run, sha256_file, sha256_hex, sha_blob, stderr, walk,
    TestEnv,
};
use crate::util::{backup, by_hand_tools_present, pass_file, PASS};

use super::{
    edit_catalogue_copy, gpg_encrypt, hide_working_catalogue, listing, restore, rewrite_sums,
};

/// One member of a crafted tar.
enum Member<'a> {
    File(&'a [u8], &'a [u8]),
    Symlink(&'a [u8], &'a [u8]),
}

/// A GNU tar stream with the names written as given: the `tar` crate's own checks, which
/// refuse `..` and absolute names, are what a hostile archive does not go through.
fn tar_bytes(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        let (name, data): (&[u8], &[u8]) = match m {
            Member::File(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                (name, data)
            }
            Member::Symlink(name, to) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.as_old_mut().linkname[..to.len()].copy_from_slice(to);
                (name, b"")
            }
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// What the crafted catalogue says about one path of snapshot 1.
enum Row<'a> {
    /// A file whose content is `data`, stored whole as tar member `member`.
    File {
        path: &'a [u8],
        member: &'a [u8],
        data: &'a [u8],
    },
    Symlink {
        path: &'a [u8],
        target: &'a [u8],
    },
}

/// A small backup in `env.dest()` to which a crafted archive holding `members` and the
/// catalogue rows `rows` are added (on disc 1, in snapshot 1).
fn crafted_backup(env: &TestEnv, members: &[Member], rows: &[Row]) {
    make_small_tree(&env.src());
    backup(env, &[]);
    let pass = pass_file(env);
    let disc = disc_dirs(&env.dest())[0].clone();
    let plain = env.path("crafted.tar");
    fs::write(&plain, tar_bytes(members)).unwrap();
    let conn = rusqlite::Connection::open(env.dest().join("catalogue.db")).unwrap();
    let id: i64 = conn
        .query_row("SELECT MAX(id) + 1 FROM archives", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let name = format!("a{id:06}.tar.gpg");
    let file = disc.join(&name);
    gpg_encrypt(env, &pass, &plain, &file);
    let (size, sum) = (
        fs::metadata(&file).unwrap().len() as i64,
        sha256_file(&file),
    );
    edit_catalogue_copy(env, &pass, &disc, |db| {
        db.execute(
            "INSERT INTO archives (id, name, disc, snapshot_id, compression, encrypted, size,
                                   sha256, created_ns)
             VALUES (?1, ?2, 1, 1, 'none', 1, ?3, ?4, 0)",
            rusqlite::params![id, name, size, sum],
        )
        .unwrap();
        for row in rows {
            add_row(db, id, row);
        }
    });
    rewrite_sums(&disc);
    // The crafted copy, not DEST's working catalogue, is what restore must read.
    hide_working_catalogue(&env.dest());
}

fn add_row(db: &rusqlite::Connection, archive: i64, row: &Row) {
    match row {
        Row::File { path, member, data } => {
            let sha = sha256_hex(data);
            let len = data.len() as i64;
            add_entry(db, 1, path, "file", len, 0o644, Some(&sha), None);
            db.execute(
                "INSERT OR IGNORE INTO contents (sha256, size, pieces) VALUES (?1, ?2, 1)",
                rusqlite::params![sha_blob(&sha), len],
            )
            .unwrap();
            db.execute(
                "INSERT OR IGNORE INTO pieces (sha256, piece, archive_id, member, offset, length)
                 VALUES (?1, 1, ?2, ?3, 0, ?4)",
                rusqlite::params![sha_blob(&sha), archive, member, len],
            )
            .unwrap();
        }
        Row::Symlink { path, target } => {
            add_entry(db, 1, path, "symlink", 0, 0o777, None, Some(target));
        }
    }
}

/// The ground around a restore: `case/outside/sentinel`, and `case/target` to restore into.
struct Ground {
    case: PathBuf,
    outside: PathBuf,
    target: PathBuf,
}

impl Ground {
    fn new(env: &TestEnv) -> Self {
        let case = env.path("case");
        let outside = case.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("sentinel"), b"must stay alone\n").unwrap();
        Ground {
            target: case.join("target"),
            case,
            outside,
        }
    }

    fn outside_bytes(&self) -> Vec<u8> {
        self.outside.as_os_str().as_bytes().to_vec()
    }

    /// Everything around TARGET (in `case/`, TARGET left out), path and sha256 of content.
    fn around(&self) -> Vec<String> {
        listing(&self.case, &[Path::new("target")])
            .into_iter()
            .map(|(p, content)| format!("{} {}", p.display(), sha256_hex(&content)))
            .collect()
    }
}

/// Asserts a restore of a crafted set is refused (a non-zero exit whose message names
/// `offending`) or restores only paths of the real source; and that nothing around TARGET
/// changed.
fn assert_contained(env: &TestEnv, ground: &Ground, offending: &str) {
    let before = ground.around();
    let out = restore(env, &env.dest(), &ground.target, &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "a crafted set restored:\n{err}");
    assert!(
        err.contains(offending),
        "the message does not name {offending}:\n{err}"
    );
    assert_eq!(ground.around(), before, "something outside TARGET changed");
    assert_eq!(fs::read_dir(&ground.outside).unwrap().count(), 1);
    if ground.target.exists() {
        for rel in walk(&ground.target) {
            assert!(
                fs::symlink_metadata(env.src().join(&rel)).is_ok(),
                "restored {rel:?}, which is not a path of the source"
            );
        }
    }
}

fn tools() -> bool {
    require_tool("gpg")
}

#[test]
fn a_catalogue_path_with_dotdot_is_refused() {
    if !tools() {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let ground = Ground::new(&env);
    crafted_backup(
        &env,
        &[Member::File(b"../x", b"escaped\n")],
        &[Row::File {
            path: b"../x",
            member: b"../x",
            data: b"escaped\n",
        }],
    );
    assert_contained(&env, &ground, "\"../x\"");
    assert!(!ground.case.join("x").exists());
}

#[test]
fn an_absolute_catalogue_path_is_refused() {
    if !tools() {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let ground = Ground::new(&env);
    let mut abs = ground.outside_bytes();
    abs.extend_from_slice(b"/abs-x");
    crafted_backup(
        &env,
        &[Member::File(&abs, b"escaped\n")],
        &[Row::File {
            path: &abs,
            member: &abs,
            data: b"escaped\n",
        }],
    );
    assert_contained(&env, &ground, &String::from_utf8_lossy(&abs));
}

#[test]
fn a_file_through_a_symlink_of_the_snapshot_is_refused() {
    if !tools() {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let ground = Ground::new(&env);
    let outside = ground.outside_bytes();
    crafted_backup(
        &env,
        &[
            Member::Symlink(b"l", &outside),
            Member::File(b"l/x", b"escaped\n"),
        ],
        &[
            Row::Symlink {
                path: b"l",
                target: &outside,
            },
            Row::File {
                path: b"l/x",
                member: b"l/x",
                data: b"escaped\n",
            },
        ],
    );
    assert_contained(&env, &ground, "\"l/x\"");
}

/// Member names are never paths: hostile members under harmless catalogue paths land under
/// those paths, and a symlink member is not followed.
#[test]
fn hostile_member_names_land_under_their_catalogue_paths() {
    if !tools() {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let ground = Ground::new(&env);
    let outside = ground.outside_bytes();
    let mut abs = outside.clone();
    abs.extend_from_slice(b"/abs-x");
    crafted_backup(
        &env,
        &[
            Member::Symlink(b"l", &outside),
            Member::File(b"l/x", b"through the link\n"),
            Member::File(b"../x", b"from dotdot\n"),
            Member::File(&abs, b"from an absolute name\n"),
        ],
        &[
            Row::File {
                path: b"l/x",
                member: b"l/x",
                data: b"through the link\n",
            },
            Row::File {
                path: b"from-dotdot.txt",
                member: b"../x",
                data: b"from dotdot\n",
            },
            Row::File {
                path: b"from-abs.txt",
                member: &abs,
                data: b"from an absolute name\n",
            },
        ],
    );
    let before = ground.around();
    let out = restore(&env, &env.dest(), &ground.target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ground.around(), before, "something outside TARGET changed");
    let t = &ground.target;
    assert!(fs::symlink_metadata(t.join("l")).unwrap().is_dir());
    assert_eq!(fs::read(t.join("l/x")).unwrap(), b"through the link\n");
    assert_eq!(
        fs::read(t.join("from-dotdot.txt")).unwrap(),
        b"from dotdot\n"
    );
    assert_eq!(
        fs::read(t.join("from-abs.txt")).unwrap(),
        b"from an absolute name\n"
    );
    assert!(!ground.case.join("x").exists());
}

/// The by-hand script reads paths from the catalogue too; with a catalogue path `../x` whose
/// member is an ordinary name, it must not write outside TARGET either.
#[test]
fn the_by_hand_script_keeps_a_dotdot_catalogue_path_inside_target() {
    if !by_hand_tools_present() {
        return;
    }
    let env = TestEnv::new().with_passphrase(PASS);
    let ground = Ground::new(&env);
    crafted_backup(
        &env,
        &[Member::File(b"x", b"escaped\n")],
        &[Row::File {
            path: b"../x",
            member: b"x",
            data: b"escaped\n",
        }],
    );
    let before = ground.around();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/restore-by-hand.sh");
    let out = run(env
        .cmd("bash")
        .arg(script)
        .arg(env.dest())
        .arg(&ground.target)
        .env("PASSFILE", pass_file(&env)));
    assert_eq!(
        ground.around(),
        before,
        "the by-hand script ({:?}) wrote outside TARGET:\n{}",
        out.status,
        stderr(&out)
    );
}
