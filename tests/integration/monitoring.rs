//! `ceso stats`, `stats collect`, `stats history` and the `stats()`/`history()` script
//! functions against the simulator's seeded performance series (tests/vcsim/perf.go).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use crate::sim::{Run, Sim, exit};

/// Flat series without noise: what the simulator serves is known exactly.
const PINNED: &str = "HostSystem/mem.usage.average=5000,0,0,0;\
HostSystem/cpu.usage.average=2537,0,0,0;\
HostSystem/net.usage.average=1234,0,0,0;\
HostSystem/disk.maxTotalLatency.latest=7,0,0,0;\
VirtualMachine/mem.consumed.average=1048576,0,0,0";

fn series<'a>(all: &'a Value, object: &str, counter: &str) -> &'a Value {
    all.as_array()
        .expect("a list")
        .iter()
        .find(|s| s["object"] == object && s["counter"] == counter)
        .unwrap_or_else(|| panic!("no {counter} of {object} in {all:#}"))
}

fn values(s: &Value) -> Vec<f64> {
    s["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|p| p["value"].as_f64().expect("a number"))
        .collect()
}

fn times(s: &Value) -> Vec<String> {
    s["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|p| p["time"].as_str().expect("a time").to_string())
        .collect()
}

#[test]
fn stats_reads_each_counter_family_in_its_unit() {
    let sim = Sim::start(&["-perf-series", PINNED]);
    let all = sim.ceso().run(&["stats", "--json"]).ok().json();
    let host = "DC0_C0_H0";
    // percent arrives in 1/100 %, the rest as sent; real-time samples for the last hour.
    for (counter, want, unit) in [
        ("mem.usage.average", 50.0, "%"),
        ("cpu.usage.average", 25.37, "%"),
        ("net.usage.average", 1234.0, "KBps"),
        ("disk.maxTotalLatency.latest", 7.0, "ms"),
    ] {
        let s = series(&all, host, counter);
        assert_eq!(s["unit"], unit);
        assert_eq!(s["interval"], 20);
        let v = values(s);
        assert!(
            (179..=180).contains(&v.len()),
            "{counter}: {} samples",
            v.len()
        );
        assert!(
            v.iter().all(|x| (x - want).abs() < 1e-9),
            "{counter}: {v:?}"
        );
        assert_eq!(s["max"].as_f64(), Some(want));
    }
    // The VM's memory in KB; a cluster has no real-time data, so 5-minute samples.
    let vm = sim
        .ceso()
        .run(&[
            "stats",
            "DC0_C0_RP0_VM0",
            "--counter",
            "mem.consumed.average",
            "--json",
        ])
        .ok()
        .json();
    let s = series(&vm, "DC0_C0_RP0_VM0", "mem.consumed.average");
    assert_eq!(s["unit"], "KB");
    assert!(values(s).iter().all(|x| *x == 1048576.0));
    // Tables scale to units people read; --json (above) keeps the raw numbers.
    sim.ceso()
        .run(&[
            "stats",
            "DC0_C0_RP0_VM0",
            "--counter",
            "mem.consumed.average",
        ])
        .ok()
        .stdout_has("1.0 GB");
    sim.ceso()
        .run(&["stats", host, "--counter", "mem.usage.average"])
        .ok()
        .stdout_has("50.0%");
    let cluster_day = || {
        sim.ceso()
            .run(&[
                "stats",
                "DC0_C0",
                "--counter",
                "cpu.usagemhz.average",
                "--since",
                "1d",
                "--json",
            ])
            .ok()
            .json()
    };
    let cluster = cluster_day();
    let s = series(&cluster, "DC0_C0", "cpu.usagemhz.average");
    assert_eq!(s["interval"], 300);
    let t = times(s);
    assert!((287..=288).contains(&t.len()), "{} samples", t.len());
    assert!(t.windows(2).all(|w| w[0] < w[1]), "ascending timestamps");

    // Asking twice gives the same numbers (seeded series), so stored data can be checked.
    let again = cluster_day();
    let s2 = series(&again, "DC0_C0", "cpu.usagemhz.average");
    let common = t.len().min(times(s2).len()) - 1;
    assert_eq!(values(s)[..common], values(s2)[..common]);

    let wrong = sim
        .ceso()
        .run(&["stats", "--counter", "mem.usage.avg"])
        .fails_with(exit::NOT_FOUND);
    wrong.stderr_has("did you mean mem.usage.average");
    wrong.stderr_has("ceso stats counters");
    sim.ceso()
        .run(&["stats", "nothing-like-this"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["stats", "--since", "soon"])
        .fails_with(exit::USAGE)
        .stderr_has("not a duration");

    // Scripts decide on the same numbers.
    let out = sim
        .ceso()
        .run(&[
            "-c",
            r#"let s = stats(host("DC0_C0_H0"), "mem.usage.average", "1h"); if s.max > 49.0 { `high ${s.max}${s.unit}` } else { "low" }"#,
        ])
        .ok();
    out.stdout_has("high 50.0%");
}

fn rows(path: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open the history database");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// 5-minute timestamps (unix) and values of one stored series.
fn stored(path: &std::path::Path, object: &str, counter: &str, tier: i64) -> Vec<(i64, f64)> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT s.ts, s.avg FROM samples s JOIN series r ON r.id = s.series
             WHERE r.object = ?1 AND r.counter = ?2 AND s.tier = ?3 ORDER BY s.ts",
        )
        .expect("prepare");
    stmt.query_map(rusqlite::params![object, counter, tier], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

/// One collection round into `db`, fetching `backfill` of history on the first.
fn collect_once(sim: &Sim, db: &str, backfill: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "stats",
        "collect",
        "--samples",
        "1",
        "--backfill",
        backfill,
        "--db",
        db,
    ];
    args.extend(extra);
    sim.ceso().run(&args)
}

#[test]
fn collect_stores_rolls_up_resumes_and_locks() {
    let sim = Sim::vcenter();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let db_arg = db.to_str().unwrap();
    let counters = [
        "--counter",
        "cpu.usage.average",
        "--counter",
        "mem.usage.average",
    ];

    let mut extra = vec!["--json"];
    extra.extend(counters);
    let round: Value = collect_once(&sim, db_arg, "1d", &extra).ok().json();
    assert_eq!(
        round["round_trips"], 1,
        "one QueryPerf per endpoint: {round}"
    );
    let objects = round["objects"].as_i64().unwrap();
    assert!(objects >= 4, "{round}");

    // The stored 5-minute samples are the server's, a day of them, contiguous.
    let (obj, counter) = ("DC0_C0_H1", "mem.usage.average");
    let five = stored(&db, obj, counter, 300);
    assert!((287..=288).contains(&five.len()), "{} samples", five.len());
    assert!(five.windows(2).all(|w| w[1].0 - w[0].0 == 300));
    let served = sim
        .ceso()
        .run(&[
            "stats",
            obj,
            "--counter",
            counter,
            "--since",
            "1d",
            "--interval",
            "5m",
            "--json",
        ])
        .ok()
        .json();
    let served: BTreeMap<i64, f64> = series(&served, obj, counter)["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = chrono::DateTime::parse_from_rfc3339(p["time"].as_str().unwrap()).unwrap();
            (t.timestamp(), p["value"].as_f64().unwrap())
        })
        .collect();
    let mut compared = 0;
    for (ts, v) in &five {
        if let Some(s) = served.get(ts) {
            assert_eq!(s, v, "sample at {ts}");
            compared += 1;
        }
    }
    assert!(compared > 280, "compared {compared}");

    // Hourly roll-ups are the means of their complete hours' 5-minute samples.
    let hours = stored(&db, obj, counter, 3600);
    assert!(hours.len() >= 22, "{} hours", hours.len());
    for (end, avg) in &hours {
        let inside: Vec<f64> = five
            .iter()
            .filter(|(ts, _)| ts > &(end - 3600) && ts <= end)
            .map(|(_, v)| *v)
            .collect();
        let mean = inside.iter().sum::<f64>() / inside.len() as f64;
        assert!(
            (mean - avg).abs() < 1e-6,
            "hour ending {end}: {avg} vs {mean}"
        );
    }
    let newest = five.last().unwrap().0;
    assert!(
        hours.iter().all(|(end, _)| *end <= newest),
        "only complete hours"
    );

    // A collector is running (waiting for its next round): a second one is refused.
    let mut args = vec![
        "stats", "collect", "--every", "1h", "--db", db_arg, "--json",
    ];
    args.extend(counters);
    let mut first = sim
        .ceso()
        .command()
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let round: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(round["round"], 1);
    sim.ceso()
        .run(&["stats", "collect", "--samples", "1", "--db", db_arg])
        .fails_with(exit::REFUSED)
        .stderr_has("another collector is writing");
    // Killed without a chance to clean up.
    first.kill().unwrap();
    first.wait().unwrap();

    // Pretend it died three hours ago: drop what it stored since.
    let cut = newest - 3 * 3600;
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM samples WHERE ts > ?1", [cut])
        .unwrap();
    drop(conn);
    assert!(stored(&db, obj, counter, 300).len() < 260);

    // Restarted, it fills the gap from the server's history: nothing lost, nothing twice.
    let mut args = vec![
        "stats",
        "collect",
        "--samples",
        "1",
        "--db",
        db_arg,
        "--json",
    ];
    args.extend(counters);
    let round: Value = sim.ceso().run(&args).ok().json();
    assert!(
        round["stored"].as_i64().unwrap() >= 36 * objects * 2,
        "{round}"
    );
    let after = stored(&db, obj, counter, 300);
    assert!(
        after.len() >= five.len(),
        "{} after, {} before",
        after.len(),
        five.len()
    );
    assert!(
        after.windows(2).all(|w| w[1].0 - w[0].0 == 300),
        "no gap, no duplicate"
    );
    for (ts, v) in &after {
        if let Some(s) = served.get(ts) {
            assert_eq!(s, v);
        }
    }
    assert_eq!(
        rows(&db, "SELECT count(*) FROM samples"),
        rows(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT series, tier, ts FROM samples)"
        )
    );
    let hours_after = stored(&db, obj, counter, 3600);
    assert_eq!(hours_after.len(), hours.len().max(hours_after.len()));
    assert!(hours_after.len() + 1 >= hours.len());

    // What the database holds, from the CLI and from scripts.
    let h = sim
        .ceso()
        .run(&[
            "stats",
            "history",
            obj,
            "--counter",
            counter,
            "--tier",
            "1h",
            "--db",
            db_arg,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(values(series(&h, obj, counter)).len(), hours_after.len());
    let script = format!(
        r#"history("{obj}", "{counter}", "2d", #{{db: "{db_arg}", tier: "1h"}}).samples.len()"#
    );
    sim.ceso()
        .run(&["-c", &script])
        .ok()
        .stdout_has(&hours_after.len().to_string());
    sim.ceso()
        .run(&["stats", "history", obj, "--db", "/nonexistent/h.sqlite"])
        .fails_with(exit::NOT_FOUND);
}

#[test]
fn stats_mistakes_name_what_exists() {
    let sim = Sim::vcenter();
    let dir = tempfile::tempdir().unwrap();
    // A --db in a directory that does not exist: the collector makes it and says so, on
    // stderr (stdout stays one JSON object per round).
    let db = dir.path().join("new-dir").join("h.sqlite");
    let db_arg = db.to_str().unwrap();
    let collect = |extra: &[&str]| {
        let mut args = vec!["--counter", "mem.usage.average"];
        args.extend(extra);
        collect_once(&sim, db_arg, "1h", &args).ok()
    };
    let first = collect(&["--json"]);
    first.stderr_has(&format!("created a new history database at {db_arg}"));
    assert_eq!(first.json()["round"], 1, "stdout is the round alone");
    let second = collect(&[]);
    assert!(
        !second.stderr.contains("created"),
        "an existing database is not new: {}",
        second.stderr
    );

    // `stats history` with a name the database does not hold: not found, with the close
    // names it does hold, like `stats` with the server's names.
    let history = |object: &str, counter: &str| {
        sim.ceso().run(&[
            "stats",
            "history",
            object,
            "--counter",
            counter,
            "--db",
            db_arg,
        ])
    };
    history("DC0_C0_H0", "mem.usage.average").ok();
    history("DC0_C0_H0", "mem.usage.avg")
        .fails_with(exit::NOT_FOUND)
        .stderr_has("stored counter 'mem.usage.avg' not found; did you mean mem.usage.average?");
    let object = history("DC0_C0_H9", "mem.usage.average").fails_with(exit::NOT_FOUND);
    object.stderr_has("stored object 'DC0_C0_H9' not found; did you mean");
    object.stderr_has("DC0_C0_H0");
    object.stderr_has("ceso stats collect");
    assert!(
        object.stdout.is_empty(),
        "no empty table: {}",
        object.stdout
    );

    // An interval the server does not keep: a usage error naming those it does.
    let interval = sim
        .ceso()
        .run(&["stats", "DC0_C0_H0", "--interval", "1m"])
        .fails_with(exit::USAGE);
    interval.stderr_has(
        "--interval 1m: the server keeps samples of 20s (real-time, hosts and VMs), 5m, 30m, 2h, 1d",
    );
    interval.stderr_has("leave --interval out");
    assert!(
        !interval.stderr.contains("InvalidArgument"),
        "{}",
        interval.stderr
    );
    // The ones it names work.
    sim.ceso()
        .run(&["stats", "DC0_C0_H0", "--interval", "30m", "--since", "2d"])
        .ok();

    // A zero duration is a duration, just not a usable one.
    sim.ceso()
        .run(&["stats", "collect", "--every", "0s", "--db", db_arg])
        .fails_with(exit::USAGE)
        .stderr_has("--every \"0s\" must be positive");
}

#[test]
fn capacity_forecast_lands_on_the_known_exhaustion_date() {
    // Every host's memory: 60 % now, +0.4 %/day, so full in 100 days; CPU flat.
    let sim = Sim::start(&[
        "-perf-series",
        "HostSystem/mem.usage.average=6000,40,300,50;HostSystem/cpu.usage.average=3000,0,500,100;\
         Datastore/disk.capacity.latest=104857600,0,0,0;Datastore/disk.used.latest=73400320,524288,0,2000",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let db_arg = db.to_str().unwrap();

    // Only a few hours collected: the report says how much it has and needs.
    collect_once(&sim, db_arg, "3h", &[]).ok();
    let thin = sim
        .ceso()
        .run(&["capacity", "report", "--cluster", "DC0_C0", "--db", db_arg])
        .ok();
    thin.stdout_has("day(s) of daily history for DC0_C0; a forecast needs 7");
    thin.stdout_has("too little history");

    collect_once(&sim, db_arg, "60d", &[]).ok();
    let html = dir.path().join("report.html");
    let png = dir.path().join("png");
    let capacity = |extra: &[&str]| {
        let mut args = vec![
            "capacity",
            "report",
            "--cluster",
            "DC0_C0",
            "--horizon",
            "180d",
        ];
        args.extend(["--db", db_arg]);
        args.extend(extra);
        sim.ceso().run(&args).ok()
    };
    let report = capacity(&[
        "--html",
        html.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "--json",
    ])
    .json();
    let group = &report["groups"][0];
    assert_eq!(group["name"], "DC0_C0");
    assert!(group["insufficient"].is_null(), "{group:#}");
    assert!(group["history_days"].as_i64().unwrap() >= 59);
    let memory = &group["resources"][1];
    assert_eq!(memory["name"], "memory");
    let f = &memory["forecast"];
    let days = f["days_left"].as_f64().expect("memory runs out");
    assert!(
        (90.0..=110.0).contains(&days),
        "forecast {days} days, truth 100: {f:#}"
    );
    assert_eq!(f["within_horizon"], true);
    assert!(f["trend"]["r2"].as_f64().unwrap() > 0.9, "{f:#}");
    assert!((f["trend"]["slope"].as_f64().unwrap() - 0.4).abs() < 0.04);
    let cpu = &group["resources"][0];
    assert!(
        cpu["forecast"]["days_left"].is_null()
            || !cpu["forecast"]["within_horizon"].as_bool().unwrap()
    );
    // Headroom within the default overcommit ratios (cpu 2x).
    assert_eq!(
        cpu["allocatable"].as_f64(),
        Some(report["overcommit"]["cpu"].as_f64().unwrap() * 6.0)
    );

    // The datastore: 70 of 100 GB used, +0.5 GB a day: full in 60 days.
    let ds = &group["resources"][2];
    assert_eq!(ds["name"], "datastore LocalDS_0");
    let ds_days = ds["forecast"]["days_left"]
        .as_f64()
        .expect("the datastore fills");
    assert!(
        (54.0..=66.0).contains(&ds_days),
        "datastore full in {ds_days} days, truth 60"
    );
    assert!((ds["capacity"].as_f64().unwrap() - 100.0).abs() < 1e-9);

    // The HTML page: a headline per resource with the days to full, one inline SVG
    // chart per resource, the fastest-growing VMs, and nothing fetched from anywhere.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 3, "one chart per resource");
    assert_eq!(
        page.matches("class=\"card ").count(),
        3,
        "one headline per resource"
    );
    assert!(page.contains("days to full"), "a headline in days");
    assert!(page.contains("likely "), "with the fit's range");
    assert!(page.contains("full ≈ "), "the crossing marked on the chart");
    assert!(page.contains("Fastest-growing VMs") && page.contains(" MB/day"));
    for external in ["src=\"http", "href=\"http", "@import", "url(", "<script"] {
        assert!(
            !page.contains(external),
            "self-contained, yet has {external}"
        );
    }
    screenshot_report(&html);
    for name in [
        "DC0_C0-cpu.png",
        "DC0_C0-memory.png",
        "DC0_C0-datastore_LocalDS_0.png",
    ] {
        let bytes = std::fs::read(png.join(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }

    // Every number with its unit; a date only with a trend behind it, and how sure.
    assert_eq!(ds["allocated_unit"], "GB");
    assert!(
        page.contains(" GB of ") && page.contains(" GB free)"),
        "units in the HTML"
    );
    let text = capacity(&[]);
    text.stdout_has("memory");
    text.stdout_has("full in");
    text.stdout_has(" days (likely ");
    text.stdout_has("vCPUs of ");
    text.stdout_has(" GB of ");
    text.stdout_has(" GB free)");
    // CPU is flat with noise: no date, and it says why.
    text.stdout_has("no reliable trend (R² ");
    assert!(cpu["forecast"]["days_left"].is_null(), "{cpu:#}");
    text.stdout_has("fastest-growing VMs");
}

/// Chromium's headless screenshot and PDF of the report, with every host name resolving
/// nowhere (the page must need no network). The PNG is left in the target directory
/// for a person to look at.
fn screenshot_report(html: &std::path::Path) {
    let chromium = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(chromium).is_file(),
        "{chromium} is missing: scripts/test installs Debian's chromium package (apt-get install chromium)"
    );
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let png = out_dir.join("capacity-report.png");
    let pdf = out_dir.join("capacity-report.pdf");
    let _ = std::fs::remove_file(&png);
    let _ = std::fs::remove_file(&pdf);
    let profile = tempfile::tempdir().unwrap();
    let run = |what: &str| {
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--window-size=900,2200",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(what)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&format!("--screenshot={}", png.display()));
    run(&format!("--print-to-pdf={}", pdf.display()));
    let shot = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    // A blank page compresses to almost nothing; text and charts do not.
    assert!(shot.len() > 30_000, "screenshot only {} bytes", shot.len());
    let printed = std::fs::read(&pdf).expect("chromium printed the PDF");
    assert!(printed.starts_with(b"%PDF"), "a PDF");
}

#[test]
fn monitor_lines_json_and_live_terminal_view() {
    use expectrl::Expect;

    let sim = Sim::start(&["-perf-series", PINNED]);
    // Not a terminal: plain repeated lines, one block per sample.
    let plain = sim
        .ceso()
        .run(&[
            "monitor",
            "--cluster",
            "DC0_C0",
            "--samples",
            "2",
            "--interval",
            "1s",
        ])
        .ok();
    assert_eq!(plain.stdout.matches("-- ").count(), 2, "{}", plain.stdout);
    plain.stdout_has("host  DC0_C0_H0");
    plain.stdout_has("50.0");
    assert!(
        !plain.stdout.contains("DC0_H0 "),
        "only the cluster's objects"
    );
    // --json: one object per sample, newline-delimited.
    let json = sim
        .ceso()
        .run(&[
            "monitor",
            "DC0_C0_H*",
            "--samples",
            "2",
            "--interval",
            "1s",
            "--json",
        ])
        .ok();
    let samples: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(samples.len(), 2);
    let rows = samples[1]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["mem_pct"] == 50.0 && r["cpu_pct"] == 25.37 && r["kind"] == "host")
    );

    // On a terminal: redrawn in place, re-sorted on a key, q quits.
    let mut ceso = sim.ceso();
    ceso.env("TERM", "xterm").env("NO_COLOR", "1");
    let configured = ceso.command();
    configured.args(["monitor", "--interval", "1s", "--sort", "cpu"]);
    let mut command = std::process::Command::new(configured.get_program());
    command.args(configured.get_args());
    for (key, value) in configured.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    let mut p = expectrl::Session::spawn(command).expect("spawn on a pty");
    p.set_expect_timeout(Some(std::time::Duration::from_secs(30)));
    p.expect("sample 1").unwrap();
    p.expect("DC0_C0_RP0_VM0").unwrap();
    p.send("o").unwrap();
    p.expect("sort Name").unwrap();
    p.expect("sample 2").unwrap();
    p.send("q").unwrap();
    let status = p.get_process().wait().expect("wait for monitor");
    assert_eq!(
        format!("{status:?}"),
        format!("Exited(Pid({}), 0)", p.get_process().pid()),
        "q exits 0"
    );
}
