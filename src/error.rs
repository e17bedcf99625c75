//! The library's error type: every variant carries what the user needs to act on it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a butcher operation.
#[derive(Debug)]
pub enum Error {
    /// An I/O operation on a path failed.
    Io {
        /// What was being done, e.g. "read", "create".
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The catalogue could not be read or written; the text says what in words.
    Catalogue(String),
    /// A catalogue (a copy on a disc, or the working one) holds something that cannot be read.
    CatalogueDamaged {
        /// Which catalogue: "catalogue copy on disc 0003 (PATH)".
        what: String,
        /// What is wrong: "integer -1 out of range in entries.mode".
        detail: String,
        /// What to do about it.
        hint: String,
    },
    /// Neither the passphrase nor a secret key given decrypts the file; the text says what the
    /// file is encrypted to and what was given (empty when a passphrase alone was wrong).
    WrongKey(PathBuf, String),
    /// The passphrase or keys given do not open the backup set (as its first run recorded);
    /// the text says what it expects (empty when a passphrase alone was wrong).
    NotTheSetsKey(String),
    /// Encryption or decryption failed for a reason other than the passphrase.
    Crypto(String),
    /// The user asked for something that cannot be done; the message says why and what to do.
    Usage(String),
    /// Data on disc does not match what the catalogue promises.
    Damaged(String),
}

impl Error {
    /// Wraps an I/O error with the operation and path.
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The error for a path the user named that does not exist (or lies below a file): a
    /// usage error (exit 2), one line that says so and `hint`, what to give instead. Any
    /// other I/O error (permission denied, a failing disk) stays an I/O error.
    pub fn named(op: &'static str, path: &Path, source: std::io::Error, hint: &str) -> Self {
        use std::io::ErrorKind::{NotADirectory, NotFound};
        if !matches!(source.kind(), NotFound | NotADirectory) {
            return Error::io(op, path, source);
        }
        Error::Usage(format!("cannot {op} {}: {source}; {hint}", path.display()))
    }

    /// True when the error means the disc ran out of space.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } if source.raw_os_error() == Some(28) => write!(
                f,
                "cannot {op} {}: the disk is full; free some space (burn and move finished \
                 disc directories away) and run again: the backup resumes where it stopped",
                path.display()
            ),
            Error::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Error::Catalogue(m) => write!(f, "catalogue: {m}"),
            Error::CatalogueDamaged { what, detail, hint } => {
                write!(f, "{what} is damaged ({detail}); {hint}")
            }
            Error::WrongKey(p, why) if why.is_empty() => write!(
                f,
                "wrong passphrase: it does not decrypt {} (check the passphrase and try again)",
                p.display()
            ),
            Error::WrongKey(p, why) => write!(
                f,
                "the passphrase or keys given do not open {}: {why}",
                p.display()
            ),
            Error::NotTheSetsKey(why) if why.is_empty() => write!(
                f,
                "wrong passphrase: it is not the passphrase of this backup set (check the \
                 passphrase and try again)"
            ),
            Error::NotTheSetsKey(why) => write!(
                f,
                "the passphrase or keys given do not open this backup set: {why}"
            ),
            Error::Crypto(m) => write!(f, "{m}"),
            Error::Usage(m) => write!(f, "{m}"),
            Error::Damaged(m) => write!(f, "damaged: {m}"),
        }
    }
}

/// No variant gives a `source`: an I/O error's text is part of the message already (the
/// library's errors are shown alone, e.g. as a warning line), and a chain that showed it again
/// would print the OS error twice.
impl std::error::Error for Error {}

/// Adds an operation and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
