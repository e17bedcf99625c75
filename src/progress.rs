//! How the library reports progress and per-file problems without printing.

/// A long-running stage of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Walking the source tree and hashing files.
    Hash,
    /// Writing archives.
    Pack,
    /// Reading archives back into a target tree.
    Restore,
    /// Re-reading restored or stored data to check it.
    Check,
}

impl Stage {
    /// A short lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Hash => "hashing",
            Stage::Pack => "packing",
            Stage::Restore => "restoring",
            Stage::Check => "checking",
        }
    }
}

/// Receives progress and warnings. Implementations must be cheap: `advance` is called per block.
pub trait Progress: Sync {
    /// A stage begins; totals are 0 when unknown.
    fn start(&self, _stage: Stage, _total_bytes: u64, _total_items: u64) {}
    /// Bytes and items done since the last call.
    fn advance(&self, _bytes: u64, _items: u64) {}
    /// The current stage is over.
    fn finish(&self) {}
    /// A per-file problem that did not stop the run.
    fn warn(&self, _message: &str) {}
    /// A line of information worth showing (e.g. "disc-0002 closed").
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
