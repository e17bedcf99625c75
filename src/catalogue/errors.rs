//! SQLite errors in words a user can act on: the catalogue ships on every disc, and a damaged
//! copy must be described by what is wrong in it, not by rusqlite's text.

use crate::error::Error;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Catalogue(describe(&e))
    }
}

/// An SQLite error in words a user can act on.
pub(super) fn describe(e: &rusqlite::Error) -> String {
    use rusqlite::{Error as E, ErrorCode};
    match e {
        E::FromSqlConversionFailure(_, _, inner) => inner.to_string(),
        E::IntegralValueOutOfRange(i, v) => format!("integer {v} out of range in column {i}"),
        E::InvalidColumnType(_, name, ty) => format!("a value of type {ty} in column {name}"),
        E::QueryReturnedNoRows => "a row it needs is missing".to_string(),
        E::SqliteFailure(err, msg) => match err.code {
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                "it is not a sound SQLite database".to_string()
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                "another process is using it".to_string()
            }
            ErrorCode::DiskFull => "the disk is full".to_string(),
            ErrorCode::CannotOpen => "the file cannot be opened".to_string(),
            ErrorCode::ReadOnly => "the file is read-only".to_string(),
            _ => format!(
                "SQLite reports: {}",
                msg.clone().unwrap_or_else(|| err.to_string())
            ),
        },
        other => format!("SQLite reports: {other}"),
    }
}
