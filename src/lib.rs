//! butcher: turn a directory tree into chunked, compressed, encrypted archives laid out as
//! disc directories, and get it back.
//!
//! The pipeline, one module per stage; stages talk through the catalogue and the files on disk:
//!
//! 1. [`ingest`] walks the source tree, hashes every regular file (sha256) and records a
//!    snapshot in the [`catalogue`].
//! 2. [`pack`] gathers content that no archive holds yet into tar archives, compresses and
//!    encrypts them ([`crypt`]), splitting large files into pieces.
//! 3. [`disc`] places archives into `disc-NNNN` directories no larger than a disc and closes each
//!    disc with a catalogue copy, `SHA256SUMS` and a README.
//! 4. [`restore`] reads the catalogue copy of a disc, decrypts and unpacks archives and puts the
//!    tree of a snapshot back, checking every file's sha256.
//!
//! 5. [`verify`] checks discs: checksums and recorded sizes without the passphrase, every
//!    content's sha256 with it.
//!
//! The library never prints: it reports through [`progress::Progress`].

pub mod backup;
pub mod catalogue;
pub mod crypt;
pub mod diff;
pub mod disc;
pub mod error;
pub mod fsutil;
pub mod ingest;
pub mod pack;
pub mod progress;
pub mod restore;
pub mod verify;

#[cfg(test)]
mod testdata;

pub use crate::backup::{backup, BackupOptions, BackupSummary};
pub use crate::catalogue::FORMAT_VERSION;
pub use crate::crypt::Passphrase;
pub use crate::disc::DiscSize;
pub use crate::error::{Error, Result};
pub use crate::pack::Compression;
pub use crate::progress::{NoProgress, Progress, Stage};
pub use crate::restore::{restore, RestoreOptions, RestoreSummary};
