//! PAR2 2.0 recovery files, as butcher writes them on every disc: creation, checking and
//! repair of a directory's files, readable by par2cmdline.
//!
//! The recovery slices are Reed-Solomon codes over GF(2^16) exactly as the PAR2 2.0
//! specification defines them, so that `par2 verify` and `par2 repair` work on what this
//! crate writes, and this crate repairs with what par2cmdline would use.

pub mod check;
pub mod create;
pub mod gf;
pub mod io;
pub mod kernel;
pub mod md5one;
pub mod md5x;
pub mod packet;
pub mod repair;
pub mod rule;
pub mod set;

pub use check::{check, FileState, Report};
pub use create::{create, CreateOptions, FileSummary};
pub use repair::{rebuild, RepairError};
pub use set::{load, LoadError, RecoverySet};
