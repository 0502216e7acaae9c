//! Inventory reads on the simulator made vCenter-faithful in how it applies
//! `TraversalSpec.type`, and on the stock behaviour (`-stock-traversal`, every step
//! followed from every object) that operators meet first: the same answer from both.

use std::collections::BTreeSet;

use crate::sim::{Sim, Soap};

/// RetrievePropertiesEx of `kind`'s name from the root folder through `steps`.
fn walk(soap: &Soap, kind: &str, steps: &str) -> String {
    soap.call(&format!(
        r#"<RetrievePropertiesEx xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>{kind}</type><pathSet>name</pathSet></propSet><objectSet><obj type="Folder">group-d1</obj><skip>true</skip>{steps}</objectSet></specSet><options/></RetrievePropertiesEx>"#
    ))
}

fn step(name: &str, kind: &str, path: &str, next: &[&str]) -> String {
    let next: String = next
        .iter()
        .map(|n| format!("<selectSet><name>{n}</name></selectSet>"))
        .collect();
    format!(
        r#"<selectSet xsi:type="TraversalSpec"><name>{name}</name><type>{kind}</type><path>{path}</path><skip>false</skip>{next}</selectSet>"#
    )
}

#[test]
fn a_traversal_spec_is_followed_only_from_objects_of_its_type() {
    // From the root folder to the datacenter, then a step typed Folder whose path is a
    // Datacenter's: vCenter does not follow it from the datacenter; stock vcsim does.
    let wrong = format!(
        r#"<selectSet xsi:type="TraversalSpec"><name>children</name><type>Folder</type><path>childEntity</path><skip>false</skip>{}</selectSet>"#,
        step("vmFolder", "Folder", "vmFolder", &[])
    );
    // A step typed ComputeResource is followed from clusters (a subtype) too.
    let subtype = [
        step(
            "folder",
            "Folder",
            "childEntity",
            &["folder", "dcHost", "crHost"],
        ),
        step("dcHost", "Datacenter", "hostFolder", &["folder"]),
        step("crHost", "ComputeResource", "host", &[]),
    ]
    .concat();
    let faithful = Sim::vcenter();
    let soap = Soap::login(&faithful);
    let answer = walk(&soap, "Folder", &wrong);
    assert!(answer.contains("RetrievePropertiesExResponse"), "{answer}");
    assert!(!answer.contains(r#"<obj type="Folder">"#), "{answer}");
    // DC0 has a cluster of 3 hosts and a standalone host.
    let hosts = walk(&soap, "HostSystem", &subtype);
    assert_eq!(
        hosts.matches(r#"<obj type="HostSystem">"#).count(),
        4,
        "{hosts}"
    );

    let stock = Sim::start(&["-stock-traversal"]);
    let answer = walk(&Soap::login(&stock), "Folder", &wrong);
    assert_eq!(
        answer.matches(r#"<obj type="Folder">"#).count(),
        1,
        "{answer}"
    );
}

/// (name, host) of every VM `vm list` shows, and the names `host list` shows.
/// With `--no-session-cache` a listing walks the inventory with a traversal; with the
/// cache it reads a ContainerView the session keeps.
fn listed(sim: &Sim, extra: &[&str]) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    let vms = sim
        .ceso()
        .run(&[&["vm", "list", "--json"], extra].concat())
        .ok()
        .json();
    let hosts = sim
        .ceso()
        .run(&[&["host", "list", "--json"], extra].concat())
        .ok()
        .json();
    (
        vms.as_array()
            .expect("a JSON array")
            .iter()
            .map(|vm| (text(vm, "name"), text(vm, "host")))
            .collect(),
        hosts
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|h| text(h, "name"))
            .collect(),
    )
}

#[test]
fn vm_and_host_lists_are_whole_whichever_way_the_server_walks() {
    // A cluster with a child pool and a vApp, standalone hosts, a second datacenter
    // inside a folder.
    let model = [
        "-pool", "1", "-app", "1", "-dc", "2", "-folder", "1", "-vm", "2",
    ];
    let faithful_sim = Sim::start(&model);
    let stock_sim = Sim::start(&[&model[..], &["-stock-traversal"]].concat());
    let faithful = listed(&faithful_sim, &["--no-session-cache"]);
    assert_eq!(faithful, listed(&stock_sim, &["--no-session-cache"]));
    assert_eq!(
        faithful,
        listed(&faithful_sim, &[]),
        "through the session's view"
    );
    assert_eq!(
        faithful,
        listed(&stock_sim, &[]),
        "through the session's view"
    );
    let (vms, hosts) = faithful;
    // What a ContainerView of the root folder holds in this model: 12 VMs; per
    // datacenter 3 cluster hosts and a standalone one.
    assert_eq!(vms.len(), 12, "{vms:?}");
    assert!(vms.iter().all(|(_, host)| !host.is_empty()), "{vms:?}");
    assert_eq!(hosts.len(), 2 * 4, "{hosts:?}");
}
