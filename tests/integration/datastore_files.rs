//! `ceso datastore ls|upload|download|rm|mkdir|mv|cp` and `datastore::…` in scripts,
//! read back over the simulator's `/folder` HTTP interface.

use std::path::Path;
use std::process::Command;

use crate::sim::{Sim, exit};

const DS: &str = "LocalDS_0";

/// A datastore file's bytes as the simulator serves them (None: 404), fetched with curl.
fn remote(sim: &Sim, path: &str) -> Option<Vec<u8>> {
    let url = format!(
        "{}/folder/{path}?dcPath=DC0&dsName={DS}",
        sim.url.trim_end_matches("/sdk")
    );
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", &url])
        .output()
        .expect("curl");
    let mut body = out.stdout;
    let split = body.iter().rposition(|b| *b == b'\n').expect("status line");
    let status = String::from_utf8_lossy(&body[split + 1..]).to_string();
    body.truncate(split);
    (status == "200").then_some(body)
}

fn paths(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn datastore_files_from_mkdir_to_rm() {
    let sim = Sim::vcenter();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("small.iso");
    std::fs::write(&local, b"iso bytes").unwrap();
    let local = local.to_str().unwrap();

    // mkdir: --dry-run changes nothing; both path syntaxes name the same folder.
    sim.ceso()
        .run(&["datastore", "mkdir", "LocalDS_0:isos/a", "-p", "--dry-run"])
        .ok()
        .stdout_has("would create folder [LocalDS_0] isos/a");
    sim.ceso()
        .run(&["datastore", "ls", "LocalDS_0:isos"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("ceso datastore ls '[DATASTORE] FOLDER'");
    sim.ceso()
        .run(&["datastore", "mkdir", "[LocalDS_0] isos/a", "-p"])
        .ok();

    // upload: into the folder keeping the name; a second one is refused without --force.
    sim.ceso()
        .run(&["datastore", "upload", local, "LocalDS_0:isos/", "--dry-run"])
        .ok()
        .stdout_has("would upload");
    assert_eq!(remote(&sim, "isos/small.iso"), None);
    let up = sim
        .ceso()
        .run(&["datastore", "upload", local, "LocalDS_0:isos/", "--json"])
        .ok()
        .json();
    assert_eq!(up[0]["remote"], "[LocalDS_0] isos/small.iso");
    assert_eq!(remote(&sim, "isos/small.iso").unwrap(), b"iso bytes");
    std::fs::write(local, b"other bytes").unwrap();
    sim.ceso()
        .run(&["datastore", "upload", local, "LocalDS_0:isos/small.iso"])
        .fails_with(exit::REFUSED)
        .stderr_has("--force");
    assert_eq!(remote(&sim, "isos/small.iso").unwrap(), b"iso bytes");
    sim.ceso()
        .run(&[
            "datastore",
            "upload",
            local,
            "LocalDS_0:isos/small.iso",
            "--force",
        ])
        .ok();
    assert_eq!(remote(&sim, "isos/small.iso").unwrap(), b"other bytes");

    // cp and mv, then ls: a folder, a glob, recursive.
    sim.ceso()
        .run(&[
            "datastore",
            "cp",
            "LocalDS_0:isos/small.iso",
            "LocalDS_0:isos/copy.iso",
        ])
        .ok();
    sim.ceso()
        .run(&[
            "datastore",
            "mv",
            "LocalDS_0:isos/copy.iso",
            "LocalDS_0:isos/a/moved.iso",
        ])
        .ok();
    assert_eq!(remote(&sim, "isos/copy.iso"), None);
    assert_eq!(remote(&sim, "isos/a/moved.iso").unwrap(), b"other bytes");
    let ls = sim
        .ceso()
        .run(&["datastore", "ls", "LocalDS_0:isos", "--json"])
        .ok()
        .json();
    assert_eq!(paths(&ls), ["isos/a", "isos/small.iso"]);
    assert_eq!(ls[0]["kind"], "folder");
    assert_eq!(ls[1]["size"], 11);
    let all = sim
        .ceso()
        .run(&["datastore", "ls", "-R", "LocalDS_0:isos", "--json"])
        .ok()
        .json();
    assert!(paths(&all).contains(&"isos/a/moved.iso".to_string()));
    let glob = sim
        .ceso()
        .run(&["datastore", "ls", "LocalDS_0:isos/*.iso", "--json"])
        .ok()
        .json();
    assert_eq!(paths(&glob), ["isos/small.iso"]);

    // download: the file's bytes; an existing local file is kept without --force.
    let got = tmp.path().join("got.iso");
    let got_s = got.to_str().unwrap();
    sim.ceso()
        .run(&["datastore", "download", "LocalDS_0:isos/small.iso", got_s])
        .ok();
    assert_eq!(std::fs::read(&got).unwrap(), b"other bytes");
    std::fs::write(&got, b"mine").unwrap();
    sim.ceso()
        .run(&["datastore", "download", "LocalDS_0:isos/small.iso", got_s])
        .fails_with(exit::REFUSED);
    assert_eq!(std::fs::read(&got).unwrap(), b"mine");
    let tree = tmp.path().join("tree");
    sim.ceso()
        .run(&[
            "datastore",
            "download",
            "-R",
            "LocalDS_0:isos",
            tree.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(
        std::fs::read(tree.join("isos/a/moved.iso")).unwrap(),
        b"other bytes"
    );

    // rm: asks (refused without a terminal), --dry-run lists, folders need --recursive.
    sim.ceso()
        .run(&["datastore", "rm", "LocalDS_0:isos/*.iso"])
        .fails_with(exit::REFUSED);
    sim.ceso()
        .run(&["datastore", "rm", "LocalDS_0:isos/*.iso", "--dry-run"])
        .ok()
        .stdout_has("would delete [LocalDS_0] isos/small.iso");
    assert!(remote(&sim, "isos/small.iso").is_some());
    sim.ceso()
        .run(&["datastore", "rm", "LocalDS_0:isos", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("--recursive");
    sim.ceso()
        .run(&["--yes", "datastore", "rm", "LocalDS_0:isos/*.iso"])
        .ok();
    assert_eq!(remote(&sim, "isos/small.iso"), None);
    assert!(remote(&sim, "isos/a/moved.iso").is_some());
    sim.ceso()
        .run(&["--yes", "datastore", "rm", "-R", "LocalDS_0:isos"])
        .ok();
    assert_eq!(remote(&sim, "isos/a/moved.iso"), None);

    // Errors: a missing file, an unknown datastore, a path without a datastore.
    sim.ceso()
        .run(&["--yes", "datastore", "rm", "LocalDS_0:isos/nothing"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["datastore", "ls", "LocalDS_9:"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("LocalDS_0");
    sim.ceso()
        .run(&["datastore", "ls", "isos"])
        .fails_with(exit::USAGE)
        .stderr_has("[datastore1] dir/file");

    // The same verbs in a script.
    let script = format!(
        r#"datastore::mkdir("{DS}:s", #{{parents: true}});
           datastore::upload("{local}", "{DS}:s/x.iso");
           datastore::cp("{DS}:s/x.iso", "{DS}:s/y.iso");
           let names = datastore::ls("{DS}:s").map(|f| f.name);
           datastore::rm("{DS}:s/x.iso");
           names"#
    );
    let out = sim.ceso().run(&["--json", "-c", &script]).ok().json();
    assert_eq!(out, serde_json::json!(["x.iso", "y.iso"]));
    assert_eq!(remote(&sim, "s/x.iso"), None);
    assert_eq!(remote(&sim, "s/y.iso").unwrap(), b"other bytes");
}

/// Download `[LocalDS_0] big.bin` to `name` over a part left by an earlier download:
/// `part` bytes, recorded as of a file modified at `modified`. The JSON answer.
fn download_over_part(
    sim: &Sim,
    dir: &Path,
    name: &str,
    part: &[u8],
    size: usize,
    modified: &serde_json::Value,
) -> (serde_json::Value, std::path::PathBuf) {
    let local = dir.join(name);
    let s = local.to_str().unwrap();
    let (part_file, meta) = (format!("{s}.ceso-part"), format!("{s}.ceso-part.json"));
    std::fs::write(&part_file, part).unwrap();
    let record = serde_json::json!({
        "source": "[LocalDS_0] big.bin", "size": size, "modified": modified,
    });
    std::fs::write(&meta, record.to_string()).unwrap();
    let done = sim
        .ceso()
        .run(&["datastore", "download", "LocalDS_0:big.bin", s, "--json"])
        .ok()
        .json();
    assert!(!Path::new(&part_file).exists() && !Path::new(&meta).exists());
    (done, local)
}

#[test]
fn download_resumes_only_the_same_version() {
    let sim = Sim::vcenter();
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let src = tmp.path().join("big.bin");
    std::fs::write(&src, &data).unwrap();
    sim.ceso()
        .run(&[
            "datastore",
            "upload",
            src.to_str().unwrap(),
            "LocalDS_0:big.bin",
        ])
        .ok();
    let listed = sim
        .ceso()
        .run(&["datastore", "ls", "LocalDS_0:big.bin", "--json"])
        .ok()
        .json();
    let modified = listed[0]["modified"].clone();

    // An interrupted download of this version: the rest is fetched with a Range.
    let (done, local) = download_over_part(
        &sim,
        tmp.path(),
        "got.bin",
        &data[..100_000],
        data.len(),
        &modified,
    );
    assert_eq!(done[0]["resumed_from"], 100_000);
    assert_eq!(std::fs::read(&local).unwrap(), data);

    // A part of another version (other mtime) is not spliced in: it starts over.
    let other = serde_json::json!("2001-01-01T00:00:00Z");
    let (done, local) = download_over_part(
        &sim,
        tmp.path(),
        "got2.bin",
        &[0xff; 100_000],
        data.len(),
        &other,
    );
    assert_eq!(done[0]["resumed_from"], 0);
    assert_eq!(std::fs::read(&local).unwrap(), data);
}
