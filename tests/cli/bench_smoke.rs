//! `scripts/bench.sh --smoke` runs end to end on a tiny corpus (no timing is checked), and
//! `scripts/bench-chart.sh` draws a well-formed SVG chart of its throughputs.

use std::path::{Path, PathBuf};
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
        "`restore-butcher-zstd`",
        "restore of the zstd set >= 1.5x restic's restore",
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
    if !require_tool("python3") {
        return;
    }
    let bars = svg_bars(&env, &env.path("bench/benchmarks.svg"));
    for bar in [
        "butcher-bzip2",
        "butcher-zstd",
        "butcher-auto",
        "tar|bzip2-9|gpg",
        "gpg|bzip2-d|tar",
    ] {
        assert!(
            bars.iter()
                .any(|(label, _)| label.starts_with(&format!("{bar}: "))),
            "no bar {bar} in the chart: {bars:?}"
        );
    }
}

/// Parses the SVG file with python3's XML parser (so it must be well-formed) and returns each
/// bar's title ("label: N MB/s") and width.
fn svg_bars(env: &TestEnv, svg: &Path) -> Vec<(String, f64)> {
    let script = r#"
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
assert doc.documentElement.tagName == "svg", doc.documentElement.tagName
for rect in doc.getElementsByTagName("rect"):
    titles = rect.getElementsByTagName("title")
    if titles:
        print(titles[0].firstChild.data + "\t" + rect.getAttribute("width"))
"#;
    let out = run_ok(env.cmd("python3").args(["-c", script]).arg(svg));
    stdout(&out)
        .lines()
        .map(|l| {
            let (title, width) = l.split_once('\t').expect("title<TAB>width");
            (title.to_string(), width.parse().expect("a bar's width"))
        })
        .collect()
}

fn chart_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-chart.sh")
}

#[test]
fn bench_chart_draws_one_bar_per_row_to_scale() {
    for tool in ["bash", "python3"] {
        if !require_tool(tool) {
            return;
        }
    }
    let env = TestEnv::new();
    let tsv = env.path("rates.tsv");
    std::fs::write(
        &tsv,
        "# group, label, MB/s\n\
         backup\tbutcher-zstd\t100.0\n\
         backup\ttar|bzip2-9|gpg\t25.0\n\
         \n\
         restore\tbutcher-auto\t50.0\n\
         restore\ta <&> \"b\"\t0.0\n",
    )
    .unwrap();
    let out = run_ok(env.cmd("bash").arg(chart_script()).arg(&tsv).arg("run <1>"));
    let svg = env.path("chart.svg");
    std::fs::write(&svg, &out.stdout).unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(">backup<") && text.contains(">restore<"),
        "{text}"
    );
    assert!(text.contains("run &lt;1&gt;"), "the subtitle: {text}");
    let bars = svg_bars(&env, &svg);
    let titles: Vec<&str> = bars.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "butcher-zstd: 100.0 MB/s",
            "tar|bzip2-9|gpg: 25.0 MB/s",
            "butcher-auto: 50.0 MB/s",
            "a <&> \"b\": 0.0 MB/s",
        ]
    );
    let widths: Vec<f64> = bars.iter().map(|(_, w)| *w).collect();
    assert!(widths[0] > 0.0, "{widths:?}");
    assert!((widths[1] / widths[0] - 0.25).abs() < 0.01, "{widths:?}");
    assert!((widths[2] / widths[0] - 0.5).abs() < 0.01, "{widths:?}");
    assert_eq!(widths[3], 0.0);
}

#[test]
fn bench_chart_refuses_a_malformed_row() {
    if !require_tool("bash") {
        return;
    }
    let env = TestEnv::new();
    let tsv = env.path("rates.tsv");
    std::fs::write(
        &tsv,
        "backup\tbutcher-zstd\t100.0\nbackup butcher-auto 50\n",
    )
    .unwrap();
    let out = crate::common::run(env.cmd("bash").arg(chart_script()).arg(&tsv));
    assert!(!out.status.success(), "exit {:?}", out.status);
    let err = crate::common::stderr(&out);
    assert!(err.contains("line 2"), "{err}");
}
