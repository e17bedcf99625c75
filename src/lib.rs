//! butcher: turn a directory tree into chunked, compressed, encrypted archives laid out as
//! disc directories, and get it back.
//!
//! The pipeline, one module per stage; stages talk through the catalogue and the files on disk:
//!
//! 1. `ingest` walks the source tree, hashes every regular file (sha256) and records a
//!    snapshot in the `catalogue`.
//! 2. `pack` gathers content that no archive holds yet into tar archives, compresses and
//!    encrypts them (`crypt`), splitting large files into pieces.
//! 3. `disc` places archives into `disc-NNNN` directories no larger than a disc and closes each
//!    disc with a catalogue copy, `SHA256SUMS` and a README.
//! 4. [`restore()`] reads the catalogue copy of a disc, decrypts and unpacks archives and puts
//!    the tree of a snapshot back, checking every file's sha256.
//! 5. [`verify()`] checks discs: checksums and recorded sizes without the passphrase, every
//!    content's sha256 with it.
//!
//! Beside the stages: `layout` forms every name and number of the on-disc layout, `archive`
//! reads an archive file for restore and verify alike, `source` finds discs and opens a
//! catalogue copy for restore, verify and the query commands, `dest` keeps DEST's lifecycle
//! (lock, leftovers of a killed run), `encryption` the set's passphrase policy, and
//! [`CatalogueView`] answers the read-only queries (`snapshots`, `ls`, `diff`, `where`).
//!
//! The stage modules are private: a program uses the operations and types re-exported here.
//! The library never prints: it reports through [`Progress`].

mod archive;
mod backup;
mod catalogue;
mod crypt;
mod dest;
mod diff;
mod direct;
mod disc;
mod encryption;
mod error;
pub mod fsmeta;
mod fsutil;
mod ingest;
mod keys;
mod layout;
mod pack;
mod places;
mod progress;
mod query;
mod rebuild;
mod recovery;
mod restore;
mod select;
mod source;
mod status;
mod sums;
mod verify;

#[cfg(test)]
mod testdata;

pub use crate::backup::{
    backup, close, BackupOptions, BackupSummary, CloseOptions, CloseSummary, GroupStatus,
};
pub use crate::catalogue::{Entry, Kind, Snapshot, SnapshotId, FORMAT_VERSION};
pub use crate::crypt::Passphrase;
pub use crate::diff::{Change, Diff, DiffSummary, Item, Tally, What};
pub use crate::disc::size::{ByteSize, DiscSize};
pub use crate::disc::Parity;
pub use crate::error::{Error, Result};
pub use crate::ingest::{IngestOptions, IngestSummary};
pub use crate::keys::{load_identity, load_recipients, Keys, SecretKey};
pub use crate::layout::{
    disc_dir_name, disc_range, MIN_ARCHIVE_BYTES, MIN_DISC_BYTES, WORKING_CATALOGUE,
};
pub use crate::pack::{Compression, PackOptions, PackSummary};
pub use crate::progress::{NoProgress, Progress, Stage};
pub use crate::query::{CatalogueView, DiscUse, Place, SnapshotRow, WhereAnswer};
pub use crate::rebuild::{rebuild_disc, RebuildDiscOptions, RebuildDiscSummary};
pub use crate::recovery::{repair_disc, RecoveryState, RepairSummary};
pub use crate::restore::{restore, DiscPrompt, NoPrompt, RestoreOptions, RestoreSummary, WhyLast};
pub use crate::source::{discs_encrypted, CatalogueOrigin};
pub use crate::status::{
    record_read_back, status, DiscStatus, Group, SnapshotStatus, StatusReport,
};
pub use crate::verify::{
    verify, ArchiveProblem, DiscReport, FileProblem, VerifyOptions, VerifyReport,
};

/// Refuses a DEST that holds no backup (it does not exist, or has no working catalogue), with
/// what to give instead: for a command that needs one, before it asks for a passphrase.
pub fn require_backup(dest: &std::path::Path, catalogue: Option<&std::path::Path>) -> Result<()> {
    dest::require_backup(dest, catalogue).map(|_| ())
}

/// Where the working catalogue of DEST is: `catalogue` when given (`backup --catalogue`), else
/// `DEST/catalogue.db`.
pub fn working_catalogue(
    dest: &std::path::Path,
    catalogue: Option<&std::path::Path>,
) -> std::path::PathBuf {
    dest::catalogue_path(dest, catalogue)
}
