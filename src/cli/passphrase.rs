//! Where the keys come from: the passphrase from `--passphrase`, `--passphrase-file`,
//! `BUTCHER_PASSPHRASE`, or a prompt without echo on a terminal; recipients from `--recipient`
//! or `BUTCHER_RECIPIENTS`; secret keys from `--identity`, unlocked with
//! `--identity-passphrase-file` or on a terminal.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use butcher::{Keys, Passphrase};

/// Recipients to encrypt to, for the commands that write archives or catalogue copies.
#[derive(Debug, clap::Args)]
pub struct RecipientArgs {
    /// Encrypt to this OpenPGP certificate (a file as `gpg --export` writes it, armored or
    /// binary; repeatable). With recipients only, no passphrase is needed or asked for; with
    /// a passphrase as well, either opens the backup.
    #[arg(long = "recipient", value_name = "CERT")]
    pub recipients: Vec<PathBuf>,
    /// Certificate files to encrypt to, separated by ':' (as --recipient).
    #[arg(
        long = "recipients-from-env",
        hide = true,
        env = "BUTCHER_RECIPIENTS",
        hide_env_values = true,
        value_name = "FILES"
    )]
    pub recipients_env: Option<String>,
    /// Encrypt to the recipients given from this run on, instead of the set's (recorded in
    /// the catalogue).
    #[arg(long)]
    pub change_recipients: bool,
}

impl RecipientArgs {
    /// The certificate files named, by option or else by environment.
    fn files(&self) -> Vec<PathBuf> {
        if !self.recipients.is_empty() {
            return self.recipients.clone();
        }
        self.recipients_env
            .as_deref()
            .unwrap_or("")
            .split(':')
            .filter(|s| !s.trim().is_empty())
            .map(PathBuf::from)
            .collect()
    }
}

/// Secret keys to decrypt with, for the commands that read encrypted archives or catalogue
/// copies.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// Decrypt with this secret key (a file as `gpg --export-secret-keys` writes it, armored
    /// or binary; repeatable) instead of, or beside, the passphrase.
    #[arg(long = "identity", value_name = "KEYFILE")]
    pub identities: Vec<PathBuf>,
    /// Read the passphrase of a protected secret key from the first line of this file
    /// (otherwise it is asked for on a terminal).
    #[arg(long, value_name = "FILE")]
    pub identity_passphrase_file: Option<PathBuf>,
}

/// The keys to read a backup with: the passphrase given, the secret keys given, or else the
/// passphrase asked for on a terminal.
pub fn resolve_reading(pass: &PassArgs, ids: &IdentityArgs) -> Result<Keys> {
    let identities = load_identities(ids)?;
    let passphrase = match resolve_given(pass)? {
        Some(p) => Some(p),
        None if identities.is_empty() => Some(ask_passphrase(Ask::Once, true)?),
        None => None,
    };
    Ok(Keys::new(passphrase, Vec::new(), identities))
}

/// The keys given to read a backup with, without asking; `None` when none was given.
pub fn given_reading(pass: &PassArgs, ids: &IdentityArgs) -> Result<Option<Keys>> {
    let identities = load_identities(ids)?;
    let passphrase = resolve_given(pass)?;
    if passphrase.is_none() && identities.is_empty() {
        return Ok(None);
    }
    Ok(Some(Keys::new(passphrase, Vec::new(), identities)))
}

/// The keys to write a backup with: the recipients and the passphrase given, or else the
/// passphrase asked for on a terminal.
pub fn resolve_writing(pass: &PassArgs, rec: &RecipientArgs, ask: Ask) -> Result<Keys> {
    let mut recipients = Vec::new();
    for f in rec.files() {
        recipients.extend(butcher::load_recipients(&f)?);
    }
    let passphrase = match resolve_given(pass)? {
        Some(p) => Some(p),
        None if recipients.is_empty() => Some(ask_passphrase(ask, false)?),
        None => None,
    };
    Ok(Keys::new(passphrase, recipients, Vec::new()))
}

fn load_identities(ids: &IdentityArgs) -> Result<Vec<butcher::SecretKey>> {
    let mut out = Vec::new();
    for f in &ids.identities {
        let mut ask = |fpr: &str| -> butcher::Result<String> {
            identity_password(ids, fpr).map_err(|e| butcher::Error::Usage(format!("{e:#}")))
        };
        out.extend(butcher::load_identity(f, &mut ask)?);
    }
    Ok(out)
}

/// The passphrase of the protected secret key `fpr`: from --identity-passphrase-file, or
/// asked for on a terminal.
fn identity_password(ids: &IdentityArgs, fpr: &str) -> Result<String> {
    if let Some(f) = &ids.identity_passphrase_file {
        return first_line(f);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "the secret key {fpr} is protected by a passphrase: give \
             --identity-passphrase-file FILE, or run on a terminal to be asked"
        );
    }
    rpassword::prompt_password(format!("Passphrase of the secret key {fpr}: "))
        .context("cannot read the passphrase of the secret key")
}

/// Passphrase options shared by every subcommand that reads or writes archives.
#[derive(Debug, clap::Args)]
pub struct PassArgs {
    /// The passphrase. Visible to other users in the process list: prefer --passphrase-file,
    /// the BUTCHER_PASSPHRASE environment variable, or being asked on a terminal.
    #[arg(long, value_name = "P", conflicts_with = "passphrase_file")]
    pub passphrase: Option<String>,
    /// Read the passphrase from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The passphrase from the environment variable BUTCHER_PASSPHRASE. --passphrase and
    /// --passphrase-file come first, so it has a flag of its own (hidden) rather than being
    /// --passphrase's default, which clap would report as a conflict with --passphrase-file.
    #[arg(
        long = "passphrase-from-env",
        hide = true,
        env = "BUTCHER_PASSPHRASE",
        hide_env_values = true,
        value_name = "P"
    )]
    pub passphrase_env: Option<String>,
}

/// How to ask when nothing else gives a passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Ask once.
    Once,
    /// Ask twice and compare (a new backup set).
    Twice,
}

/// The passphrase from the flag, the file or the environment, without asking.
pub fn resolve_given(args: &PassArgs) -> Result<Option<Passphrase>> {
    if let Some(p) = &args.passphrase {
        return Ok(Some(Passphrase::new(p.clone())?));
    }
    if let Some(f) = &args.passphrase_file {
        let line = first_line(f)?;
        return Passphrase::new(line)
            .map(Some)
            .with_context(|| format!("in {}", f.display()));
    }
    if let Some(p) = &args.passphrase_env {
        return Passphrase::new(p.clone())
            .map(Some)
            .context("BUTCHER_PASSPHRASE");
    }
    Ok(None)
}

/// The most a passphrase file's first line may hold.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The first line of a passphrase file, without its line end (`\n` or `\r\n`). Reads at most
/// 64 KiB, so a device such as /dev/zero named by mistake is refused instead of filling memory.
fn first_line(path: &Path) -> Result<String> {
    let cannot = || format!("cannot read the passphrase file {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let mut head = Vec::new();
    file.take(MAX_LINE_BYTES + 1)
        .read_to_end(&mut head)
        .with_context(cannot)?;
    let line = match head.iter().position(|&b| b == b'\n') {
        Some(end) => &head[..end],
        None if head.len() as u64 > MAX_LINE_BYTES => bail!(
            "the first line of the passphrase file {} is longer than 64 KiB",
            path.display()
        ),
        None => &head[..],
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec())
        .map_err(|_| anyhow::anyhow!("the passphrase file {} is not UTF-8 text", path.display()))
}

/// Asks for the passphrase on a terminal (or says what to give instead).
fn ask_passphrase(ask: Ask, reading: bool) -> Result<Passphrase> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        if reading {
            bail!(
                "no passphrase or key: give --passphrase-file FILE, set BUTCHER_PASSPHRASE, \
                 give the secret key with --identity KEYFILE, or run on a terminal to be asked"
            );
        }
        bail!(
            "no passphrase: give --passphrase-file FILE, set BUTCHER_PASSPHRASE, \
             give recipients with --recipient CERT, run on a terminal to be asked, or use \
             --no-encryption for a backup"
        );
    }
    let first = rpassword::prompt_password("Passphrase: ").context("cannot read the passphrase")?;
    if ask == Ask::Twice {
        let again = rpassword::prompt_password("Passphrase again: ")
            .context("cannot read the passphrase")?;
        if again != first {
            bail!("the two passphrases differ; nothing was written");
        }
    }
    Ok(Passphrase::new(first)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_read_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pass");
        std::fs::write(&f, "secret\r\nsecond line\n").unwrap();
        assert_eq!(first_line(&f).unwrap(), "secret");
        std::fs::write(&f, "no line end").unwrap();
        assert_eq!(first_line(&f).unwrap(), "no line end");
        // /dev/zero has no line end: refused after 64 KiB, not read until memory runs out.
        let err = first_line(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("longer than 64 KiB"), "{err}");
    }
}
