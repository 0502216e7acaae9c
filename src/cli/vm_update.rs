//! `ceso vm update VM …`: one ReconfigVM_Task for CPUs, memory, allocation, notes,
//! firmware, boot options, disks and the CD-ROM.

use clap::Args;

use crate::ops::OpResult;
use crate::ops::pools::allocation::AllocationChange;
use crate::ops::vms::update_input::{self, Cdrom};
use crate::ops::vms::update_spec::{UpdatePlan, UpdateRequest};
use crate::ops::vms::{self, update};

use super::Ctx;
use super::args::ScopeArgs;
use super::cluster::OnOff;
use super::confirm::confirm;
use super::progress::TermProgress;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The VM
    pub name: String,
    /// Number of vCPUs (adding them to a running VM needs CPU hot-add)
    #[arg(long, value_name = "N")]
    pub cpu: Option<i64>,
    /// Cores per socket (VM powered off)
    #[arg(long, value_name = "N")]
    pub cores_per_socket: Option<i64>,
    /// Memory in MB, a multiple of 4 (adding to a running VM needs memory hot-add)
    #[arg(long, value_name = "MB")]
    pub memory: Option<i64>,
    /// CPU hot-add (VM powered off)
    #[arg(long, value_name = "on|off")]
    pub cpu_hot_add: Option<OnOff>,
    /// Memory hot-add (VM powered off)
    #[arg(long, value_name = "on|off")]
    pub memory_hot_add: Option<OnOff>,
    /// CPU reservation in MHz
    #[arg(long, value_name = "MHZ")]
    pub cpu_reservation: Option<i64>,
    /// CPU limit in MHz, or `unlimited`
    #[arg(long, value_name = "MHZ")]
    pub cpu_limit: Option<String>,
    /// CPU shares: low, normal, high or a number
    #[arg(long, value_name = "SHARES")]
    pub cpu_shares: Option<String>,
    /// Memory reservation in MB
    #[arg(long, value_name = "MB")]
    pub memory_reservation: Option<i64>,
    /// Memory limit in MB, or `unlimited`
    #[arg(long, value_name = "MB")]
    pub memory_limit: Option<String>,
    /// Memory shares: low, normal, high or a number
    #[arg(long, value_name = "SHARES")]
    pub memory_shares: Option<String>,
    /// The VM's notes (annotation); "" clears them
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,
    /// Firmware: bios or efi (VM powered off)
    #[arg(long, value_name = "bios|efi")]
    pub firmware: Option<String>,
    /// EFI secure boot (VM powered off, firmware efi)
    #[arg(long, value_name = "on|off")]
    pub secure_boot: Option<OnOff>,
    /// Guest OS identifier, e.g. ubuntu64Guest (VM powered off)
    #[arg(long, value_name = "ID")]
    pub guest_id: Option<String>,
    /// Boot order, e.g. disk,cdrom,net
    #[arg(long, value_name = "LIST")]
    pub boot_order: Option<String>,
    /// Boot delay in milliseconds
    #[arg(long, value_name = "MS")]
    pub boot_delay: Option<i64>,
    /// Add a disk: SIZE[:thin|thick|eager][@DATASTORE], e.g. 20G:thick@datastore1 (repeatable)
    #[arg(long, value_name = "SPEC")]
    pub add_disk: Vec<String>,
    /// The controller new disks go on (label or key; default: the first SCSI, NVMe or SATA controller with a free slot)
    #[arg(long, value_name = "CONTROLLER")]
    pub disk_controller: Option<String>,
    /// Grow a disk: "DISK=SIZE", e.g. "Hard disk 1=40G" (never shrinks; repeatable)
    #[arg(long, value_name = "DISK=SIZE")]
    pub grow_disk: Vec<String>,
    /// Remove a disk by label or key (asks first unless --yes; repeatable)
    #[arg(long, value_name = "DISK")]
    pub remove_disk: Vec<String>,
    /// With --remove-disk: delete the disk's files too
    #[arg(long, requires = "remove_disk")]
    pub delete_files: bool,
    /// Mount an ISO in the CD-ROM: "[datastore1] iso/x.iso" or ds://datastore1/iso/x.iso
    #[arg(long, value_name = "ISO", conflicts_with = "eject")]
    pub cdrom: Option<String>,
    /// Eject the CD-ROM's media
    #[arg(long)]
    pub eject: bool,
    /// Show the before/after and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

fn on(v: Option<OnOff>) -> Option<bool> {
    v.map(|v| matches!(v, OnOff::On))
}

impl UpdateArgs {
    fn request(&self) -> OpResult<UpdateRequest> {
        let alloc = |prefix: &str, shares: &Option<String>, reservation, limit: &Option<String>| {
            AllocationChange::from_text(
                prefix,
                shares.as_deref(),
                reservation,
                limit.as_deref(),
                None,
            )
        };
        Ok(UpdateRequest {
            cpus: self.cpu,
            cores_per_socket: self.cores_per_socket,
            memory_mb: self.memory,
            cpu_hot_add: on(self.cpu_hot_add),
            memory_hot_add: on(self.memory_hot_add),
            cpu: alloc(
                "--cpu-",
                &self.cpu_shares,
                self.cpu_reservation,
                &self.cpu_limit,
            )?,
            memory: alloc(
                "--memory-",
                &self.memory_shares,
                self.memory_reservation,
                &self.memory_limit,
            )?,
            notes: self.notes.clone(),
            firmware: self.firmware.as_ref().map(|f| f.to_ascii_lowercase()),
            secure_boot: on(self.secure_boot),
            guest_id: self.guest_id.clone(),
            boot_order: self
                .boot_order
                .as_deref()
                .map(update_input::parse_boot_order)
                .transpose()?,
            boot_delay_ms: self.boot_delay,
            add_disks: self
                .add_disk
                .iter()
                .map(|d| update_input::parse_new_disk(d))
                .collect::<OpResult<_>>()?,
            disk_controller: self.disk_controller.clone(),
            grow_disks: self
                .grow_disk
                .iter()
                .map(|g| update_input::parse_grow(g))
                .collect::<OpResult<_>>()?,
            remove_disks: self.remove_disk.clone(),
            delete_files: self.delete_files,
            cdrom: match (&self.cdrom, self.eject) {
                (Some(iso), _) => Some(Cdrom::Insert(update_input::parse_iso(iso)?)),
                (None, true) => Some(Cdrom::Eject),
                (None, false) => None,
            },
        })
    }
}

pub fn run(ctx: &Ctx, args: UpdateArgs) -> OpResult<()> {
    let req = args.request()?;
    let scope = ctx.scope(&args.scope);
    let (vm, plan) = ctx.app.block_on(async {
        let vm = vms::find_vm(&ctx.app.fleet, &scope, &args.name).await?;
        let plan = update::prepare(&vm, &req).await?;
        Ok::<_, crate::ops::OpError>((vm, plan))
    })?;
    if args.dry_run {
        render(ctx, &plan, true, false);
        return Ok(());
    }
    if !plan.destructive.is_empty() {
        confirm(ctx.yes, &capitalized(&plan.destructive.join("; ")))?;
    }
    let progress = TermProgress::new(ctx.out.json);
    let changed = ctx.app.block_on(update::apply(&vm, &plan, &progress))?;
    progress.finish();
    render(ctx, &plan, false, changed);
    Ok(())
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn render(ctx: &Ctx, plan: &UpdatePlan, dry_run: bool, changed: bool) {
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "vm": plan.vm,
            "power_state": plan.power_state,
            "dry_run": dry_run,
            "changed": changed,
            "changes": plan.diff.fields,
            "destructive": plan.destructive,
        }));
        return;
    }
    if plan.is_empty() {
        ctx.out
            .done(&format!("{}: already as asked, nothing to change", plan.vm));
        return;
    }
    if dry_run {
        println!("would reconfigure {} ({}):", plan.vm, plan.power_state);
        for line in plan.diff.lines().iter().skip(1) {
            println!("{line}");
        }
        for what in &plan.destructive {
            println!("  (asks first, unless --yes: {what})");
        }
        return;
    }
    ctx.out.done(&format!("updated {}", plan.vm));
    for line in plan.diff.lines().iter().skip(1) {
        println!("{line}");
    }
}
