//! Where the passphrase comes from: `--passphrase`, `--passphrase-file`, `BUTCHER_PASSPHRASE`,
//! or a prompt without echo on a terminal.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use butcher::Passphrase;

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

/// Resolves the passphrase: flag, file, environment, then prompt on a terminal.
pub fn resolve(args: &PassArgs, ask: Ask) -> Result<Passphrase> {
    if let Some(p) = resolve_given(args)? {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "no passphrase: give --passphrase-file FILE, set BUTCHER_PASSPHRASE, \
             run on a terminal to be asked, or use --no-encryption for a backup"
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
