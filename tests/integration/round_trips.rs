//! Round trips per command, counted by the simulator (-request-log: one line per SOAP
//! request), and the session cache that makes most of them unnecessary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::sim::{Ceso, Sim};

struct Counted {
    sim: Sim,
    log: PathBuf,
    cache: tempfile::TempDir,
}

impl Counted {
    fn start(args: &[&str]) -> Counted {
        let cache = tempfile::tempdir().expect("cache dir");
        let log = cache.path().join("requests.log");
        let log_arg = log.display().to_string();
        let mut all = vec!["-request-log", log_arg.as_str()];
        all.extend_from_slice(args);
        let sim = Sim::start(&all);
        Counted { sim, log, cache }
    }

    /// ceso with the cache directory shared by every run of this test.
    fn ceso(&self) -> Ceso {
        let mut c = self.sim.ceso();
        c.env("XDG_CACHE_HOME", self.cache.path().join("xdg"));
        c
    }

    /// The SOAP methods `args` sent, in order.
    fn calls(&self, args: &[&str]) -> Vec<String> {
        std::fs::write(&self.log, "").expect("truncate the request log");
        self.ceso().run(args).ok();
        requests(&self.log)
    }

    fn sessions_dir(&self) -> PathBuf {
        self.cache.path().join("xdg/ceso/sessions")
    }
}

fn requests(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .expect("request log")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn commands_stay_within_their_round_trip_budget() {
    let t = Counted::start(&["-vm", "4"]);
    // The first command logs in and caches the session; it does not log out.
    let first = t.calls(&["vm", "list"]);
    assert!(first.contains(&"Login".to_string()), "{first:?}");
    assert!(!first.contains(&"Logout".to_string()), "{first:?}");

    // The cached session keeps the server's ServiceContent: the listing is one call.
    let list = t.calls(&["vm", "list", "--json"]);
    assert_eq!(
        list,
        ["RetrievePropertiesEx"],
        "vm list with a cached session"
    );
    assert!(!list.iter().any(|m| m == "Login" || m == "Logout"));
    assert!(!list.iter().any(|m| m.contains("View")), "{list:?}");

    let info = t.calls(&["vm", "info", "DC0_H0_VM0"]);
    assert!(info.len() <= 4, "vm info with a cached session: {info:?}");
    assert!(!info.contains(&"RetrieveServiceContent".to_string()));

    // One VM: 2 lookup + 2 power (task, one poll).
    let stop_one = t.calls(&["vm", "stop", "--force", "DC0_H0_VM0"]);
    assert!(stop_one.len() <= 4, "{stop_one:?}");
    let start_one = t.calls(&["vm", "start", "DC0_H0_VM0"]);
    assert!(start_one.len() <= 4, "{start_one:?}");

    // Four VMs: at most 2 per VM beyond the fixed 2 (3 with a batch power-on's poll).
    let stop_four = t.calls(&["vm", "stop", "--force", "DC0_C0_RP0_VM*"]);
    assert_eq!(
        stop_four.iter().filter(|m| *m == "PowerOffVM_Task").count(),
        4
    );
    assert!(stop_four.len() <= 2 + 2 * 4, "{stop_four:?}");
    // vCenter starts them with one PowerOnMultiVM_Task.
    let start_four = t.calls(&["vm", "start", "DC0_C0_RP0_VM*"]);
    assert!(
        start_four.contains(&"PowerOnMultiVM_Task".to_string()),
        "{start_four:?}"
    );
    assert!(
        !start_four.contains(&"PowerOnVM_Task".to_string()),
        "{start_four:?}"
    );
    assert!(start_four.len() <= 3 + 2 * 4, "{start_four:?}");
    let listed = t
        .ceso()
        .run(&["vm", "list", "DC0_C0_RP0_VM*", "--json"])
        .ok();
    let states: Vec<_> = listed
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["power_state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(states, vec!["poweredOn"; 4]);

    // Without the cache: a login and a logout around the same command.
    let uncached = t.calls(&["vm", "list", "--no-session-cache"]);
    assert_eq!(
        uncached.first().map(String::as_str),
        Some("RetrieveServiceContent")
    );
    assert!(uncached.contains(&"Login".to_string()), "{uncached:?}");
    assert_eq!(uncached.last().map(String::as_str), Some("Logout"));
}

#[test]
fn a_cached_session_keeps_its_inventory_view_and_makes_a_lost_one_again() {
    let t = Counted::start(&["-vm", "3"]);
    // The session's first listing makes the view it keeps (no DestroyView).
    let first = t.calls(&["vm", "list", "--json"]);
    assert_eq!(
        first.iter().filter(|m| *m == "CreateContainerView").count(),
        1,
        "{first:?}"
    );
    assert!(!first.contains(&"DestroyView".to_string()), "{first:?}");
    // The next ones read it: one call. host list keeps a view of its own, and the
    // names of the hosts' clusters, datastores and networks come in the same call.
    assert_eq!(t.calls(&["vm", "list", "--json"]), ["RetrievePropertiesEx"]);
    let hosts = t.calls(&["host", "list", "--json"]);
    assert_eq!(hosts[0], "CreateContainerView", "{hosts:?}");
    assert_eq!(
        t.calls(&["host", "list", "--json"]),
        ["RetrievePropertiesEx"]
    );

    // A view that is gone (destroyed by someone, or from another session) is made again.
    let files = cache_files(&t.sessions_dir());
    let mut entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("cache file"))
            .expect("cache is JSON");
    let views = entry["views"].as_object_mut().expect("views are kept");
    for id in views.values_mut() {
        *id = "session[0000]no-such-view".into();
    }
    std::fs::write(&files[0], entry.to_string()).expect("write the cache file");
    std::fs::write(&t.log, "").expect("truncate the request log");
    let listed = t.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(6), // three in the cluster's pool, three on the standalone host
        "{listed}"
    );
    let calls = requests(&t.log);
    assert_eq!(
        calls,
        [
            "RetrievePropertiesEx",
            "CreateContainerView",
            "RetrievePropertiesEx"
        ]
    );
    assert_eq!(t.calls(&["vm", "list", "--json"]), ["RetrievePropertiesEx"]);
}

#[test]
fn a_stale_cached_session_is_replaced_by_a_fresh_login() {
    let t = Counted::start(&[]);
    t.calls(&["vm", "list"]);
    let files = cache_files(&t.sessions_dir());
    assert_eq!(files.len(), 1, "one session file per URL and user");
    let before = std::fs::read_to_string(&files[0]).expect("cache file");
    // The server no longer knows the cached session (expired, terminated, restarted).
    let stale: serde_json::Value = serde_json::from_str(&before).expect("cache is JSON");
    let mut stale = stale;
    stale["cookie"] = "52a1b2c3-0000-0000-0000-000000000000".into();
    // ... and was upgraded since: the ServiceContent kept with the session is old too.
    let real_version = about_field(&stale, "version");
    set_about_field(&mut stale, "version", "5.5.0");
    std::fs::write(&files[0], stale.to_string()).expect("write stale cookie");

    let calls = t.calls(&["vm", "info", "DC0_H0_VM0"]);
    assert_eq!(
        calls.iter().filter(|m| *m == "Login").count(),
        1,
        "one fresh login: {calls:?}"
    );
    assert!(
        calls.contains(&"RetrieveServiceContent".to_string()),
        "a new login reads what the server is: {calls:?}"
    );
    let after = std::fs::read_to_string(&files[0]).expect("cache file");
    assert_ne!(after, stale.to_string(), "the new session is cached");
    let after: serde_json::Value = serde_json::from_str(&after).expect("cache is JSON");
    assert_eq!(about_field(&after, "version"), real_version);
    let version = t.ceso().run(&["version", "--json"]).ok().json();
    assert_eq!(
        version["endpoints"][0]["version"].as_str(),
        Some(real_version.as_str()),
        "{version}"
    );
    // And reused by the next command.
    let next = t.calls(&["vm", "list"]);
    assert!(!next.contains(&"Login".to_string()), "{next:?}");
}

/// A field of `about` in the ServiceContent kept in a session cache file.
fn about_field(entry: &serde_json::Value, field: &str) -> String {
    about_child(entry, field)
        .and_then(|n| n["text"].as_str())
        .expect("the cache file keeps the ServiceContent's about")
        .to_string()
}

fn set_about_field(entry: &mut serde_json::Value, field: &str, value: &str) {
    let about = entry["content"]["children"]
        .as_array_mut()
        .and_then(|c| c.iter_mut().find(|n| n["name"] == "about"))
        .expect("about");
    let node = about["children"]
        .as_array_mut()
        .and_then(|c| c.iter_mut().find(|n| n["name"] == field))
        .expect("about field");
    node["text"] = value.into();
}

fn about_child<'a>(entry: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    entry["content"]["children"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == "about")?["children"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == field)
}

#[test]
fn the_cache_file_is_private_and_holds_no_password() {
    let t = Counted::start(&[]);
    let mut ceso = t.ceso();
    ceso.env("CESO_PASSWORD", "s3cret-Pa55word");
    ceso.run(&["vm", "list"]).ok();
    let files = cache_files(&t.sessions_dir());
    assert_eq!(files.len(), 1);
    let mode = std::fs::metadata(&files[0])
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "cache file mode");
    let dir_mode = std::fs::metadata(t.sessions_dir())
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "cache dir mode");
    let text = std::fs::read_to_string(&files[0]).expect("read");
    assert!(!text.contains("s3cret-Pa55word"), "{text}");
    assert!(text.contains("vmware") || text.contains("cookie"), "{text}");
}

#[test]
fn an_inventory_path_is_found_by_the_search_index() {
    let t = Counted::start(&[]);
    t.calls(&["vm", "list"]);
    std::fs::write(&t.log, "").expect("truncate");
    let run = t
        .ceso()
        .run(&["vm", "info", "DC0/vm/DC0_H0_VM0", "--json"])
        .ok();
    assert_eq!(run.json()["name"], "DC0_H0_VM0", "{}", run.stdout);
    let calls = requests(&t.log);
    assert!(
        calls.contains(&"FindByInventoryPath".to_string()),
        "{calls:?}"
    );
    let missing = t.ceso().run(&["vm", "info", "DC0/vm/no-such-vm"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("DC0/vm/no-such-vm"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_cached_session_needs_no_password_prompt() {
    let t = Counted::start(&[]);
    t.calls(&["vm", "list"]);
    // No password anywhere: ceso would prompt, but the cached session is enough.
    std::fs::write(&t.log, "").expect("truncate the request log");
    let mut ceso = t.ceso();
    ceso.env_remove("CESO_PASSWORD");
    ceso.run(&["vm", "list"]).ok();
    let calls = requests(&t.log);
    assert!(!calls.contains(&"Login".to_string()), "{calls:?}");

    // The session is gone: now a password is needed, and none can be asked for here.
    let files = cache_files(&t.sessions_dir());
    let mut stale: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).expect("cache file"))
            .expect("cache is JSON");
    stale["cookie"] = "52a1b2c3-0000-0000-0000-000000000000".into();
    std::fs::write(&files[0], stale.to_string()).expect("write stale cookie");
    let mut ceso = t.ceso();
    ceso.env_remove("CESO_PASSWORD");
    ceso.run(&["vm", "list"])
        .fails_with(crate::sim::exit::USAGE)
        .stderr_has("no password was given");
}

#[test]
fn script_power_calls_are_batched_like_the_cli() {
    let t = Counted::start(&["-vm", "4"]);
    t.calls(&["vm", "stop", "--force", "DC0_C0_RP0_VM*"]);
    let started = t.calls(&["-c", "vm::start(\"DC0_C0_RP0_VM*\")"]);
    assert!(
        started.contains(&"PowerOnMultiVM_Task".to_string()),
        "{started:?}"
    );
    assert!(
        !started.contains(&"PowerOnVM_Task".to_string()),
        "{started:?}"
    );
    let states = t
        .ceso()
        .run(&["vm", "list", "DC0_C0_RP0_VM*", "--json"])
        .ok()
        .json();
    assert!(
        states
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["power_state"] == "poweredOn"),
        "{states}"
    );
}
