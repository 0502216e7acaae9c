//! The operator guides (docs/guide-*.md) run: every ```sh block marked
//! `<!-- test: KIND -->` is run by bash, top to bottom, against a simulator shared by
//! all guides, and must succeed; a line whose comment says `(exit N)` must exit N.
//! KIND picks the test bed: `esx` (CESO_URL of a standalone ESXi host), `vcenter`
//! (CESO_URL of a vCenter), `fleet-setup` (no config yet; `$ESXI1`, `$ESXI2`, `$VCENTER`
//! hold the endpoints' URLs, `ESXI1_PASSWORD`, `ESXI2_PASSWORD`, `VC_PASSWORD` their
//! passwords, for `ceso host add`; esxi2 speaks HTTPS with a self-signed certificate
//! whose SHA-256 thumbprint is `$ESXI2_THUMBPRINT`), `fleet` (the same, with the config
//! those `host add` lines write: esxi1 (default), esxi2 (pinned), vcenter). Each guide has its own HOME, so its
//! blocks share a config, a session cache and a backup repository; guides run side by
//! side, so one guide must not act on a VM another one uses.
//! Every `ceso …` command a guide only names (tables, prose) must exist with its flags.
//! The least-privilege role of docs/guide-enterprise.md is checked against the
//! simulator's privilege list (vSphere's own, captured from ESXi) and created over SOAP.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sim::{Ceso, Sim, Soap, finish, repo};

/// The guides this file runs: a new guide without an entry fails here.
const GUIDES: &[&str] = &[
    "guide-enterprise.md",
    "guide-hot-backup.md",
    "guide-multi-host.md",
    "guide-performance.md",
    "guide-vcenter-migration.md",
];

struct Block {
    line: usize,
    kind: String,
    script: String,
}

/// The marked blocks of a guide, in order.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((_, line)) = lines.next() {
        let Some(kind) = line
            .trim()
            .strip_prefix("<!-- test:")
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let (at, fence) = lines.next().expect("a code block after a test marker");
        assert_eq!(
            fence.trim(),
            "```sh",
            "line {}: a test marker must be followed by a ```sh block",
            at + 1
        );
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| l.trim() != "```")
            .collect();
        out.push(Block {
            line: at + 1,
            kind: kind.trim().to_string(),
            script: body.join("\n"),
        });
    }
    out
}

/// `(exit N)` in a line's comment: the exit code the guide says the line has.
fn expected_exit(line: &str) -> Option<i32> {
    let comment = &line[line.find(" # ")?..];
    let at = comment.find("(exit ")?;
    comment[at + 6..].split(')').next()?.trim().parse().ok()
}

/// The block as a bash script: stop at the first unexpected failure, show each command.
fn script(block: &Block) -> String {
    let mut s = String::from("set -euo pipefail\nset -x\n");
    for (i, line) in block.script.lines().enumerate() {
        match expected_exit(line) {
            Some(code) => s.push_str(&format!(
                "set +e\n{line}\nrc=$?\nset -e\nif [ \"$rc\" != {code} ]; then echo \"guide line {}: expected exit {code}, got $rc\" >&2; exit 1; fi\n",
                block.line + 1 + i
            )),
            None => {
                s.push_str(line);
                s.push('\n');
            }
        }
    }
    s
}

struct Bed {
    esx: Sim,
    esx2: Sim,
    vcenter: Sim,
}

/// The config `fleet` blocks start from when the guide wrote none (what its
/// `fleet-setup` block's `host add` lines write).
fn fleet_config(bed: &Bed) -> String {
    format!(
        "hosts:
  - name: esxi1
    host: {}
    user: root
    default: true
    password_env: ESXI1_PASSWORD
  - name: esxi2
    host: {}
    user: root
    password_env: ESXI2_PASSWORD
    thumbprint: {}
  - name: vcenter
    host: {}
    user: administrator@vsphere.local
    password_env: VC_PASSWORD
",
        bed.esx.url,
        bed.esx2.url,
        thumbprint(&bed.esx2),
        bed.vcenter.url
    )
}

fn thumbprint(sim: &Sim) -> &str {
    sim.thumbprint
        .as_deref()
        .expect("a -tls simulator prints its thumbprint")
}

fn run_block(bed: &Bed, guide: &str, home: &Path, block: &Block) {
    let ceso = Path::new(env!("CARGO_BIN_EXE_ceso"));
    let mut cmd = Command::new("bash");
    for (key, _) in std::env::vars() {
        if key.starts_with("CESO_") || key.starts_with("GOVC_") {
            cmd.env_remove(key);
        }
    }
    let path = format!(
        "{}:{}",
        ceso.parent().expect("the binary's folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config_dir = home.join("config");
    cmd.current_dir(home)
        .env("PATH", path)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", &config_dir)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    match block.kind.as_str() {
        "esx" | "vcenter" => {
            let sim = if block.kind == "esx" {
                &bed.esx
            } else {
                &bed.vcenter
            };
            cmd.env("CESO_URL", &sim.url)
                .env("CESO_USERNAME", "root")
                .env("CESO_PASSWORD", "pass");
        }
        "fleet" | "fleet-setup" => {
            cmd.env("ESXI1", &bed.esx.url)
                .env("ESXI2", &bed.esx2.url)
                .env("VCENTER", &bed.vcenter.url)
                .env("ESXI1_PASSWORD", "pass")
                .env("ESXI2_PASSWORD", "pass")
                .env("VC_PASSWORD", "pass")
                .env("ESXI2_THUMBPRINT", thumbprint(&bed.esx2));
            let config = config_dir.join("ceso/config.yaml");
            if block.kind == "fleet" && !config.exists() {
                std::fs::create_dir_all(config_dir.join("ceso")).expect("config dir");
                std::fs::write(&config, fleet_config(bed)).expect("write the fleet config");
            }
        }
        other => panic!("{guide} line {}: unknown test bed {other:?}", block.line),
    }
    let child = cmd
        .arg("-c")
        .arg(script(block))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash is needed to run the guides");
    let run = finish(child, &[guide], Instant::now(), Duration::from_secs(120));
    assert_eq!(
        run.code, 0,
        "{guide} line {} ({}): the block failed:\n{}\nstdout:\n{}\nstderr:\n{}",
        block.line, block.kind, block.script, run.stdout, run.stderr
    );
}

#[test]
fn every_guide_is_listed() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("guide-") && n.ends_with(".md"))
        .collect();
    found.sort();
    assert_eq!(found, GUIDES);
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    for guide in GUIDES {
        assert!(
            readme.contains(&format!("(docs/{guide})")),
            "README.md does not link docs/{guide}"
        );
    }
}

#[test]
fn exit_expectations_are_read_from_comments() {
    assert_eq!(
        expected_exit("ceso vm delete x --dry-run  # refused (exit 6)"),
        Some(6)
    );
    assert_eq!(expected_exit("ceso vm list  # every VM"), None);
    assert_eq!(expected_exit("ceso vm list '(exit 4)'"), None);
}

/// Every marked block of every guide, against one ESXi pair and one vCenter.
#[test]
fn guide_commands_run_on_the_test_bed() {
    for tool in ["bash", "grep"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{tool} is needed to run the guides' blocks; install it");
    }
    // The three simulators start at once.
    let bed = std::thread::scope(|scope| {
        let esx = scope.spawn(Sim::esx);
        let esx2 = scope.spawn(|| Sim::start(&["-esx", "-tls"]));
        let vcenter = scope.spawn(Sim::vcenter);
        let started = |h: std::thread::ScopedJoinHandle<'_, Sim>| h.join().expect("simulator");
        Bed {
            esx: started(esx),
            esx2: started(esx2),
            vcenter: started(vcenter),
        }
    });
    // Guides run side by side (each in order): they touch different VMs, or only read.
    std::thread::scope(|scope| {
        for guide in GUIDES {
            let bed = &bed;
            scope.spawn(move || {
                let text = std::fs::read_to_string(repo().join("docs").join(guide)).expect("guide");
                let blocks = blocks(&text);
                assert!(!blocks.is_empty(), "{guide} has no runnable block");
                let home = tempfile::tempdir().expect("temp home");
                for block in &blocks {
                    run_block(bed, guide, home.path(), block);
                }
            });
        }
    });
}

/// Every `ceso …` command a guide names, in any ```sh block or inline code (tables
/// included, tested or not): its words up to the first argument, and its `--flags`.
fn named_commands(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut commands: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.strip_prefix("ceso "))
        .map(str::to_string)
        .collect();
    let mut in_sh = false;
    for line in text.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh => commands.extend(l.strip_prefix("ceso ").map(str::to_string)),
            _ => {}
        }
    }
    commands
        .iter()
        .map(|command| {
            let command = command.split(" # ").next().unwrap_or_default();
            let words: Vec<&str> = command.split_whitespace().collect();
            let mut path = Vec::new();
            let mut flags = Vec::new();
            let mut i = 0;
            // Global options before the subcommand (`ceso --host esxi2 vm list`).
            while i < words.len() && words[i].starts_with("--") {
                i += if ["--host", "--config"].contains(&words[i]) {
                    2
                } else {
                    1
                };
            }
            while i < words.len()
                && words[i].starts_with(|c: char| c.is_ascii_lowercase())
                && words[i]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '\\' || c == '|')
            {
                path.push(words[i].to_string());
                i += 1;
            }
            for word in &words {
                let word = word.trim_matches(|c| c == '[' || c == ']');
                if word.starts_with("--") && word.len() > 2 {
                    flags.push(word.split('=').next().unwrap_or_default().to_string());
                }
            }
            (path, flags)
        })
        .collect()
}

/// A subcommand path with alternatives (`rp create\\|update`) as every path it stands for.
fn expand(path: &[String]) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    for word in path {
        let alternatives: Vec<&str> = word.split("\\|").collect();
        out = out
            .iter()
            .flat_map(|p| {
                alternatives.iter().map(move |a| {
                    let mut p = p.clone();
                    p.push(a.to_string());
                    p
                })
            })
            .collect();
    }
    out
}

/// Commands the guides only name (tables, prose, examples with placeholders) exist, with
/// the flags given: each path's `--help` succeeds and lists them.
#[test]
fn every_command_the_guides_name_exists() {
    let mut seen = std::collections::BTreeMap::<Vec<String>, Vec<String>>::new();
    // networking.md is the network design guide (written before these; not runnable).
    for guide in GUIDES.iter().chain(&["networking.md"]) {
        let text = std::fs::read_to_string(repo().join("docs").join(guide)).expect("guide");
        for (path, flags) in named_commands(&text) {
            for path in expand(&path) {
                seen.entry(path).or_default().extend(flags.iter().cloned());
            }
        }
    }
    assert!(seen.len() > 30, "too few commands found: {seen:?}");
    for (path, flags) in &seen {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = Ceso::new().run(&args).ok();
        for flag in flags {
            assert!(
                run.stdout.contains(&format!("{flag} "))
                    || run.stdout.contains(&format!("{flag}\n")),
                "`ceso {}` has no {flag}:\n{}",
                path.join(" "),
                run.stdout
            );
        }
    }
}

/// Privilege ids named between `<!-- privileges -->` and `<!-- /privileges -->`.
fn guide_privileges() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/guide-enterprise.md")).expect("guide");
    let start = text
        .find("<!-- privileges -->")
        .expect("a privileges marker");
    let end = text
        .find("<!-- /privileges -->")
        .expect("a privileges end marker");
    let mut ids: Vec<String> = text[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.contains('.')
                && t.starts_with(|c: char| c.is_ascii_uppercase())
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        })
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every privilege id the enterprise guide names anywhere (prose, govc and PowerCLI
/// snippets), but the vCenter-only ones it says are not in ESXi's list.
fn all_named_privileges() -> Vec<String> {
    const VCENTER_ONLY: &[&str] = &["DVPortgroup.CanUse", "DVSwitch.CanUse"];
    let text = std::fs::read_to_string(repo().join("docs/guide-enterprise.md")).expect("guide");
    let mut ids: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            parts.len() >= 2
                && parts.iter().all(|p| {
                    p.starts_with(|c: char| c.is_ascii_uppercase())
                        && p.chars().any(|c| c.is_ascii_lowercase())
                })
                && !VCENTER_ONLY.contains(t)
        })
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every privilege the enterprise guide names exists in vSphere's list (the
/// simulator's Admin role holds all of ESXi's), and the role its table lists can be
/// created with them.
#[test]
fn least_privilege_role_names_real_privileges() {
    let ids = guide_privileges();
    assert!(ids.len() >= 30, "too few privileges found: {ids:?}");
    let named = all_named_privileges();
    assert!(named.len() >= ids.len(), "{named:?}");
    let sim = Sim::vcenter();
    let soap = Soap::login(&sim);
    let roles = soap.call(
        r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>AuthorizationManager</type><pathSet>roleList</pathSet></propSet><objectSet><obj type="AuthorizationManager">AuthorizationManager</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#,
    );
    let known: std::collections::BTreeSet<&str> = roles
        .split("<privilege>")
        .skip(1)
        .filter_map(|p| p.split("</privilege>").next())
        .collect();
    assert!(known.len() > 300, "no privilege list read: {roles}");
    let unknown: Vec<&String> = named
        .iter()
        .filter(|id| !known.contains(id.as_str()))
        .collect();
    assert!(unknown.is_empty(), "not vSphere privileges: {unknown:?}");

    let privs: String = ids
        .iter()
        .map(|id| format!("<privIds>{id}</privIds>"))
        .collect();
    let created = soap.call(&format!(
        r#"<AddAuthorizationRole xmlns="urn:vim25"><_this type="AuthorizationManager">AuthorizationManager</_this><name>ceso-operator</name>{privs}</AddAuthorizationRole>"#
    ));
    assert!(
        created.contains("AddAuthorizationRoleResponse"),
        "the role was refused: {created}"
    );
}
