//! `scripts/bench.sh --smoke` runs end to end on a tiny corpus (no timing is checked).

use std::path::PathBuf;
use std::process::Command;

use crate::common::{require_tool, run_ok, stdout, TestEnv};

/// The debug build of examples/make_corpus, built when `cargo test` did not build it.
fn make_corpus_exe() -> PathBuf {
    let debug_dir = TestEnv::butcher_exe()
        .parent()
        .expect("the binary is in a target directory")
        .to_path_buf();
    let exe = debug_dir.join("examples").join("make_corpus");
    if !exe.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        run_ok(
            Command::new(cargo)
                .args(["build", "--quiet", "--example", "make_corpus"])
                .current_dir(env!("CARGO_MANIFEST_DIR")),
        );
    }
    exe
}

#[test]
fn bench_script_smoke_run() {
    for tool in ["bash", "gpg", "tar", "bzip2"] {
        if !require_tool(tool) {
            return;
        }
    }
    let env = TestEnv::new();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench.sh");
    let out = run_ok(
        env.cmd("bash")
            .arg(script)
            .arg("--smoke")
            .env("BENCH_WORK", env.path("bench"))
            .env("BENCH_BUTCHER", TestEnv::butcher_exe())
            .env("BENCH_MAKE_CORPUS", make_corpus_exe()),
    );
    let report = stdout(&out);
    for row in [
        "`butcher-bzip2`",
        "`butcher-zstd`",
        "`butcher-auto`",
        "`butcher-bzip2-2nd`",
        "`restore-butcher-bzip2`",
        "`tar\\|bzip2-9\\|gpg`",
        "peak RSS of butcher",
        "`large-butcher`",
        "`large-butcher-2nd`",
        "`large-restore-butcher`",
        "no-change second run over",
    ] {
        assert!(report.contains(row), "no {row} in the report:\n{report}");
    }
    assert!(env.path("bench/report.md").is_file());
}
