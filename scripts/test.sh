#!/usr/bin/env bash
# The project's single test entry point: formatting, lints, then tests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n==> %s\n' "$*"; }

stage "cargo fmt --all -- --check"
cargo fmt --all -- --check

stage "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

stage "cargo test --workspace --all-targets"
cargo test --workspace --all-targets

stage "all checks passed"
