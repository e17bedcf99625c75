//! Deep verification: decrypt, decompress and unpack every archive at hand and check every
//! content's sha256, pieces of split contents joined in order. Nothing is written anywhere.

use std::collections::HashMap;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::{files_by_archive, VerifyReport};
use crate::archive::{read_members, Member};
use crate::catalogue::{Archive, Catalogue};
use crate::error::Result;
use crate::fsutil::hex;
use crate::keys::Keys;
use crate::progress::{Progress, Stage};
use crate::source::DiscDir;

/// What a member of an archive should be.
#[derive(Clone)]
struct Expect {
    sha256: String,
    piece: u32,
    pieces: u32,
}

/// Member name -> what it should hold, for one archive.
type ArchiveMembers = HashMap<Vec<u8>, Expect>;

/// Running hash of a split content: the next piece expected and the state so far.
struct Running {
    next: u32,
    hasher: Sha256,
}

pub(super) fn check(
    cat: &Catalogue,
    dirs: &[DiscDir],
    passphrase: Option<&Keys>,
    report: &mut VerifyReport,
    progress: &dyn Progress,
) -> Result<()> {
    let members = expected_members(cat)?;
    let files = files_by_archive(cat)?;
    let mut running: HashMap<String, Running> = HashMap::new();
    let archives = cat.archives_lenient()?.0;
    progress.start(Stage::Check, archives.iter().map(|a| a.size).sum(), 0);
    for a in &archives {
        let Some(i) = dirs.iter().position(|d| d.number == Some(a.disc)) else {
            continue;
        };
        if !crate::layout::is_archive_name(&a.name) {
            continue; // reported by the shallow check, never opened
        }
        let path = dirs[i].path.join(&a.name);
        let want = members.get(&a.id.0).cloned().unwrap_or_default();
        let outcome = check_archive(&path, a, passphrase, &want, &mut running, progress);
        if let Err(problem) = outcome {
            let who = files.get(&a.id.0).map(Vec::as_slice).unwrap_or_default();
            report.discs[i].archive_problem(&a.name, problem, who);
        }
    }
    progress.finish();
    Ok(())
}

/// Archive id -> member name -> what it should hold.
fn expected_members(cat: &Catalogue) -> Result<HashMap<i64, ArchiveMembers>> {
    let mut out: HashMap<i64, ArchiveMembers> = HashMap::new();
    for sha in cat.stored_contents()? {
        let pieces = cat.pieces(&sha)?;
        let n = pieces.len() as u32;
        for p in pieces {
            let e = Expect {
                sha256: sha.clone(),
                piece: p.piece,
                pieces: n,
            };
            out.entry(p.archive.0).or_default().insert(p.member, e);
        }
    }
    Ok(out)
}

fn check_archive(
    path: &std::path::Path,
    a: &Archive,
    passphrase: Option<&Keys>,
    want: &ArchiveMembers,
    running: &mut HashMap<String, Running>,
    progress: &dyn Progress,
) -> std::result::Result<(), String> {
    let mut seen = 0usize;
    let mut bad = Vec::new();
    let mut visit = |m: Member<'_>| -> io::Result<()> {
        let Some(e) = want.get(m.name) else {
            return Ok(());
        };
        seen += 1;
        if !member_ok(m.data, e, running, progress)? {
            bad.push(String::from_utf8_lossy(m.name).into_owned());
        }
        Ok(())
    };
    let outcome = read_members(path, a, passphrase, &mut visit).map_err(|e| e.to_string())?;
    if let Some(e) = outcome.error {
        return Err(e.to_string());
    }
    if seen < want.len() {
        return Err(format!(
            "{} of {} members missing",
            want.len() - seen,
            want.len()
        ));
    }
    if !bad.is_empty() {
        return Err(format!(
            "content does not match its sha256: {}",
            bad.join(", ")
        ));
    }
    Ok(())
}

/// Hashes a member; whole contents are checked at once, split ones when the last piece is in.
fn member_ok(
    r: &mut dyn Read,
    e: &Expect,
    running: &mut HashMap<String, Running>,
    progress: &dyn Progress,
) -> io::Result<bool> {
    let mut state = if e.piece == 1 {
        Running {
            next: 1,
            hasher: Sha256::new(),
        }
    } else {
        match running.remove(&e.sha256) {
            Some(s) if s.next == e.piece => s,
            // An earlier piece was not seen: this content cannot be checked here.
            _ => return io::copy(r, &mut io::sink()).map(|_| true),
        }
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        state.hasher.update(&buf[..k]);
        progress.advance(k as u64, 0);
    }
    if e.piece < e.pieces {
        state.next += 1;
        running.insert(e.sha256.clone(), state);
        return Ok(true);
    }
    Ok(hex(&state.hasher.finalize()) == e.sha256)
}
