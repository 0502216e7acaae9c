//! The simulator's delta disk chains (tests/vcsim/chain.go), which warm migration builds
//! on the target: a VM registered on vmfsSparse deltas (written by ceso's
//! `delta_disk`) reads through the chain, refuses to power on when a parent changed,
//! and ConsolidateVMDisks_Task folds the chain into the base while it runs.

use ceso::backup_repo::Extent;
use ceso::ops::migrate::delta_disk::{self, DeltaLayout};

use crate::sim::{Sim, Soap};

const VM: &str = "ha-host_VM0";
const MIB: usize = 1 << 20;

fn put(sim: &Sim, name: &str, data: &[u8]) {
    sim.put_file_in("ha-datacenter", &format!("{VM}/{name}"), data);
}

fn fill(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

/// Upload a delta named `name` on `parent` holding `disk`'s bytes at `extents`; returns
/// its CID.
fn put_delta(
    sim: &Sim,
    name: &str,
    parent: &str,
    parent_cid: &str,
    disk: &[u8],
    extents: &[Extent],
) -> String {
    let layout = DeltaLayout::new(disk.len() as u64, extents);
    let mut file = layout.metadata();
    for e in layout.extents() {
        file.extend_from_slice(&disk[e.offset as usize..e.end() as usize]);
    }
    let extent = format!("{name}-delta.vmdk");
    put(sim, &extent, &file);
    let cid = delta_disk::new_cid();
    let text = delta_disk::descriptor(&extent, parent, parent_cid, &cid, disk.len() as u64);
    put(sim, &format!("{name}.vmdk"), text.as_bytes());
    cid
}

fn vm_id(sim: &Sim) -> String {
    sim.ceso().run(&["vm", "info", VM, "--json"]).ok().json()["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

fn unregister(soap: &Soap, id: &str) {
    let answer = soap.call(&format!(
        r#"<UnregisterVM xmlns="urn:vim25"><_this type="VirtualMachine">{id}</_this></UnregisterVM>"#
    ));
    assert!(answer.contains("UnregisterVMResponse"), "{answer}");
}

fn consolidate(soap: &Soap, id: &str) {
    if let Err(e) = soap.run_task(&format!(
        r#"<ConsolidateVMDisks_Task xmlns="urn:vim25"><_this type="VirtualMachine">{id}</_this></ConsolidateVMDisks_Task>"#
    )) {
        panic!("ConsolidateVMDisks_Task failed: {e}");
    }
}

fn changed_areas(soap: &Soap, id: &str) -> Vec<(u64, u64)> {
    let answer = soap.call(&format!(
        r#"<QueryChangedDiskAreas xmlns="urn:vim25"><_this type="VirtualMachine">{id}</_this><deviceKey>2000</deviceKey><startOffset>0</startOffset><changeId>*</changeId></QueryChangedDiskAreas>"#
    ));
    let number = |s: &str, tag: &str| -> u64 {
        s.split(&format!("<{tag}>"))
            .nth(1)
            .and_then(|r| r.split('<').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {tag} in {answer}"))
    };
    answer
        .split("<changedArea>")
        .skip(1)
        .map(|a| (number(a, "start"), number(a, "length")))
        .collect()
}

#[test]
fn a_vm_on_a_delta_chain_reads_through_it_and_consolidates_into_its_base() {
    let sim = Sim::start(&["-esx", "-disk-mb", "4"]);
    sim.ceso().run(&["vm", "stop", "--force", VM]).ok();

    // Base: the first MiB written. Two deltas: one writes 3 MiB..3 MiB+64 KiB and part of
    // the first MiB; the next one overwrites part of that.
    let mut disk = vec![0u8; 4 * MIB];
    disk[..MIB].copy_from_slice(&fill(MIB, 1));
    put(&sim, "disk1-flat.vmdk", &disk);
    let base_cid = delta_disk::descriptor_cid(
        &std::fs::read_to_string(sim.local_file(&format!("{VM}/disk1.vmdk"))).unwrap(),
    )
    .expect("the base descriptor's CID");

    let first = [
        Extent::new(3 * MIB as u64, 64 << 10),
        Extent::new(4096, 8192),
    ];
    disk[3 * MIB..3 * MIB + (64 << 10)].copy_from_slice(&fill(64 << 10, 2));
    disk[4096..4096 + 8192].copy_from_slice(&fill(8192, 3));
    let cid1 = put_delta(&sim, "disk1-000001", "disk1.vmdk", &base_cid, &disk, &first);
    let second = [Extent::new(3 * MIB as u64 + 512, 1024)];
    disk[3 * MIB + 512..3 * MIB + 1536].copy_from_slice(&fill(1024, 4));
    put_delta(
        &sim,
        "disk1-000002",
        "disk1-000001.vmdk",
        &cid1,
        &disk,
        &second,
    );

    // Register the VM on the top of the chain, as a copied .vmx naming it would.
    let soap = Soap::login(&sim);
    let id = vm_id(&sim);
    let vmx = std::fs::read_to_string(sim.local_file(&format!("{VM}/{VM}.vmx"))).unwrap();
    unregister(&soap, &id);
    let id = register_on(&sim, &soap, &vmx, "disk1-000002.vmdk");
    let info = sim.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    assert_eq!(
        info["disks"][0]["file"],
        format!("[LocalDS_0] {VM}/disk1-000002.vmdk")
    );
    assert_eq!(info["disks"][0]["capacity_bytes"], 4 * MIB as i64);
    assert!(
        soap.property("VirtualMachine", &id, "runtime.consolidationNeeded")
            .contains(">true<")
    );

    // The disk's content is the chain's: the allocated areas are the base's and the
    // deltas' (64 KiB CBT blocks).
    soap.run_task(&format!(
        r#"<ReconfigVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">{id}</_this><spec><changeTrackingEnabled>true</changeTrackingEnabled></spec></ReconfigVM_Task>"#
    ))
    .expect("change tracking on");
    assert_eq!(info["disks"][0]["key"], 2000);
    assert_eq!(
        changed_areas(&soap, &id),
        vec![(0, MIB as u64), (3 * MIB as u64, 64 << 10)]
    );

    // A parent written after its child was made: power-on refuses the chain.
    let good = std::fs::read(sim.local_file(&format!("{VM}/disk1-000002.vmdk"))).unwrap();
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace(&format!("parentCID={cid1}"), "parentCID=0badc0de");
    put(&sim, "disk1-000002.vmdk", bad.as_bytes());
    sim.ceso()
        .run(&["vm", "start", VM])
        .fails_with(crate::sim::exit::SERVER_FAULT)
        .stderr_has("The parent virtual disk has been modified since the child was created");
    put(&sim, "disk1-000002.vmdk", &good);
    sim.ceso().run(&["vm", "start", VM]).ok();

    // Consolidation while it runs: the base holds the chain's content, the deltas are
    // gone, the disk is on its base.
    consolidate(&soap, &id);
    let base = std::fs::read(sim.local_file(&format!("{VM}/disk1-flat.vmdk"))).unwrap();
    assert!(base == disk, "the base does not hold the chain's content");
    let dir = sim.local_file(&format!("{VM}/disk1.vmdk"));
    for gone in [
        "disk1-000001.vmdk",
        "disk1-000001-delta.vmdk",
        "disk1-000002.vmdk",
        "disk1-000002-delta.vmdk",
    ] {
        assert!(!dir.with_file_name(gone).exists(), "{gone} is left");
    }
    let info = sim.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    assert_eq!(
        info["disks"][0]["file"],
        format!("[LocalDS_0] {VM}/disk1.vmdk")
    );
    assert_eq!(info["power_state"], "poweredOn");
    assert!(
        soap.property("VirtualMachine", &id, "runtime.consolidationNeeded")
            .contains(">false<")
    );
}

/// Register the VM of `sim` on `top` (a descriptor in its folder) instead of disk1.vmdk,
/// as a .vmx naming a delta would; returns its new id.
fn register_on(sim: &Sim, soap: &Soap, vmx: &str, top: &str) -> String {
    put(
        sim,
        &format!("{VM}.vmx"),
        vmx.replace("\"disk1.vmdk\"", &format!("\"{top}\""))
            .as_bytes(),
    );
    soap.run_task(&format!(
        r#"<RegisterVM_Task xmlns="urn:vim25"><_this type="Folder">ha-folder-vm</_this><path>[LocalDS_0] {VM}/{VM}.vmx</path><name>{VM}</name><asTemplate>false</asTemplate><pool type="ResourcePool">ha-root-pool</pool><host type="HostSystem">ha-host</host></RegisterVM_Task>"#
    ))
    .expect("registered on the chain");
    vm_id(sim)
}

#[test]
fn a_round_of_changed_areas_copied_as_a_delta_brings_the_target_to_the_source() {
    // The source's disk after a round: the target holds the base; the areas written
    // since go across as one delta (read with ranges, read back and hashed).
    let a = Sim::start(&["-esx", "-disk-mb", "4"]);
    let b = Sim::start(&["-esx", "-disk-mb", "4"]);
    for sim in [&a, &b] {
        sim.ceso().run(&["vm", "stop", "--force", VM]).ok();
    }
    let mut disk = fill(4 * MIB, 9);
    put(&b, "disk1-flat.vmdk", &disk);
    let written = [
        Extent::new(65536, 65536),
        Extent::new(2 * MIB as u64 + 4096, 100_000),
    ];
    for e in &written {
        let (s, n) = (e.offset as usize, e.len as usize);
        disk[s..s + n].copy_from_slice(&fill(n, 77));
    }
    put(&a, "disk1-flat.vmdk", &disk);

    let base_cid = delta_disk::descriptor_cid(
        &std::fs::read_to_string(b.local_file(&format!("{VM}/disk1.vmdk"))).unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sent = rt.block_on(async {
        let connect = |sim: &Sim| {
            ceso::vim::Client::connect(ceso::vim::ConnectOptions {
                url: sim.url.clone(),
                user: "user".into(),
                password: ceso::vim::Secret::new("pass"),
                tls: ceso::vim::TlsMode::Verify,
                connect_timeout: std::time::Duration::from_secs(5),
                call_timeout: std::time::Duration::from_secs(30),
                ask_password: None,
            })
        };
        let (ca, cb) = (connect(&a).await.unwrap(), connect(&b).await.unwrap());
        let flat =
            ceso::vim::DatastorePath::parse(&format!("[LocalDS_0] {VM}/disk1-flat.vmdk")).unwrap();
        let delta =
            ceso::vim::DatastorePath::parse(&format!("[LocalDS_0] {VM}/disk1-000001-delta.vmdk"))
                .unwrap();
        let source = ceso::ops::migrate::copy::Side {
            client: &ca,
            endpoint: "source",
            datacenter: "ha-datacenter",
            file: &flat,
        };
        let target = ceso::ops::migrate::copy::Side {
            client: &cb,
            endpoint: "target",
            datacenter: "ha-datacenter",
            file: &delta,
        };
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        ceso::ops::migrate::delta_copy::copy_delta(
            &source,
            &target,
            4 * MIB as u64,
            &written,
            &moved,
            None,
            &mut ceso::ops::migrate::copy::Timing::default(),
        )
        .await
        .expect("the delta round");
        moved.load(std::sync::atomic::Ordering::Relaxed)
    });
    // Only the written areas (widened to sectors) crossed.
    assert_eq!(sent, 65536 + 100_352);
    let text = delta_disk::descriptor(
        "disk1-000001-delta.vmdk",
        "disk1.vmdk",
        &base_cid,
        &delta_disk::new_cid(),
        4 * MIB as u64,
    );
    put(&b, "disk1-000001.vmdk", text.as_bytes());

    let soap = Soap::login(&b);
    let id = vm_id(&b);
    let vmx = std::fs::read_to_string(b.local_file(&format!("{VM}/{VM}.vmx"))).unwrap();
    unregister(&soap, &id);
    let id = register_on(&b, &soap, &vmx, "disk1-000001.vmdk");
    b.ceso().run(&["vm", "start", VM]).ok();
    consolidate(&soap, &id);
    let target = std::fs::read(b.local_file(&format!("{VM}/disk1-flat.vmdk"))).unwrap();
    assert!(target == disk, "the target's disk is not the source's");
}
