//! `ceso snapshot …` against the simulator.

use crate::sim::{Sim, exit};

const VM: &str = "DC0_H0_VM0";

fn names(list: &serde_json::Value) -> Vec<(i64, String, bool)> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap_or_default(),
                s["name"].as_str().unwrap_or_default().to_string(),
                s["current"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn snapshot_tree_create_revert_delete() {
    let sim = Sim::vcenter();
    let list = || {
        sim.ceso()
            .run(&["snapshot", "list", VM, "--json"])
            .ok()
            .json()
    };
    assert_eq!(names(&list()), vec![]);

    let first = sim
        .ceso()
        .run(&[
            "snapshot",
            "create",
            VM,
            "--name",
            "before",
            "--description",
            "d1",
            "--quiesce",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(first["name"], "before");
    assert_eq!(first["quiesced"], true);
    assert_eq!(first["current"], true);
    let first_id = first["id"].as_i64().unwrap();
    sim.ceso()
        .run(&["snapshot", "create", VM, "--name", "before"])
        .ok();
    sim.ceso()
        .run(&["snapshot", "create", VM, "--name", "other", "--memory"])
        .ok();

    let all = list();
    let tree = names(&all);
    assert_eq!(tree.len(), 3);
    assert_eq!(tree.iter().filter(|(_, _, current)| *current).count(), 1);
    assert_eq!(tree[2].1, "other");
    assert!(tree[2].2, "the newest snapshot is current");
    // Each snapshot is the child of the one before (depth grows).
    let depths: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["depth"].as_i64().unwrap())
        .collect();
    assert_eq!(depths, vec![0, 1, 2]);

    let table = sim.ceso().run(&["snapshot", "list", VM]).ok();
    assert!(table.stdout.contains("← current"), "{}", table.stdout);
    assert!(table.stdout.contains("QUIESCED"), "{}", table.stdout);

    // A repeated name is ambiguous: the error lists the candidates by id.
    let ambiguous = sim
        .ceso()
        .run(&["snapshot", "revert", VM, "before", "--yes"])
        .fails_with(exit::NOT_FOUND);
    ambiguous
        .stderr_has("matches 2 snapshots")
        .stderr_has(&format!("id {first_id}"));
    ambiguous.stderr_has("by its id");

    // Destructive commands ask; without a terminal they need --yes.
    sim.ceso()
        .run(&["snapshot", "revert", VM, &first_id.to_string()])
        .fails_with(exit::REFUSED);
    let dry = sim
        .ceso()
        .run(&["snapshot", "revert", VM, &first_id.to_string(), "--dry-run"])
        .ok();
    assert!(dry.stdout.starts_with("would revert"), "{}", dry.stdout);
    assert!(names(&list())[2].2, "a dry run changes nothing");

    sim.ceso()
        .run(&["snapshot", "revert", VM, &first_id.to_string(), "--yes"])
        .ok();
    let tree = names(&list());
    assert!(
        tree.iter()
            .any(|(id, _, current)| *id == first_id && *current),
        "{tree:?}"
    );

    sim.ceso()
        .run(&["snapshot", "delete", VM, "other", "--yes"])
        .ok();
    assert_eq!(names(&list()).len(), 2);
    sim.ceso()
        .run(&["snapshot", "delete", VM, "nosuch", "--yes"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("snapshot list");

    sim.ceso()
        .run(&["snapshot", "delete", VM, "--all", "--dry-run"])
        .ok();
    assert_eq!(names(&list()).len(), 2);
    sim.ceso()
        .run(&["snapshot", "delete", VM, "--all", "--yes"])
        .ok();
    assert_eq!(names(&list()), vec![]);

    sim.ceso()
        .run(&["snapshot", "create", VM, "--name", ""])
        .fails_with(exit::USAGE);
}

#[test]
fn deleting_a_snapshot_keeps_the_disk_and_children_go_with_children_flag() {
    let sim = Sim::vcenter();
    for name in ["a", "b", "c"] {
        sim.ceso()
            .run(&["snapshot", "create", VM, "--name", name])
            .ok();
    }
    let list = || {
        names(
            &sim.ceso()
                .run(&["snapshot", "list", VM, "--json"])
                .ok()
                .json(),
        )
    };
    // The dry run and the report name the children that go too.
    sim.ceso()
        .run(&["snapshot", "delete", VM, "b", "--children", "--dry-run"])
        .ok()
        .stdout_has("and its children 'c' (id");
    let done = sim
        .ceso()
        .run(&["snapshot", "delete", VM, "b", "--children", "--yes"])
        .ok();
    done.stderr_has("deleted snapshot 'b'")
        .stderr_has("deleted snapshot 'c'");
    let left: Vec<_> = list().into_iter().map(|(_, name, _)| name).collect();
    assert_eq!(left, vec!["a"]);
    let info = sim.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    assert_eq!(
        info["disks"].as_array().map(Vec::len),
        Some(1),
        "the VM keeps its disk"
    );
}
