//! The client against a hostile server (tests/integration/hostile_server.rs): every way
//! the listing call can go wrong ends in a clear error with the README's exit code,
//! within settings.timeout, in bounded memory, without a panic.
//!
//! Memory: each run's peak RSS (the kernel's, via GNU time) must stay under MEMORY_BOUND.
//! The decoder's limits (src/vim/decode.rs) make that hold whatever the server sends:
//! 256 levels of nesting, 16 MiB per XML token, 250,000 elements and 32 MiB of text per
//! kept tree, 256 MiB per answer. docs/hostile-server.md lists the cases.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::hostile_server::{Hostile, Misbehave};
use crate::sim::{Ceso, Run, exit, finish};

/// settings.timeout of these runs (seconds): small, so the slow cases stay fast.
const TIMEOUT: u64 = 2;
/// Peak RSS any case may reach (a plain `vm list` of a few VMs needs about a third).
const MEMORY_BOUND_KB: u64 = 80 * 1024;

struct Measured {
    run: Run,
    peak_kb: u64,
}

/// `ceso vm list --json` against the server, with its peak memory.
fn list_against(server: &Hostile) -> Measured {
    let mut ceso = Ceso::new();
    ceso.env("CESO_PASSWORD", "p");
    ceso.config(&format!(
        "hosts:\n  - name: hostile\n    host: {}\n    user: u\n    password_env: CESO_PASSWORD\nsettings:\n  timeout: {TIMEOUT}\n  connect_timeout: {TIMEOUT}\n",
        server.url
    ));
    run_measured(&mut ceso, &["vm", "list", "--json"])
}

/// Run to completion under GNU time and read the peak RSS it reports. Not wait4 from
/// here: a child spawned by this (large, multi-threaded) test process inherits its
/// high-water mark at exec, while GNU time forks from a process of a few MB.
fn run_measured(ceso: &mut Ceso, args: &[&str]) -> Measured {
    const TIME: &str = "/usr/bin/time";
    assert!(
        std::path::Path::new(TIME).is_file(),
        "the hostile-server tests measure memory with GNU time ({TIME}, Debian package `time`); \
         scripts/test installs it"
    );
    let limit = Duration::from_secs(TIMEOUT * 4 + 10);
    let report = ceso.home.path().join("peak-rss");
    let configured = ceso.command();
    let mut cmd = std::process::Command::new(TIME);
    for (key, value) in configured.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(configured.get_program())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn ceso under GNU time");
    let run = finish(child, args, started, limit);
    let peak = std::fs::read_to_string(&report).unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" before the figure.
    let peak_kb = peak
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("GNU time reported no peak RSS: {peak:?}"));
    Measured { run, peak_kb }
}

/// The common promises: this exit code, no panic, in time, in bounded memory.
#[track_caller]
fn expect(m: Measured, code: i32, message: &str) -> Run {
    eprintln!(
        "hostile: exit {}, {:?}, peak RSS {} MiB",
        m.run.code,
        m.run.elapsed,
        m.peak_kb / 1024
    );
    assert!(
        m.peak_kb <= MEMORY_BOUND_KB,
        "ceso {:?} peaked at {} MiB (bound {} MiB)",
        m.run.args,
        m.peak_kb / 1024,
        MEMORY_BOUND_KB / 1024
    );
    // One call may take the whole timeout; the rest (login, cleanup) is quick.
    assert!(
        m.run.elapsed < Duration::from_secs(TIMEOUT + 3),
        "ceso {:?} took {:?}",
        m.run.args,
        m.run.elapsed
    );
    let run = if code == 0 {
        m.run.ok()
    } else {
        m.run.fails_with(code)
    };
    run.stderr_has(message);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[test]
fn truncated_xml_is_a_decode_error() {
    let server = Hostile::start(Misbehave::TruncatedXml);
    expect(
        list_against(&server),
        exit::CONNECTION,
        "XML document ended early",
    )
    .stderr_has("RetrievePropertiesEx")
    .stderr_has("SDK endpoint");
}

#[test]
fn invalid_utf8_is_refused_not_replaced() {
    let server = Hostile::start(Misbehave::InvalidUtf8);
    let run = expect(list_against(&server), exit::CONNECTION, "not valid UTF-8");
    assert!(!run.stdout.contains('\u{fffd}'), "{}", run.stdout);
}

#[test]
fn an_html_page_with_status_200_is_named() {
    let server = Hostile::start(Misbehave::Html200);
    expect(
        list_against(&server),
        exit::CONNECTION,
        "answered with a web page (text/html; charset=utf-8), not SOAP: \"vSphere Client Please log in\"",
    );
}

#[test]
fn an_empty_faultstring_still_says_what_happened() {
    let server = Hostile::start(Misbehave::EmptyFaultstring);
    expect(
        list_against(&server),
        exit::SERVER_FAULT,
        "ServerFaultCode: the server reported a fault without a message or details",
    );
}

#[test]
fn an_unknown_fault_type_is_reported_by_name() {
    let server = Hostile::start(Misbehave::UnknownFault);
    expect(
        list_against(&server),
        exit::SERVER_FAULT,
        "QuantumEntanglementFault: the server gave no message for this fault",
    );
}

#[test]
fn deep_nesting_is_cut_at_the_depth_limit() {
    let server = Hostile::start(Misbehave::DeepNesting(100_000));
    expect(
        list_against(&server),
        exit::CONNECTION,
        "nests XML elements deeper than 256 levels",
    );
}

#[test]
fn a_body_that_never_ends_times_out() {
    let server = Hostile::start(Misbehave::NeverEnds);
    let run = expect(
        list_against(&server),
        exit::CONNECTION,
        &format!(
            "RetrievePropertiesEx on {} timed out after {TIMEOUT}s",
            server.url
        ),
    );
    assert!(
        run.elapsed >= Duration::from_secs(TIMEOUT),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn a_2_gib_value_is_cut_at_the_token_limit() {
    let server = Hostile::start(Misbehave::HugeValue(2 << 30));
    expect(
        list_against(&server),
        exit::CONNECTION,
        "larger than 16 MiB",
    );
}

#[test]
fn a_2_gib_body_of_objects_is_cut_by_a_limit() {
    let server = Hostile::start(Misbehave::HugeObjects(2 << 30));
    let m = list_against(&server);
    // Whichever comes first on this machine: the 256 MiB answer limit or the timeout.
    let cut = m.run.stderr.contains("larger than 256 MiB") || m.run.stderr.contains("timed out");
    let run = expect(m, exit::CONNECTION, "RetrievePropertiesEx");
    assert!(cut, "{}", run.stderr);
}

#[test]
fn a_reset_mid_body_is_a_dropped_connection() {
    let server = Hostile::start(Misbehave::ResetMidBody);
    expect(
        list_against(&server),
        exit::CONNECTION,
        "dropped during RetrievePropertiesEx",
    );
}

#[test]
fn http_401_logs_in_once_more_then_fails() {
    let server = Hostile::start(Misbehave::Status(401));
    expect(list_against(&server), exit::CONNECTION, "HTTP 401")
        .stderr_has("401 Unauthorized")
        .stderr_has("refused the session");
    assert_eq!(
        server.logins.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one login, one re-login"
    );
}

#[test]
fn http_503_is_an_http_error_with_a_hint() {
    let server = Hostile::start(Misbehave::Status(503));
    expect(list_against(&server), exit::CONNECTION, "HTTP 503")
        .stderr_has("Service Unavailable")
        .stderr_has("try again later");
}

#[test]
fn a_redirect_loop_is_named() {
    let server = Hostile::start(Misbehave::RedirectLoop);
    expect(list_against(&server), exit::CONNECTION, "redirect loop")
        .stderr_has("/loop-a -> ")
        .stderr_has("/loop-b");
}

#[test]
fn unknown_xsi_types_are_carried_not_fatal() {
    let server = Hostile::start(Misbehave::UnknownTypes);
    let run = expect(list_against(&server), 0, "");
    let vms = run.json();
    let names: Vec<&str> = vms
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["web-01", "web-02"]);
    assert_eq!(vms[0]["power_state"], "poweredOn");
}

#[test]
fn a_doctype_with_entity_expansion_is_refused() {
    let server = Hostile::start(Misbehave::EntityExpansion);
    expect(list_against(&server), exit::CONNECTION, "DOCTYPE").stderr_has("entity expansion");
}
