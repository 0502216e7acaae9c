//! Copies and templates against the simulator: `vm clone`, `vm template mark|unmark`,
//! `vm create --from-template`, and the OVF/OVA `vm export` / `vm import` round trip.

use sha2::{Digest, Sha256};

use crate::sim::{Sim, exit};

const SRC: &str = "DC0_C0_RP0_VM0";

/// SHA-256 of the flat extent of a VM's first disk, as `vm info` names it.
fn disk_hash(sim: &Sim, vm: &str) -> String {
    let info = sim.ceso().run(&["vm", "info", vm, "--json"]).ok().json();
    let file = info["disks"][0]["file"]
        .as_str()
        .expect("a disk")
        .to_string();
    let rel = file.split("] ").nth(1).expect("[ds] path");
    let flat = rel.replace(".vmdk", "-flat.vmdk");
    hex(&std::fs::read(sim.local_file(&flat)).expect("flat extent"))
}

fn hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic, non-zero disk content.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn info(sim: &Sim, vm: &str) -> serde_json::Value {
    sim.ceso().run(&["vm", "info", vm, "--json"]).ok().json()
}

#[test]
fn clone_copies_disks_and_lands_where_asked() {
    let sim = Sim::vcenter();
    sim.put_file(&format!("{SRC}/disk1-flat.vmdk"), &content(1 << 20, 7));
    let want = disk_hash(&sim, SRC);
    // --dry-run: the plan, nothing created.
    let plan = sim
        .ceso()
        .run(&[
            "vm",
            "clone",
            SRC,
            "web-2",
            "--host",
            "DC0_C0_H2",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["plan"]["host"], "DC0_C0_H2");
    assert_eq!(plan["plan"]["resource_pool"], "DC0_C0/Resources");
    sim.ceso()
        .run(&["vm", "info", "web-2"])
        .fails_with(exit::NOT_FOUND);

    let made = sim
        .ceso()
        .run(&[
            "vm",
            "clone",
            SRC,
            "web-2",
            "--host",
            "DC0_C0_H2",
            "--power-on",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(made["name"], "web-2");
    let got = info(&sim, "web-2");
    assert_eq!(got["host"], "DC0_C0_H2");
    assert_eq!(got["power_state"], "poweredOn");
    assert_eq!(
        disk_hash(&sim, "web-2"),
        want,
        "the clone has the source's disk"
    );

    // The name is taken now: refused, nothing changed.
    sim.ceso()
        .run(&["vm", "clone", SRC, "web-2"])
        .fails_with(exit::REFUSED)
        .stderr_has("already exists");
    // A host outside the vCenter, a datastore that does not exist: not found.
    sim.ceso()
        .run(&["vm", "clone", SRC, "web-3", "--datastore", "nope"])
        .fails_with(exit::NOT_FOUND);
    // A linked clone needs a snapshot of the source.
    sim.ceso()
        .run(&["vm", "clone", SRC, "web-3", "--linked"])
        .fails_with(exit::REFUSED)
        .stderr_has("has no snapshot");
    sim.ceso()
        .run(&["snapshot", "create", SRC, "--name", "base"])
        .ok();
    sim.ceso()
        .run(&[
            "vm",
            "clone",
            SRC,
            "web-3",
            "--linked",
            "--snapshot",
            "base",
        ])
        .ok()
        .stderr_has("linked clone of DC0_C0_RP0_VM0");
    assert_eq!(info(&sim, "web-3")["name"], "web-3");
}

#[test]
fn templates_mark_unmark_and_create_from_template() {
    let sim = Sim::vcenter();
    // A running VM cannot become a template.
    sim.ceso()
        .run(&["vm", "template", "mark", SRC])
        .fails_with(exit::REFUSED)
        .stderr_has("only a powered-off VM");
    sim.ceso().run(&["vm", "stop", SRC, "--force"]).ok();
    sim.ceso()
        .run(&["vm", "template", "mark", SRC, "--dry-run"])
        .ok()
        .stdout_has("would make");
    assert_eq!(info(&sim, SRC)["template"], false);
    let marked = sim
        .ceso()
        .run(&["vm", "template", "mark", SRC, "--json"])
        .ok()
        .json();
    assert_eq!(marked["changed"], true);
    assert_eq!(info(&sim, SRC)["template"], true);
    // Again: nothing to do, not an error.
    let again = sim
        .ceso()
        .run(&["vm", "template", "mark", SRC, "--json"])
        .ok()
        .json();
    assert_eq!(again["changed"], false);

    // A VM from the template, powered on.
    sim.ceso()
        .run(&[
            "vm",
            "create",
            "from-tpl",
            "--from-template",
            SRC,
            "--power-on",
        ])
        .ok()
        .stderr_has("clone of DC0_C0_RP0_VM0");
    let vm = info(&sim, "from-tpl");
    assert_eq!(vm["template"], false);
    assert_eq!(vm["power_state"], "poweredOn");
    assert_eq!(vm["resource_pool"], "Resources");

    let unmarked = sim
        .ceso()
        .run(&["vm", "template", "unmark", SRC, "--json"])
        .ok()
        .json();
    assert_eq!(unmarked["resource_pool"], "DC0_C0/Resources");
    assert_eq!(info(&sim, SRC)["template"], false);
}

#[test]
fn esxi_refuses_clones_with_the_reason() {
    let sim = Sim::esx();
    sim.ceso()
        .run(&["vm", "clone", "ha-host_VM0", "copy"])
        .fails_with(exit::REFUSED)
        .stderr_has("needs a vCenter");
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "nothing was created"
    );
    // The simulator answers as a real host does when asked anyway.
    let id = info(&sim, "ha-host_VM0")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = crate::sim::Soap::login(&sim).call(&format!(
        r#"<CloneVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">{id}</_this><folder type="Folder">ha-folder-vm</folder><name>copy</name><spec><location/><template>false</template><powerOn>false</powerOn></spec></CloneVM_Task>"#
    ));
    assert!(answer.contains("NotSupported"), "{answer}");
}

/// The flat extent of DC0_H0_VM0, filled with known bytes, the VM powered off.
fn prepared_source(sim: &Sim) -> String {
    sim.put_file("DC0_H0_VM0/disk1-flat.vmdk", &content(1 << 20, 42));
    sim.ceso()
        .run(&["vm", "stop", "DC0_H0_VM0", "--force"])
        .ok();
    disk_hash(sim, "DC0_H0_VM0")
}

#[test]
fn export_then_import_gives_identical_disks_as_ovf_and_ova() {
    let sim = Sim::vcenter();
    let dir = tempfile::tempdir().unwrap();
    let want = prepared_source(&sim);

    // Refused while running, before anything is asked of the server.
    sim.ceso()
        .run(&["vm", "export", "DC0_H0_VM1", dir.path().to_str().unwrap()])
        .fails_with(exit::REFUSED)
        .stderr_has("only a powered-off VM");

    let ovf_dir = dir.path().join("ovf");
    let out = sim
        .ceso()
        .run(&[
            "vm",
            "export",
            "DC0_H0_VM0",
            ovf_dir.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    let files = out["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["DC0_H0_VM0.ovf", "DC0_H0_VM0.mf", "DC0_H0_VM0-disk-0.vmdk"]
    );
    // The disk file is the disk's bytes, and the manifest lists each file's SHA-256.
    assert_eq!(files[2]["sha256"], want.as_str());
    let manifest = std::fs::read_to_string(ovf_dir.join("DC0_H0_VM0.mf")).unwrap();
    assert!(manifest.contains(&format!("SHA256(DC0_H0_VM0-disk-0.vmdk)= {want}")));
    let ovf = std::fs::read(ovf_dir.join("DC0_H0_VM0.ovf")).unwrap();
    assert!(manifest.contains(&format!("SHA256(DC0_H0_VM0.ovf)= {}", hex(&ovf))));
    // Never over an existing package.
    sim.ceso()
        .run(&["vm", "export", "DC0_H0_VM0", ovf_dir.to_str().unwrap()])
        .fails_with(exit::REFUSED)
        .stderr_has("already exists");

    let ovf_file = ovf_dir.join("DC0_H0_VM0.ovf");
    let ovf_path = ovf_file.to_str().unwrap();
    // A dry run checks the package and changes nothing.
    let plan = sim
        .ceso()
        .run(&[
            "vm",
            "import",
            ovf_path,
            "--name",
            "copy-1",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(plan["plan"]["files"][0]["in_manifest"], true);
    sim.ceso()
        .run(&["vm", "info", "copy-1"])
        .fails_with(exit::NOT_FOUND);
    let made = sim
        .ceso()
        .run(&[
            "vm",
            "import",
            ovf_path,
            "--name",
            "copy-1",
            "--network-map",
            "DC0_DVPG0=VM Network",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(made["name"], "copy-1");
    assert_eq!(
        made["nics"][0]["network"], "VM Network",
        "the network was mapped"
    );
    assert_eq!(
        disk_hash(&sim, "copy-1"),
        want,
        "the imported disk is the exported one"
    );

    // The same through one OVA.
    let ova_dir = dir.path().join("ova");
    let out = sim
        .ceso()
        .run(&[
            "vm",
            "export",
            "DC0_H0_VM0",
            ova_dir.to_str().unwrap(),
            "--ova",
            "--json",
        ])
        .ok()
        .json();
    let ova = out["path"].as_str().unwrap().to_string();
    assert!(ova.ends_with("DC0_H0_VM0.ova"));
    assert_eq!(
        std::fs::read_dir(&ova_dir).unwrap().count(),
        1,
        "only the .ova is left"
    );
    sim.ceso()
        .run(&["vm", "import", &ova, "--name", "copy-2", "--power-on"])
        .ok()
        .stderr_has("imported");
    assert_eq!(disk_hash(&sim, "copy-2"), want);
    assert_eq!(info(&sim, "copy-2")["power_state"], "poweredOn");
}

#[test]
fn a_damaged_package_or_a_bad_mapping_imports_nothing() {
    let sim = Sim::vcenter();
    let dir = tempfile::tempdir().unwrap();
    prepared_source(&sim);
    sim.ceso()
        .run(&["vm", "export", "DC0_H0_VM0", dir.path().to_str().unwrap()])
        .ok();
    let ovf = dir.path().join("DC0_H0_VM0.ovf");
    let ovf = ovf.to_str().unwrap();

    // A network the OVF does not have, a target network that does not exist.
    sim.ceso()
        .run(&[
            "vm",
            "import",
            ovf,
            "--name",
            "x",
            "--network-map",
            "nope=VM Network",
        ])
        .fails_with(exit::USAGE)
        .stderr_has("the OVF has no network 'nope'");
    sim.ceso()
        .run(&[
            "vm",
            "import",
            ovf,
            "--name",
            "x",
            "--network-map",
            "DC0_DVPG0=missing",
        ])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("--network-map");

    // One flipped byte in the disk: the upload is checked against the manifest, the
    // lease aborted and the half-imported VM removed by the server.
    let disk = dir.path().join("DC0_H0_VM0-disk-0.vmdk");
    let mut data = std::fs::read(&disk).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&disk, &data).unwrap();
    sim.ceso()
        .run(&["vm", "import", ovf, "--name", "broken"])
        .fails_with(exit::USAGE)
        .stderr_has("does not match the manifest");
    sim.ceso()
        .run(&["vm", "info", "broken"])
        .fails_with(exit::NOT_FOUND);

    // Not an OVF at all.
    let junk = dir.path().join("junk.ovf");
    std::fs::write(&junk, "<html>no</html>").unwrap();
    sim.ceso()
        .run(&["vm", "import", junk.to_str().unwrap()])
        .fails_with(exit::USAGE)
        .stderr_has("Envelope");
}

#[test]
fn scripts_clone_mark_export_and_import_with_the_cli_names() {
    let sim = Sim::vcenter();
    let dir = tempfile::tempdir().unwrap();
    let want = prepared_source(&sim);
    let script = dir.path().join("copies.rhai");
    let out = dir.path().join("pkg");
    std::fs::write(
        &script,
        format!(
            r#"
let c = vm::clone("DC0_C0_RP0_VM1", "s-clone", #{{host: "DC0_C0_H1"}});
print(`${{c.name}}|${{c.host}}`);
let plan = vm::clone("DC0_C0_RP0_VM1", "never", #{{dry_run: true}});
print(plan.dry_run);
print(vm::template_mark("DC0_H0_VM0").changed);
print(vm::template_unmark("DC0_H0_VM0").changed);
let e = vm::export_ovf("DC0_H0_VM0", "{out}", #{{ova: true}});
print(e.files.len());
let i = vm::import_ovf(e.path, #{{name: "s-import"}});
print(i.name);
"#,
            out = out.display()
        ),
    )
    .unwrap();
    // Writing files from a script needs --allow-write.
    sim.ceso()
        .run(&["run", script.to_str().unwrap()])
        .fails_with(exit::REFUSED)
        .stderr_has("--allow-write");
    sim.ceso()
        .run(&["--yes", "vm", "delete", "s-clone", "--force"])
        .ok();
    let run = sim
        .ceso()
        .run(&["run", "--allow-write", script.to_str().unwrap()])
        .ok();
    assert_eq!(
        crate::sim::lines(&run.stdout),
        [
            "s-clone|DC0_C0_H1".to_string(),
            format!("would clone DC0_C0_RP0_VM1 to never on {}", sim.authority()),
            "true".into(),
            "true".into(),
            "true".into(),
            "3".into(),
            "s-import".into(),
        ]
    );
    assert_eq!(disk_hash(&sim, "s-import"), want);
}
