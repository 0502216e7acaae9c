//! `vm update` without I/O: what the user asked for, the VM as read, and the one
//! VirtualMachineConfigSpec that turns one into the other, with its before/after diff.
//! Every refusal (power state, shrinking, secure boot on BIOS) is decided here, before
//! anything is sent.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::network::spec_tree::{leaf, object, put, put_all, write};
use crate::ops::pools::allocation::{self, Allocation, AllocationChange, Resource};
use crate::ops::spec_diff::SpecDiff;
use crate::vim::{Node, ObjectContent, Request};

use super::create::{MAX_CPUS, MAX_MEMORY_MB};
pub use super::update_input::{Cdrom, NewDisk, Provisioning, size_text};

/// The properties a plan is made from.
pub const PATHS: &[&str] = &[
    "runtime.powerState",
    "config.hardware.numCPU",
    "config.hardware.numCoresPerSocket",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.cpuHotAddEnabled",
    "config.memoryHotAddEnabled",
    "config.cpuAllocation",
    "config.memoryAllocation",
    "config.annotation",
    "config.firmware",
    "config.guestId",
    "config.bootOptions",
    "config.files.vmPathName",
    "snapshot",
];

/// VirtualDisk fields in WSDL order (VirtualDevice's, then the disk's).
const DISK: &[&str] = &[
    "key",
    "deviceInfo",
    "backing",
    "connectable",
    "slotInfo",
    "controllerKey",
    "unitNumber",
    "numaNode",
    "deviceGroupInfo",
    "capacityInKB",
    "capacityInBytes",
];

/// VirtualMachineBootOptions fields in WSDL order.
const BOOT: &[&str] = &[
    "bootDelay",
    "enterBIOSSetup",
    "efiSecureBootEnabled",
    "bootRetryEnabled",
    "bootRetryDelay",
    "bootOrder",
    "networkBootProtocol",
];

/// What to change; None (or empty) leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub cpus: Option<i64>,
    pub cores_per_socket: Option<i64>,
    pub memory_mb: Option<i64>,
    pub cpu_hot_add: Option<bool>,
    pub memory_hot_add: Option<bool>,
    pub cpu: AllocationChange,
    pub memory: AllocationChange,
    pub notes: Option<String>,
    /// `bios` or `efi`.
    pub firmware: Option<String>,
    pub secure_boot: Option<bool>,
    pub guest_id: Option<String>,
    /// `disk`, `cdrom`, `net`, `floppy`.
    pub boot_order: Option<Vec<String>>,
    pub boot_delay_ms: Option<i64>,
    pub add_disks: Vec<NewDisk>,
    /// The controller new disks go on (label or key); else the first with a free slot.
    pub disk_controller: Option<String>,
    /// Disk (label or key) and its new size in bytes.
    pub grow_disks: Vec<(String, i64)>,
    pub remove_disks: Vec<String>,
    pub delete_files: bool,
    pub cdrom: Option<Cdrom>,
}

impl UpdateRequest {
    pub fn is_empty(&self) -> bool {
        self.cpus.is_none()
            && self.cores_per_socket.is_none()
            && self.memory_mb.is_none()
            && self.cpu_hot_add.is_none()
            && self.memory_hot_add.is_none()
            && self.cpu.is_empty()
            && self.memory.is_empty()
            && self.notes.is_none()
            && self.firmware.is_none()
            && self.secure_boot.is_none()
            && self.guest_id.is_none()
            && self.boot_order.is_none()
            && self.boot_delay_ms.is_none()
            && self.add_disks.is_empty()
            && self.grow_disks.is_empty()
            && self.remove_disks.is_empty()
            && self.cdrom.is_none()
    }
}

/// The VM as read, in the terms of a plan.
#[derive(Debug, Clone)]
pub struct VmConfig {
    pub name: String,
    pub power_state: String,
    pub cpus: i64,
    pub cores_per_socket: i64,
    pub memory_mb: i64,
    pub cpu_hot_add: bool,
    pub memory_hot_add: bool,
    pub cpu: Allocation,
    pub memory: Allocation,
    pub notes: String,
    pub firmware: String,
    pub guest_id: String,
    pub boot_options: Option<Node>,
    pub devices: Vec<Node>,
    /// The datastore holding the .vmx (where new disks go by default).
    pub datastore: String,
    pub has_snapshots: bool,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            name: String::new(),
            power_state: String::new(),
            cpus: 0,
            cores_per_socket: 1,
            memory_mb: 0,
            cpu_hot_add: false,
            memory_hot_add: false,
            cpu: Allocation::read(None),
            memory: Allocation::read(None),
            notes: String::new(),
            firmware: String::new(),
            guest_id: String::new(),
            boot_options: None,
            devices: Vec::new(),
            datastore: String::new(),
            has_snapshots: false,
        }
    }
}

impl VmConfig {
    pub fn read(name: &str, p: &ObjectContent) -> VmConfig {
        let text = |path: &str| p.str(path).unwrap_or_default().to_string();
        let vmx = text("config.files.vmPathName");
        VmConfig {
            name: name.to_string(),
            power_state: text("runtime.powerState"),
            cpus: p.i64("config.hardware.numCPU").unwrap_or(0),
            cores_per_socket: p.i64("config.hardware.numCoresPerSocket").unwrap_or(1),
            memory_mb: p.i64("config.hardware.memoryMB").unwrap_or(0),
            cpu_hot_add: p.bool("config.cpuHotAddEnabled").unwrap_or(false),
            memory_hot_add: p.bool("config.memoryHotAddEnabled").unwrap_or(false),
            cpu: Allocation::read(p.get("config.cpuAllocation")),
            memory: Allocation::read(p.get("config.memoryAllocation")),
            notes: text("config.annotation"),
            firmware: text("config.firmware"),
            guest_id: text("config.guestId"),
            boot_options: p.get("config.bootOptions").cloned(),
            devices: p
                .get("config.hardware.device")
                .map(|d| d.items().into_iter().cloned().collect())
                .unwrap_or_default(),
            datastore: datastore_of(&vmx).unwrap_or_default().to_string(),
            has_snapshots: p
                .get("snapshot")
                .is_some_and(|s| s.child("rootSnapshotList").is_some()),
        }
    }

    fn powered_off(&self) -> bool {
        self.power_state == "poweredOff"
    }

    fn secure_boot(&self) -> bool {
        self.boot_options
            .as_ref()
            .and_then(|b| b.bool_at("efiSecureBootEnabled"))
            .unwrap_or(false)
    }

    fn boot_delay(&self) -> i64 {
        self.boot_options
            .as_ref()
            .and_then(|b| b.i64_at("bootDelay"))
            .unwrap_or(0)
    }

    fn boot_order(&self) -> Vec<String> {
        self.boot_options
            .as_ref()
            .map(|b| {
                b.children_named("bootOrder")
                    .map(|d| boot_name(d.xsi_type.as_deref().unwrap_or_default()).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn of_kind<'a>(&'a self, pred: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a Node> {
        self.devices
            .iter()
            .filter(move |d| pred(d.xsi_type.as_deref().unwrap_or_default()))
    }

    fn disks(&self) -> impl Iterator<Item = &Node> {
        self.of_kind(|t| t == "VirtualDisk")
    }

    /// A disk by label ("Hard disk 2") or key.
    fn disk(&self, which: &str) -> OpResult<&Node> {
        self.disks()
            .find(|d| label(d).eq_ignore_ascii_case(which) || key(d).to_string() == which)
            .ok_or_else(|| OpError::NotFound {
                kind: "disk",
                name: which.to_string(),
                suggestions: self
                    .disks()
                    .map(|d| format!("{} ({})", label(d), size_text(capacity(d))))
                    .collect(),
            })
    }
}

fn datastore_of(path: &str) -> Option<&str> {
    let rest = path.trim().strip_prefix('[')?;
    rest.split(']').next()
}

fn key(d: &Node) -> i64 {
    d.i64_at("key").unwrap_or(0)
}

fn label(d: &Node) -> &str {
    d.str_at("deviceInfo.label").unwrap_or_default()
}

fn capacity(d: &Node) -> i64 {
    d.i64_at("capacityInBytes")
        .or_else(|| d.i64_at("capacityInKB").map(|kb| kb * 1024))
        .unwrap_or(0)
}

fn boot_name(xsi_type: &str) -> &str {
    match xsi_type {
        "VirtualMachineBootOptionsBootableDiskDevice" => "disk",
        "VirtualMachineBootOptionsBootableCdromDevice" => "cdrom",
        "VirtualMachineBootOptionsBootableEthernetDevice" => "net",
        "VirtualMachineBootOptionsBootableFloppyDevice" => "floppy",
        other => other,
    }
}

/// One deviceChange entry.
#[derive(Debug, Clone)]
struct DeviceEdit {
    operation: &'static str,
    file_operation: Option<&'static str>,
    device: Node,
}

/// The reconfiguration to send, its diff, and what in it destroys something.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatePlan {
    pub vm: String,
    pub power_state: String,
    pub diff: SpecDiff,
    /// Sentences for the question asked before a destructive change.
    pub destructive: Vec<String>,
    #[serde(skip)]
    spec: Spec,
}

#[derive(Debug, Clone, Default)]
struct Spec {
    guest_id: Option<String>,
    annotation: Option<String>,
    num_cpus: Option<i64>,
    cores_per_socket: Option<i64>,
    memory_mb: Option<i64>,
    memory_hot_add: Option<bool>,
    cpu_hot_add: Option<bool>,
    devices: Vec<DeviceEdit>,
    cpu: Option<Allocation>,
    memory: Option<Allocation>,
    boot_options: Option<Node>,
    firmware: Option<String>,
}

impl UpdatePlan {
    pub fn is_empty(&self) -> bool {
        self.diff.is_empty()
    }

    /// The ReconfigVM_Task `spec`, in WSDL order.
    pub fn write(&self, r: &mut Request) {
        let s = &self.spec;
        r.nest("spec", None, |r| {
            r.opt_text("guestId", s.guest_id.as_ref())
                .opt_text("annotation", s.annotation.as_ref())
                .opt_text("numCPUs", s.num_cpus)
                .opt_text("numCoresPerSocket", s.cores_per_socket)
                .opt_text("memoryMB", s.memory_mb)
                .opt_text("memoryHotAddEnabled", s.memory_hot_add)
                .opt_text("cpuHotAddEnabled", s.cpu_hot_add);
            for d in &s.devices {
                r.nest("deviceChange", None, |r| {
                    r.text("operation", d.operation)
                        .opt_text("fileOperation", d.file_operation);
                    write(r, "device", None, &d.device);
                });
            }
            for (field, a) in [("cpuAllocation", &s.cpu), ("memoryAllocation", &s.memory)] {
                if let Some(a) = a {
                    write_allocation(r, field, a);
                }
            }
            if let Some(b) = &s.boot_options {
                write(r, "bootOptions", Some("VirtualMachineBootOptions"), b);
            }
            r.opt_text("firmware", s.firmware.as_ref());
        });
    }
}

fn on_off(v: bool) -> String {
    if v { "on" } else { "off" }.into()
}

/// The plan for `req` on the VM as `vm` shows it, or why it is refused.
pub fn plan(vm: &VmConfig, req: &UpdateRequest) -> OpResult<UpdatePlan> {
    validate(req)?;
    check_power(vm, req)?;
    let mut spec = Spec::default();
    let mut d = SpecDiff::new("ReconfigVM_Task", vm.name.clone(), None);
    let mut destructive = Vec::new();

    if let Some(g) = req.guest_id.as_ref().filter(|g| **g != vm.guest_id) {
        d.edit("guestId", &vm.guest_id, g);
        spec.guest_id = Some(g.clone());
    }
    if let Some(n) = req.notes.as_ref().filter(|n| **n != vm.notes) {
        d.edit("annotation", &vm.notes, n);
        spec.annotation = Some(n.clone());
    }
    let cpus = req.cpus.unwrap_or(vm.cpus);
    if cpus != vm.cpus {
        d.edit("numCPUs", vm.cpus.to_string(), cpus.to_string());
        spec.num_cpus = Some(cpus);
    }
    if let Some(c) = req.cores_per_socket.filter(|c| *c != vm.cores_per_socket) {
        d.edit(
            "numCoresPerSocket",
            vm.cores_per_socket.to_string(),
            c.to_string(),
        );
        spec.cores_per_socket = Some(c);
    }
    let cores = req.cores_per_socket.unwrap_or(vm.cores_per_socket).max(1);
    if cpus % cores != 0 {
        return Err(OpError::Invalid {
            message: format!("{cpus} vCPUs cannot be split in sockets of {cores} cores"),
            hint: Some("the number of CPUs must be a multiple of --cores-per-socket".into()),
        });
    }
    if let Some(m) = req.memory_mb.filter(|m| *m != vm.memory_mb) {
        d.edit(
            "memoryMB",
            format!("{} MB", vm.memory_mb),
            format!("{m} MB"),
        );
        spec.memory_mb = Some(m);
    }
    if let Some(v) = req.memory_hot_add.filter(|v| *v != vm.memory_hot_add) {
        d.edit("memoryHotAddEnabled", on_off(vm.memory_hot_add), on_off(v));
        spec.memory_hot_add = Some(v);
    }
    if let Some(v) = req.cpu_hot_add.filter(|v| *v != vm.cpu_hot_add) {
        d.edit("cpuHotAddEnabled", on_off(vm.cpu_hot_add), on_off(v));
        spec.cpu_hot_add = Some(v);
    }
    plan_disks(vm, req, &mut spec, &mut d, &mut destructive)?;
    plan_cdrom(vm, req, &mut spec, &mut d)?;
    for (resource, change, base, slot) in [
        (Resource::Cpu, &req.cpu, &vm.cpu, &mut spec.cpu),
        (Resource::Memory, &req.memory, &vm.memory, &mut spec.memory),
    ] {
        if change.is_empty() {
            continue;
        }
        let mut after = change.applied_to(resource, base);
        after.check(resource)?;
        if after.shares_level != "custom" {
            after.shares = vm_shares(
                resource,
                &after.shares_level,
                cpus,
                req.memory_mb.unwrap_or(vm.memory_mb),
            );
        }
        if after != *base {
            allocation::diff(&mut d, resource, base, &after);
            *slot = Some(after);
        }
    }
    plan_boot(vm, req, &mut spec, &mut d)?;
    if let Some(f) = req.firmware.as_ref().filter(|f| **f != vm.firmware) {
        d.edit("firmware", &vm.firmware, f);
        spec.firmware = Some(f.clone());
    }
    Ok(UpdatePlan {
        vm: vm.name.clone(),
        power_state: vm.power_state.clone(),
        diff: d,
        destructive,
        spec,
    })
}

/// A VM's shares for a level: per vCPU (500/1000/2000) or per MB of memory (5/10/20).
fn vm_shares(resource: Resource, level: &str, cpus: i64, memory_mb: i64) -> i64 {
    let per = match level {
        "low" => 1,
        "high" => 4,
        _ => 2,
    };
    match resource {
        Resource::Cpu => 500 * per * cpus,
        Resource::Memory => 5 * per * memory_mb,
    }
}

/// The whole allocation, merged with what the VM had: a server that replaces the
/// allocation (rather than merging it) keeps what was not asked for.
fn write_allocation(r: &mut Request, field: &str, a: &Allocation) {
    r.nest(field, None, |r| {
        r.text("reservation", a.reservation)
            .text("limit", a.limit)
            .nest("shares", None, |r| {
                r.text("shares", a.shares).text("level", &a.shares_level);
            });
    });
}

fn validate(req: &UpdateRequest) -> OpResult<()> {
    if let Some(c) = req.cpus
        && !(1..=MAX_CPUS).contains(&c)
    {
        return Err(OpError::Invalid {
            message: format!("--cpu {c} is out of range"),
            hint: Some(format!("a VM has 1 to {MAX_CPUS} vCPUs (vSphere 8 limit)")),
        });
    }
    if let Some(c) = req.cores_per_socket
        && !(1..=MAX_CPUS).contains(&c)
    {
        return Err(OpError::invalid(format!(
            "--cores-per-socket {c} is out of range"
        )));
    }
    if let Some(m) = req.memory_mb
        && (m < 4 || m % 4 != 0 || m > MAX_MEMORY_MB)
    {
        return Err(OpError::Invalid {
            message: format!("--memory {m} MB is not valid"),
            hint: Some(format!(
                "memory is in MB, a multiple of 4 from 4 to {MAX_MEMORY_MB} (24 TB), e.g. 8192"
            )),
        });
    }
    if let Some(f) = &req.firmware
        && f != "bios"
        && f != "efi"
    {
        return Err(OpError::Invalid {
            message: format!("--firmware {f}: unknown firmware"),
            hint: Some("bios or efi".into()),
        });
    }
    if let Some(b) = req.boot_delay_ms
        && !(0..=3_600_000).contains(&b)
    {
        return Err(OpError::invalid(format!(
            "--boot-delay {b}: milliseconds from 0 to 3600000"
        )));
    }
    req.cpu.validate(Resource::Cpu)?;
    req.memory.validate(Resource::Memory)?;
    if req.delete_files && req.remove_disks.is_empty() {
        return Err(OpError::invalid("--delete-files goes with --remove-disk"));
    }
    Ok(())
}

/// What the power state forbids, all of it in one refusal (exit 6) naming each setting.
fn check_power(vm: &VmConfig, req: &UpdateRequest) -> OpResult<()> {
    if vm.powered_off() {
        return Ok(());
    }
    let mut why: Vec<String> = Vec::new();
    let mut needs_off = |given: bool, setting: &str| {
        if given {
            why.push(format!(
                "{setting} can only be changed while the VM is powered off"
            ));
        }
    };
    needs_off(
        req.cores_per_socket
            .is_some_and(|c| c != vm.cores_per_socket),
        "--cores-per-socket",
    );
    needs_off(
        req.firmware.as_ref().is_some_and(|f| *f != vm.firmware),
        "--firmware",
    );
    needs_off(
        req.secure_boot.is_some_and(|s| s != vm.secure_boot()),
        "--secure-boot",
    );
    needs_off(
        req.guest_id.as_ref().is_some_and(|g| *g != vm.guest_id),
        "--guest-id",
    );
    needs_off(
        req.cpu_hot_add.is_some_and(|v| v != vm.cpu_hot_add),
        "--cpu-hot-add",
    );
    needs_off(
        req.memory_hot_add.is_some_and(|v| v != vm.memory_hot_add),
        "--memory-hot-add",
    );
    let state = &vm.power_state;
    let cpu = Hot {
        option: "--cpu",
        what: "vCPUs",
        hot_add: "CPU hot-add",
        unit: "",
    };
    why.extend(cpu.refusal(req.cpus, vm.cpus, vm.cpu_hot_add, state));
    let memory = Hot {
        option: "--memory",
        what: "memory",
        hot_add: "memory hot-add",
        unit: " MB",
    };
    why.extend(memory.refusal(req.memory_mb, vm.memory_mb, vm.memory_hot_add, state));
    if state != "poweredOn"
        && (!req.add_disks.is_empty()
            || !req.grow_disks.is_empty()
            || !req.remove_disks.is_empty()
            || req.cdrom.is_some())
    {
        why.push(format!(
            "disks and the CD-ROM cannot be changed while the VM is {state}"
        ));
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(OpError::refused(
        format!("{} is {state}: {}", vm.name, why.join("; ")),
        format!(
            "stop it first (`ceso vm stop {}`), or leave those settings out; nothing was changed",
            vm.name
        ),
    ))
}

/// A size a running VM can grow only with hot-add enabled, and never shrink.
struct Hot {
    option: &'static str,
    what: &'static str,
    hot_add: &'static str,
    unit: &'static str,
}

impl Hot {
    fn refusal(&self, asked: Option<i64>, now: i64, enabled: bool, state: &str) -> Option<String> {
        let (option, what, unit) = (self.option, self.what, self.unit);
        let asked = asked?;
        if asked < now {
            return Some(format!(
                "{option} {asked}: {what} cannot be removed while the VM is {state} ({now}{unit} now)"
            ));
        }
        if asked > now && (!enabled || state != "poweredOn") {
            return Some(format!(
                "{option} {asked}: {} is {} on this VM, so {what} can only be added while it is powered off",
                self.hot_add,
                if enabled {
                    "enabled but the VM is suspended"
                } else {
                    "disabled"
                }
            ));
        }
        None
    }
}

fn is_kind(t: &str, kinds: &[&str]) -> bool {
    kinds.iter().any(|k| t.contains(k))
}

const SCSI: &[&str] = &["SCSI", "LsiLogic", "BusLogic"];

/// Units a controller of this type offers (SCSI's 7 is the controller itself).
fn units(kind: &str) -> Vec<i64> {
    if is_kind(kind, SCSI) {
        (0..16).filter(|u| *u != 7).collect()
    } else if kind.contains("NVME") {
        (0..15).collect()
    } else if kind.contains("AHCI") {
        (0..30).collect()
    } else if kind.contains("IDE") {
        (0..2).collect()
    } else {
        Vec::new()
    }
}

fn plan_disks(
    vm: &VmConfig,
    req: &UpdateRequest,
    spec: &mut Spec,
    d: &mut SpecDiff,
    destructive: &mut Vec<String>,
) -> OpResult<()> {
    let mut removed: Vec<i64> = Vec::new();
    for which in &req.remove_disks {
        let disk = vm.disk(which)?;
        if removed.contains(&key(disk)) {
            continue;
        }
        removed.push(key(disk));
        let file = disk.str_at("backing.fileName").unwrap_or_default();
        d.unset(
            &format!("device[{}]", label(disk)),
            format!("{} {}", size_text(capacity(disk)), file),
        );
        destructive.push(if req.delete_files {
            format!("remove {} from {} and delete {file}", label(disk), vm.name)
        } else {
            format!(
                "remove {} from {} (its file {file} stays)",
                label(disk),
                vm.name
            )
        });
        spec.devices.push(DeviceEdit {
            operation: "remove",
            file_operation: req.delete_files.then_some("destroy"),
            device: disk.clone(),
        });
    }
    for (which, size) in &req.grow_disks {
        let disk = vm.disk(which)?;
        let now = capacity(disk);
        if removed.contains(&key(disk)) {
            return Err(OpError::invalid(format!(
                "{} is both grown and removed",
                label(disk)
            )));
        }
        if *size < now {
            return Err(OpError::refused(
                format!(
                    "--grow-disk {which}={}: {} is {}, and ceso never shrinks a disk",
                    size_text(*size),
                    label(disk),
                    size_text(now)
                ),
                "give a size at least as large as the disk's (a guest's file system cannot survive shrinking)",
            ));
        }
        if *size == now {
            continue;
        }
        if vm.has_snapshots {
            return Err(OpError::refused(
                format!(
                    "{} has snapshots: vSphere cannot grow {} until they are deleted",
                    vm.name,
                    label(disk)
                ),
                format!("`ceso snapshot list {}`, then delete them", vm.name),
            ));
        }
        let mut device = disk.clone();
        put(&mut device, DISK, leaf("capacityInKB", size / 1024));
        put(&mut device, DISK, leaf("capacityInBytes", size));
        d.edit(
            &format!("device[{}].capacity", label(disk)),
            size_text(now),
            size_text(*size),
        );
        spec.devices.push(DeviceEdit {
            operation: "edit",
            file_operation: None,
            device,
        });
    }
    if req.add_disks.is_empty() {
        return Ok(());
    }
    let controllers: Vec<&Node> = vm
        .of_kind(|t| !units(t).is_empty())
        .filter(|c| match &req.disk_controller {
            Some(want) => label(c).eq_ignore_ascii_case(want) || key(c).to_string() == *want,
            None => !c.xsi_type.as_deref().unwrap_or_default().contains("IDE"),
        })
        .collect();
    if controllers.is_empty() {
        return Err(OpError::NotFound {
            kind: "disk controller",
            name: req
                .disk_controller
                .clone()
                .unwrap_or_else(|| "SCSI, NVMe or SATA".into()),
            suggestions: vm
                .of_kind(|t| !units(t).is_empty())
                .map(|c| label(c).to_string())
                .collect(),
        });
    }
    let mut taken: Vec<(i64, i64)> = vm
        .devices
        .iter()
        .filter(|x| !removed.contains(&key(x)))
        .filter_map(|x| Some((x.i64_at("controllerKey")?, x.i64_at("unitNumber")?)))
        .collect();
    for (i, disk) in req.add_disks.iter().enumerate() {
        let slot = controllers.iter().find_map(|c| {
            let ty = c.xsi_type.as_deref().unwrap_or_default();
            units(ty)
                .into_iter()
                .find(|u| !taken.contains(&(key(c), *u)))
                .map(|u| (*c, u))
        });
        let Some((controller, unit)) = slot else {
            return Err(OpError::refused(
                format!(
                    "{} has no free slot on {} for another disk",
                    vm.name,
                    controllers
                        .iter()
                        .map(|c| label(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "remove a disk, or name another controller with --disk-controller",
            ));
        };
        if vm.power_state == "poweredOn"
            && controller
                .xsi_type
                .as_deref()
                .unwrap_or_default()
                .contains("IDE")
        {
            return Err(OpError::refused(
                format!(
                    "{}: IDE disks cannot be added while the VM is powered on",
                    vm.name
                ),
                "stop the VM, or use a SCSI controller",
            ));
        }
        taken.push((key(controller), unit));
        let datastore = disk
            .datastore
            .clone()
            .unwrap_or_else(|| vm.datastore.clone());
        let new_key = -100 - i64::try_from(i).unwrap_or(0);
        let (thin, eager) = match disk.provisioning {
            Provisioning::Thin => (true, false),
            Provisioning::Thick => (false, false),
            Provisioning::Eager => (false, true),
        };
        let device = Node {
            name: "device".into(),
            xsi_type: Some("VirtualDisk".into()),
            children: vec![
                leaf("key", new_key),
                object(
                    "backing",
                    Some("VirtualDiskFlatVer2BackingInfo"),
                    vec![
                        leaf("fileName", format!("[{datastore}]")),
                        leaf("diskMode", "persistent"),
                        leaf("thinProvisioned", thin),
                        leaf("eagerlyScrub", eager),
                    ],
                ),
                leaf("controllerKey", key(controller)),
                leaf("unitNumber", unit),
                leaf("capacityInKB", disk.size_bytes / 1024),
                leaf("capacityInBytes", disk.size_bytes),
            ],
            ..Node::default()
        };
        d.set(
            &format!("device[new disk {}]", i + 1),
            format!(
                "{} {} on [{datastore}], {} unit {unit}",
                size_text(disk.size_bytes),
                serde_json::to_value(disk.provisioning)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                label(controller)
            ),
        );
        spec.devices.push(DeviceEdit {
            operation: "add",
            file_operation: Some("create"),
            device,
        });
    }
    Ok(())
}

fn plan_cdrom(
    vm: &VmConfig,
    req: &UpdateRequest,
    spec: &mut Spec,
    d: &mut SpecDiff,
) -> OpResult<()> {
    let Some(change) = &req.cdrom else {
        return Ok(());
    };
    let drive = vm.of_kind(|t| t == "VirtualCdrom").next().ok_or_else(|| {
        OpError::refused(
            format!("{} has no CD-ROM drive", vm.name),
            "add one in the vSphere client first; ceso only mounts and ejects",
        )
    })?;
    let before = match drive.path("backing").and_then(|b| b.xsi_type.as_deref()) {
        Some("VirtualCdromIsoBackingInfo") => drive
            .str_at("backing.fileName")
            .unwrap_or_default()
            .to_string(),
        _ => "(no media)".to_string(),
    };
    let on = vm.power_state == "poweredOn";
    let (backing, after) = match change {
        Cdrom::Insert(path) => (
            object(
                "backing",
                Some("VirtualCdromIsoBackingInfo"),
                vec![leaf("fileName", path)],
            ),
            path.clone(),
        ),
        Cdrom::Eject => (
            object(
                "backing",
                Some("VirtualCdromRemotePassthroughBackingInfo"),
                vec![
                    leaf("deviceName", ""),
                    leaf("useAutoDetect", false),
                    leaf("exclusive", false),
                ],
            ),
            "(no media)".to_string(),
        ),
    };
    if before == after {
        return Ok(());
    }
    let inserted = matches!(change, Cdrom::Insert(_));
    let mut device = drive.clone();
    put(&mut device, DISK, backing);
    put(
        &mut device,
        DISK,
        object(
            "connectable",
            None,
            vec![
                leaf("startConnected", inserted),
                leaf("allowGuestControl", true),
                leaf("connected", inserted && on),
            ],
        ),
    );
    d.edit(&format!("device[{}].backing", label(drive)), before, after);
    spec.devices.push(DeviceEdit {
        operation: "edit",
        file_operation: None,
        device,
    });
    Ok(())
}

fn plan_boot(
    vm: &VmConfig,
    req: &UpdateRequest,
    spec: &mut Spec,
    d: &mut SpecDiff,
) -> OpResult<()> {
    let firmware = req.firmware.as_deref().unwrap_or(&vm.firmware);
    // Switching to BIOS turns secure boot off with it, as the vSphere client does.
    let secure = req
        .secure_boot
        .unwrap_or(vm.secure_boot() && firmware == "efi");
    if secure && firmware != "efi" {
        return Err(OpError::Invalid {
            message: format!(
                "secure boot needs EFI firmware, and {} would have {firmware}",
                vm.name
            ),
            hint: Some("add --firmware efi".into()),
        });
    }
    let mut boot = vm
        .boot_options
        .clone()
        .unwrap_or_else(|| object("bootOptions", None, Vec::new()));
    let before_len = d.fields.len();
    if let Some(delay) = req.boot_delay_ms {
        d.edit(
            "bootOptions.bootDelay",
            format!("{} ms", vm.boot_delay()),
            format!("{delay} ms"),
        );
        put(&mut boot, BOOT, leaf("bootDelay", delay));
    }
    if req.secure_boot.is_some() || (firmware != "efi" && vm.secure_boot()) {
        d.edit(
            "bootOptions.efiSecureBootEnabled",
            on_off(vm.secure_boot()),
            on_off(secure),
        );
        put(&mut boot, BOOT, leaf("efiSecureBootEnabled", secure));
    }
    if let Some(order) = &req.boot_order {
        let first_key = |kinds: &dyn Fn(&str) -> bool, what: &str| {
            vm.of_kind(kinds).next().map(key).ok_or_else(|| {
                OpError::invalid(format!("--boot-order {what}: {} has no {what}", vm.name))
            })
        };
        let mut entries = Vec::new();
        for name in order {
            entries.push(match name.as_str() {
                "disk" => object(
                    "bootOrder",
                    Some("VirtualMachineBootOptionsBootableDiskDevice"),
                    vec![leaf(
                        "deviceKey",
                        first_key(&|t| t == "VirtualDisk", "disk")?,
                    )],
                ),
                "net" => object(
                    "bootOrder",
                    Some("VirtualMachineBootOptionsBootableEthernetDevice"),
                    vec![leaf(
                        "deviceKey",
                        first_key(
                            &|t| is_kind(t, &["Vmxnet", "E1000", "Pcnet", "Ethernet", "Sriov"]),
                            "net",
                        )?,
                    )],
                ),
                "cdrom" => object(
                    "bootOrder",
                    Some("VirtualMachineBootOptionsBootableCdromDevice"),
                    Vec::new(),
                ),
                _ => object(
                    "bootOrder",
                    Some("VirtualMachineBootOptionsBootableFloppyDevice"),
                    Vec::new(),
                ),
            });
        }
        let before = vm.boot_order().join(",");
        d.edit(
            "bootOptions.bootOrder",
            if before.is_empty() {
                "(default)".to_string()
            } else {
                before
            },
            order.join(","),
        );
        put_all(&mut boot, BOOT, "bootOrder", entries);
    }
    if d.fields.len() > before_len {
        spec.boot_options = Some(boot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(key: i64, label: &str, gb: i64, unit: i64) -> Node {
        Node {
            name: "VirtualDevice".into(),
            xsi_type: Some("VirtualDisk".into()),
            children: vec![
                leaf("key", key),
                object(
                    "deviceInfo",
                    Some("Description"),
                    vec![leaf("label", label)],
                ),
                object(
                    "backing",
                    Some("VirtualDiskFlatVer2BackingInfo"),
                    vec![leaf("fileName", "[ds] vm/vm.vmdk")],
                ),
                leaf("controllerKey", 1000),
                leaf("unitNumber", unit),
                leaf("capacityInKB", gb << 20),
            ],
            ..Node::default()
        }
    }

    fn vm(power: &str) -> VmConfig {
        VmConfig {
            name: "web".into(),
            power_state: power.into(),
            cpus: 2,
            cores_per_socket: 1,
            memory_mb: 4096,
            firmware: "bios".into(),
            guest_id: "otherGuest".into(),
            datastore: "ds".into(),
            devices: vec![
                Node {
                    name: "VirtualDevice".into(),
                    xsi_type: Some("ParaVirtualSCSIController".into()),
                    children: vec![
                        leaf("key", 1000),
                        object("deviceInfo", None, vec![leaf("label", "SCSI controller 0")]),
                    ],
                    ..Node::default()
                },
                disk(2000, "Hard disk 1", 10, 0),
            ],
            ..VmConfig::default()
        }
    }

    #[test]
    fn a_running_vm_refuses_what_needs_it_off_naming_each_setting() {
        let req = UpdateRequest {
            cpus: Some(4),
            firmware: Some("efi".into()),
            memory_mb: Some(2048),
            ..Default::default()
        };
        let err = plan(&vm("poweredOn"), &req).unwrap_err().to_string();
        assert!(err.contains("--firmware"), "{err}");
        assert!(err.contains("CPU hot-add is disabled"), "{err}");
        assert!(err.contains("memory cannot be removed"), "{err}");
        let mut hot = vm("poweredOn");
        hot.cpu_hot_add = true;
        let p = plan(
            &hot,
            &UpdateRequest {
                cpus: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.diff.lines()[1], "  ~ numCPUs: 2 → 4");
    }

    #[test]
    fn disks_never_shrink_and_new_ones_take_a_free_unit() {
        let v = vm("poweredOff");
        let shrink = UpdateRequest {
            grow_disks: vec![("Hard disk 1".into(), 5 << 30)],
            ..Default::default()
        };
        assert!(matches!(plan(&v, &shrink), Err(OpError::Refused { .. })));
        let add = UpdateRequest {
            add_disks: vec![super::super::update_input::parse_new_disk("1G").unwrap()],
            ..Default::default()
        };
        let p = plan(&v, &add).unwrap();
        let unit = p.spec.devices[0].device.i64_at("unitNumber");
        assert_eq!(unit, Some(1));
        assert!(p.diff.lines()[1].contains("1 GB thin on [ds], SCSI controller 0 unit 1"));
        let mut efi = v.clone();
        efi.firmware = "efi".into();
        efi.boot_options = Some(object(
            "bootOptions",
            None,
            vec![leaf("efiSecureBootEnabled", true)],
        ));
        let to_bios = UpdateRequest {
            firmware: Some("bios".into()),
            ..Default::default()
        };
        let p = plan(&efi, &to_bios).unwrap();
        assert!(
            p.diff
                .lines()
                .contains(&"  ~ bootOptions.efiSecureBootEnabled: on → off".to_string()),
            "{:?}",
            p.diff.lines()
        );
        let secure = UpdateRequest {
            secure_boot: Some(true),
            ..Default::default()
        };
        assert!(matches!(plan(&v, &secure), Err(OpError::Invalid { .. })));
    }
}
