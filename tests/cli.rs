//! Integration tests: the real binary in a fresh temporary directory, on generated trees.

mod common;

#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/bench_smoke.rs"]
mod bench_smoke;
#[path = "cli/burn.rs"]
mod burn;
#[path = "cli/by_hand.rs"]
mod by_hand;
#[path = "cli/compat.rs"]
mod compat;
#[path = "cli/completions.rs"]
mod completions;
#[path = "cli/errors.rs"]
mod errors;
#[path = "cli/everyday.rs"]
mod everyday;
#[path = "cli/findings.rs"]
mod findings;
#[path = "cli/golden.rs"]
mod golden;
#[path = "cli/growth.rs"]
mod growth;
#[path = "cli/hostile_recovery.rs"]
mod hostile_recovery;
#[path = "cli/incremental.rs"]
mod incremental;
#[path = "cli/json_output.rs"]
mod json_output;
#[path = "cli/metadata.rs"]
mod metadata;
#[path = "cli/one_drive.rs"]
mod one_drive;
#[path = "cli/openpgp.rs"]
mod openpgp;
#[path = "cli/parity.rs"]
mod parity;
#[path = "cli/query.rs"]
mod query;
#[path = "cli/recipients.rs"]
mod recipients;
#[path = "cli/recovery.rs"]
mod recovery;
#[path = "cli/robust.rs"]
mod robust;
#[path = "cli/roundtrip.rs"]
mod roundtrip;
#[path = "cli/safety.rs"]
mod safety;
#[path = "cli/space.rs"]
mod space;
#[path = "cli/upgrade.rs"]
mod upgrade;
#[path = "cli/util.rs"]
mod util;
#[path = "cli/verify.rs"]
mod verify;
