//! Diff stage: compares two snapshots of the catalogue (filled in by the incremental work).
