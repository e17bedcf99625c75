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
#[path = "cli/golden.rs"]
mod golden;
#[path = "cli/roundtrip.rs"]
mod roundtrip;
#[path = "cli/util.rs"]
mod util;
