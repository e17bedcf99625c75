//! `butcher completions SHELL` and `butcher man [COMMAND]`: scripts a shell accepts and pages
//! that name every command `butcher --help` lists.

use crate::common::{require_tool, run_ok, stdout, TestEnv};

/// The commands `butcher --help` lists with their descriptions, without `help` (which the man
/// pages leave out). A wide COLUMNS keeps each on one line.
fn commands_of_help(env: &TestEnv) -> Vec<(String, String)> {
    let help = stdout(&run_ok(
        env.butcher_command().arg("--help").env("COLUMNS", "1000"),
    ));
    let list: Vec<(String, String)> = help
        .lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| {
            let (name, about) = l.trim().split_once(' ')?;
            Some((name.to_string(), about.trim().to_string()))
        })
        .filter(|(name, _)| name != "help")
        .collect();
    // Guards the parsing itself: an empty list would make the tests below pass vacuously.
    for known in [
        "backup",
        "restore",
        "rebuild-disc",
        "where",
        "completions",
        "man",
    ] {
        assert!(
            list.iter().any(|(n, _)| n == known),
            "{known} not found in --help:\n{help}"
        );
    }
    list
}

/// Runs bash on `script` with the binary's path in `$B`; returns stdout.
fn bash(env: &TestEnv, script: &str) -> String {
    stdout(&run_ok(
        env.cmd("bash")
            .args(["-c", script])
            .env("B", TestEnv::butcher_exe()),
    ))
}

#[test]
fn bash_completion_registers_for_butcher_and_completes_commands() {
    if !require_tool("bash") {
        return;
    }
    let env = TestEnv::new();
    let spec = bash(
        &env,
        r#"source <("$B" completions bash) && complete -p butcher"#,
    );
    assert!(spec.contains("-F _butcher"), "complete -p butcher: {spec}");
    assert!(
        spec.trim_end().ends_with(" butcher"),
        "complete -p butcher: {spec}"
    );
    // What bash would offer after `butcher re<TAB>`.
    let offered = bash(
        &env,
        r#"source <("$B" completions bash) || exit 1
           COMP_WORDS=(butcher re); COMP_CWORD=1
           _butcher butcher re butcher
           printf '%s\n' "${COMPREPLY[@]}""#,
    );
    let mut words: Vec<&str> = offered.lines().collect();
    words.sort();
    assert_eq!(words, ["rebuild-disc", "repair", "restore"], "{offered}");
}

#[test]
fn other_shells_scripts_name_butcher_and_its_commands() {
    let env = TestEnv::new();
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&env.butcher_ok(["completions", shell]));
        for word in [
            "butcher",
            "backup",
            "restore",
            "rebuild-disc",
            "where",
            "man",
        ] {
            assert!(
                script.contains(word),
                "no {word} in the {shell} script:\n{script}"
            );
        }
    }
}

#[test]
fn unknown_shell_or_command_is_a_usage_error() {
    let env = TestEnv::new();
    let err = env.butcher_fails(["completions", "tcsh"], 2);
    assert!(err.contains("tcsh"), "{err}");
    let err = env.butcher_fails(["man", "nosuch"], 2);
    assert!(err.contains("nosuch") && err.contains("backup"), "{err}");
}

/// The page starts with its `.TH` line.
fn assert_title(page: &str, title: &str) {
    let first = page.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(".TH {title} 1 ")),
        "the page does not start with its .TH {title} 1:\n{page}"
    );
}

#[test]
fn man_page_lists_every_command_of_help_with_its_description() {
    let env = TestEnv::new();
    let page = stdout(&env.butcher_ok(["man"]));
    assert_title(&page, "butcher");
    let text = page.replace("\\-", "-").replace("\\*(Aq", "'");
    for (name, about) in commands_of_help(&env) {
        let entry = format!("butcher-{name}(1)");
        let at = text
            .find(&entry)
            .unwrap_or_else(|| panic!("{entry} is not in the man page:\n{page}"));
        let first_words: Vec<&str> = about.split_whitespace().take(4).collect();
        let next_line = text[at..].lines().nth(1).unwrap_or_default();
        assert!(
            next_line.starts_with(&first_words.join(" ")),
            "{entry} is not followed by its description {about:?}:\n{page}"
        );
    }
}

#[test]
fn every_command_has_a_page_that_groff_reads_without_warnings() {
    if !require_tool("groff") {
        return;
    }
    let env = TestEnv::new();
    let mut pages = vec![(None, "butcher".to_string())];
    for (name, _) in commands_of_help(&env) {
        pages.push((Some(name.clone()), format!("butcher-{name}")));
    }
    for (command, title) in pages {
        let mut args = vec!["man".to_string()];
        args.extend(command);
        let page = stdout(&env.butcher_ok(&args));
        assert_title(&page, &title);
        let file = env.path(format!("{title}.1"));
        std::fs::write(&file, &page).unwrap();
        let out = run_ok(env.cmd("groff").args(["-man", "-ww", "-z"]).arg(&file));
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.is_empty(), "groff on {title}.1: {warnings}");
    }
}
