//! The command line, declared (clap derive). Handlers live in one file per noun.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ceso",
    version,
    about = "ESXi Commander: a scriptable shell for VMware vSphere",
    long_about = "ESXi Commander: a scriptable shell for VMware vSphere.\n\nRun a command, `ceso run script.rhai`, or `ceso` alone for the interactive shell.",
    max_term_width = 100
)]
pub struct Cli {
    /// Config file (default: $CESO_CONFIG, then ~/.config/ceso/config.yaml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not ask before destructive changes
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Skip TLS certificate verification on every endpoint (govc's -k; an explicit choice)
    #[arg(short = 'k', long, global = true)]
    pub insecure: bool,
    /// The datacenter to act in, on a vCenter with several (govc's -dc)
    #[arg(
        long = "dc",
        visible_alias = "datacenter",
        global = true,
        value_name = "NAME"
    )]
    pub datacenter: Option<String>,
    /// Log every SOAP request and answer with its timing on stderr, secrets redacted ($CESO_DEBUG)
    #[arg(long, global = true, env = "CESO_DEBUG", value_parser = clap::builder::FalseyValueParser::new())]
    pub debug: bool,
    /// Write the --debug log to FILE instead of stderr (implies --debug)
    #[arg(long, global = true, value_name = "FILE")]
    pub debug_file: Option<PathBuf>,
    /// Cut each body in the --debug log after BYTES
    #[arg(long, global = true, value_name = "BYTES", value_parser = crate::cli::numbers::int::<usize>(0, None))]
    pub debug_max_body: Option<usize>,
    /// Log in afresh and log out at exit instead of reusing the cached session
    #[arg(long, global = true, env = "CESO_NO_SESSION_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_session_cache: bool,
    /// Evaluate a script (usually one expression) and print its value
    #[arg(short = 'c', value_name = "SCRIPT")]
    pub eval: Option<String>,
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Limits and permissions of scripts (default: settings.scripting in the config).
#[derive(Debug, Clone, Default, Args)]
pub struct ScriptArgs {
    /// Stop a script after N operations (endless loops)
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<u64>(0, None))]
    pub max_operations: Option<u64>,
    /// Deepest nesting of function calls
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<usize>(0, None))]
    pub max_call_depth: Option<usize>,
    /// Longest string a script may build, in bytes
    #[arg(long, value_name = "BYTES", value_parser = crate::cli::numbers::int::<usize>(0, None))]
    pub max_string_size: Option<usize>,
    /// Largest array or map a script may build
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<usize>(0, None))]
    pub max_array_size: Option<usize>,
    /// Let scripts run shell commands (shell())
    #[arg(long)]
    pub allow_shell: bool,
    /// Let scripts write files (write_file(), host::add)
    #[arg(long)]
    pub allow_write: bool,
    /// Changing functions only say what they would do
    #[arg(long)]
    pub dry_run: bool,
}

/// Which endpoint(s) a command acts on.
#[derive(Debug, Clone, Default, Args)]
pub struct ScopeArgs {
    /// Endpoint name from the config, or an ESXi host name inside a vCenter
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Act on every configured endpoint, concurrently
    #[arg(long, conflicts_with = "host")]
    pub all_hosts: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configured endpoints and their ESXi hosts
    #[command(subcommand)]
    Host(HostCommand),
    /// Virtual machines
    #[command(subcommand)]
    Vm(VmCommand),
    /// VM snapshots: list, create, revert, delete
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Hot and cold VM backups, CBT incrementals, verify, prune, restore
    #[command(subcommand)]
    Backup(BackupCommand),
    /// PCI devices of the hosts and their passthrough state
    #[command(subcommand)]
    Pci(PciCommand),
    /// GPUs: vGPU profiles the hosts offer
    #[command(subcommand)]
    Gpu(GpuCommand),
    /// Datastores: capacity, free space, hosts and VMs; their files (ls, upload, download, rm…)
    #[command(subcommand)]
    Datastore(DatastoreCommand),
    /// vSphere tasks: recent ones, following them, cancelling one
    #[command(subcommand)]
    Task(super::tasks::TaskCommand),
    /// vSphere events of an object, since a time, of some types; --follow streams them
    Events(super::tasks::EventsArgs),
    /// Resource pools: list, info, create, update, delete
    #[command(subcommand)]
    Rp(super::rp::RpCommand),
    /// vCenter clusters: hosts, DRS and HA settings, capacity
    #[command(subcommand)]
    Cluster(super::cluster::ClusterCommand),
    /// DRS groups and rules, checking them, DRS recommendations
    #[command(subcommand)]
    Drs(super::drs::DrsCommand),
    /// Networks and standard port groups across hosts; `network check`
    #[command(subcommand)]
    Network(super::network_args::NetworkCommand),
    /// Standard vSwitches per host
    #[command(subcommand)]
    Vswitch(super::network_args::VswitchCommand),
    /// Distributed switches, member hosts, distributed port groups
    #[command(subcommand)]
    Dvs(super::network_args::DvsCommand),
    /// Performance statistics; `stats collect` keeps a history
    Stats(super::stats::StatsArgs),
    /// Live view of hosts and VMs: CPU, memory, network, disk latency
    Monitor(super::monitor::MonitorArgs),
    /// Serve vSphere metrics to Prometheus (/metrics), one shared collection per interval
    Exporter(super::exporter::ExporterArgs),
    /// Capacity planning from the collected history
    #[command(subcommand)]
    Capacity(super::capacity::CapacityCommand),
    /// Where a VM would go, and why not elsewhere (placement engine)
    Place(super::placement::PlaceArgs),
    /// Cluster balance: analyze, recommend a migration plan, apply it
    #[command(subcommand)]
    Optimize(super::placement::OptimizeCommand),
    /// The inventory the placement engine reads, as JSON (for offline analysis)
    #[command(subcommand)]
    Inventory(super::placement::InventoryCommand),
    /// Run a Rhai script; the arguments after FILE are the script's (ARGS)
    Run(RunArgs),
    /// Write Rhai definition files (.d.rhai) for editors into DIR
    Defs {
        /// Folder to write into (created if missing)
        dir: PathBuf,
    },
    /// ceso's version, and each connected server's product, API version and build
    Version,
    /// Print a shell completion script: `source <(ceso completions bash)`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Write man pages (ceso.1 and one per subcommand) into DIR, or ceso.1 to stdout
    Man {
        /// Folder to write into (created if missing), e.g. ~/.local/share/man/man1
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl ScriptArgs {
    /// The flags given before `run` (`ceso --dry-run run FILE`) count as well as those
    /// after it.
    pub fn merged(&self, outer: &ScriptArgs) -> ScriptArgs {
        ScriptArgs {
            max_operations: self.max_operations.or(outer.max_operations),
            max_call_depth: self.max_call_depth.or(outer.max_call_depth),
            max_string_size: self.max_string_size.or(outer.max_string_size),
            max_array_size: self.max_array_size.or(outer.max_array_size),
            allow_shell: self.allow_shell || outer.allow_shell,
            allow_write: self.allow_write || outer.allow_write,
            dry_run: self.dry_run || outer.dry_run,
        }
    }
}

impl Command {
    /// The command's own `--dry-run` flag; None for commands that change nothing.
    /// `ceso --dry-run COMMAND` sets it, so the global flag means the same before the
    /// subcommand as after it. Every command is listed (no catch-all): a new changing
    /// command must say here where its flag is.
    pub fn dry_run_flag(&mut self) -> Option<&mut bool> {
        match self {
            Command::Host(cmd) => match cmd {
                HostCommand::Add { dry_run, .. } => Some(dry_run),
                HostCommand::Evacuate(args) => Some(&mut args.dry_run),
                HostCommand::List { .. } | HostCommand::Info { .. } => None,
            },
            Command::Vm(cmd) => match cmd {
                VmCommand::Create(args) => Some(&mut args.dry_run),
                VmCommand::Start(args)
                | VmCommand::Stop(args)
                | VmCommand::Restart(args)
                | VmCommand::Suspend(args) => Some(&mut args.dry_run),
                VmCommand::Delete { dry_run, .. } => Some(dry_run),
                VmCommand::AttachPci(args) => Some(&mut args.dry_run),
                VmCommand::DetachPci(args) => Some(&mut args.dry_run),
                VmCommand::Move(args) => Some(&mut args.dry_run),
                VmCommand::Balance(args) => Some(&mut args.dry_run),
                VmCommand::Migrate(args) => Some(&mut args.dry_run),
                VmCommand::Update(args) => Some(&mut args.dry_run),
                VmCommand::Nic(cmd) => {
                    use super::network_args::NicCommand as N;
                    match cmd {
                        N::Add { dry_run, .. }
                        | N::Set { dry_run, .. }
                        | N::Remove { dry_run, .. } => Some(dry_run),
                        N::List { .. } => None,
                    }
                }
                VmCommand::Clone(args) => Some(&mut args.dry_run),
                VmCommand::Template(cmd) => Some(cmd.dry_run_flag()),
                VmCommand::Import(args) => Some(&mut args.dry_run),
                VmCommand::Export(args) => Some(&mut args.dry_run),
                VmCommand::List { .. } | VmCommand::Info { .. } => None,
            },
            Command::Snapshot(cmd) => match cmd {
                SnapshotCommand::Create { dry_run, .. }
                | SnapshotCommand::Revert { dry_run, .. }
                | SnapshotCommand::Delete { dry_run, .. } => Some(dry_run),
                SnapshotCommand::List { .. } => None,
            },
            Command::Backup(cmd) => match cmd {
                BackupCommand::Create(args) => Some(&mut args.dry_run),
                BackupCommand::Delete { dry_run, .. } => Some(dry_run),
                BackupCommand::Prune(args) => Some(&mut args.dry_run),
                BackupCommand::Restore(args) => Some(&mut args.dry_run),
                BackupCommand::List { .. }
                | BackupCommand::Info { .. }
                | BackupCommand::Verify { .. } => None,
            },
            Command::Pci(cmd) => match cmd {
                PciCommand::Enable(c)
                | PciCommand::Disable(c)
                | PciCommand::Sriov(
                    SriovCommand::Enable { change: c, .. } | SriovCommand::Disable(c),
                ) => Some(&mut c.dry_run),
                PciCommand::List { .. } | PciCommand::Info { .. } => None,
            },
            Command::Gpu(GpuCommand::Profiles { .. } | GpuCommand::Check { .. }) => None,
            Command::Datastore(cmd) => match cmd {
                DatastoreCommand::Upload(a) => Some(&mut a.flags.dry_run),
                DatastoreCommand::Download(a) => Some(&mut a.flags.dry_run),
                DatastoreCommand::Rm(a) => Some(&mut a.dry_run),
                DatastoreCommand::Mkdir(a) => Some(&mut a.dry_run),
                DatastoreCommand::Mv(a) | DatastoreCommand::Cp(a) => Some(&mut a.dry_run),
                DatastoreCommand::List { .. } | DatastoreCommand::Ls(_) => None,
            },
            Command::Task(cmd) => match cmd {
                super::tasks::TaskCommand::Cancel { dry_run, .. } => Some(dry_run),
                super::tasks::TaskCommand::List { .. } => None,
            },
            Command::Events(_) => None,
            Command::Rp(cmd) => {
                use super::rp::RpCommand as R;
                match cmd {
                    R::Create { dry_run, .. }
                    | R::Update { dry_run, .. }
                    | R::Delete { dry_run, .. } => Some(dry_run),
                    R::List { .. } | R::Info { .. } => None,
                }
            }
            Command::Cluster(cmd) => {
                use super::cluster::ClusterCommand as C;
                match cmd {
                    C::Update { dry_run, .. } => Some(dry_run),
                    C::List { .. } | C::Info { .. } => None,
                }
            }
            Command::Drs(cmd) => {
                use super::drs::{DrsCommand as D, GroupCommand as G, RuleCommand as R};
                match cmd {
                    D::Group(
                        G::Create { dry_run, .. }
                        | G::Delete { dry_run, .. }
                        | G::Add { dry_run, .. }
                        | G::Remove { dry_run, .. },
                    )
                    | D::Rule(
                        R::Create { dry_run, .. }
                        | R::Delete { dry_run, .. }
                        | R::Enable { dry_run, .. }
                        | R::Disable { dry_run, .. },
                    )
                    | D::Apply { dry_run, .. } => Some(dry_run),
                    D::Group(G::List { .. })
                    | D::Rule(R::List { .. })
                    | D::Check { .. }
                    | D::Recommendations { .. } => None,
                }
            }
            Command::Network(cmd) => {
                use super::network_args::NetworkCommand as N;
                match cmd {
                    N::Create(args) => Some(&mut args.dry_run),
                    N::Update(args) => Some(&mut args.dry_run),
                    N::Delete { dry_run, .. } => Some(dry_run),
                    N::List { .. } | N::Check { .. } => None,
                }
            }
            Command::Vswitch(cmd) => {
                use super::network_args::VswitchCommand as V;
                match cmd {
                    V::Create { dry_run, .. } | V::Delete { dry_run, .. } => Some(dry_run),
                    V::List { .. } => None,
                }
            }
            Command::Dvs(cmd) => {
                use super::network_args::{
                    DvsCommand as D, DvsHostCommand as H, DvsPortgroupCommand as P,
                };
                match cmd {
                    D::Create { dry_run, .. }
                    | D::Update { dry_run, .. }
                    | D::Delete { dry_run, .. }
                    | D::Host(H::Add { dry_run, .. } | H::Remove { dry_run, .. })
                    | D::Portgroup(
                        P::Create { dry_run, .. }
                        | P::Update { dry_run, .. }
                        | P::Delete { dry_run, .. },
                    ) => Some(dry_run),
                    D::List { .. } | D::Info { .. } | D::Portgroup(P::List { .. }) => None,
                }
            }
            // Reads, and local files (the history database, reports): no vSphere change.
            Command::Stats(_)
            | Command::Monitor(_)
            | Command::Exporter(_)
            | Command::Capacity(_)
            | Command::Place(_)
            | Command::Inventory(_) => None,
            Command::Optimize(cmd) => {
                use super::placement::OptimizeCommand as O;
                match cmd {
                    O::Apply { dry_run, .. } => Some(dry_run),
                    O::Analyze { .. } | O::Recommend { .. } => None,
                }
            }
            Command::Run(args) => Some(&mut args.script.dry_run),
            Command::Defs { .. }
            | Command::Version
            | Command::Completions { .. }
            | Command::Man { .. } => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script (.rhai); `#!/usr/bin/env -S ceso run` as its first line is allowed
    pub file: PathBuf,
    /// Arguments for the script, in ARGS
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// How a PCI device is named on the command line (shared help text).
const DEVICE_HELP: &str =
    "PCI address (0000:3b:00.0), vendor:device (10de:20b7), vendor (nvidia) or GPU model (a100)";

#[derive(Debug, Subcommand)]
pub enum PciCommand {
    /// PCI devices: address, vendor:device, names, class, passthrough state, dependent devices, VM
    List {
        /// Only GPUs and accelerators
        #[arg(long)]
        gpus: bool,
        /// Only devices a VM can be given now (passthrough active, not in use)
        #[arg(long)]
        assignable: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Everything about one device
    Info {
        #[arg(help = DEVICE_HELP)]
        device: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Enable passthrough for a device (and the functions that depend on it)
    Enable(DeviceChange),
    /// Disable passthrough for a device, giving it back to the host (asks first unless --yes)
    Disable(DeviceChange),
    /// SR-IOV virtual functions of a GPU (AMD MxGPU, Intel Flex) or NIC
    #[command(subcommand)]
    Sriov(SriovCommand),
}

#[derive(Debug, Subcommand)]
pub enum SriovCommand {
    /// Enable SR-IOV with N virtual functions (they appear after a host reboot; asks
    /// first unless --yes when ESXi uses the NIC)
    Enable {
        #[command(flatten)]
        change: DeviceChange,
        /// How many virtual functions (1 to the device's maximum)
        #[arg(long, value_name = "N")]
        vfs: u32,
    },
    /// Disable SR-IOV: the virtual functions go at the next reboot (asks first unless --yes)
    Disable(DeviceChange),
}

/// The device a `pci` command changes, with the preview flag and the endpoint(s).
#[derive(Debug, Args)]
pub struct DeviceChange {
    #[arg(help = DEVICE_HELP)]
    pub device: String,
    /// Show what would change and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum DatastoreCommand {
    /// Datastores of the endpoints in scope: type, capacity, free space, hosts, VMs
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Files and folders at a datastore path (`[ds] dir`, `ds:dir/*.iso`)
    Ls(super::datastore_files::LsArgs),
    /// Upload a local file (or folder with --recursive) to a datastore
    Upload(super::datastore_files::UploadArgs),
    /// Download datastore files; an interrupted download resumes
    Download(super::datastore_files::DownloadArgs),
    /// Delete datastore files (folders with --recursive); asks first unless --yes
    Rm(super::datastore_files::RmArgs),
    /// Create a datastore folder
    Mkdir(super::datastore_files::MkdirArgs),
    /// Move or rename a datastore file or folder
    Mv(super::datastore_files::MoveArgs),
    /// Copy a datastore file
    Cp(super::datastore_files::MoveArgs),
}

#[derive(Debug, Subcommand)]
pub enum GpuCommand {
    /// NVIDIA vGPU profiles the hosts offer now, with GPU, framebuffer and VMs using them
    Profiles {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Can a CUDA workload run on the VM's GPU (passthrough or vGPU)? ok/warn/FAIL lines;
    /// exit 0 when compatible, 6 when not
    Check {
        /// The VM, or a device (address, vendor:device, GPU model, vGPU profile) for
        /// "a VM given this device"
        target: String,
        /// The CUDA release the workload needs (`12.4`), from the GPU table's CUDA list
        #[arg(long)]
        cuda: Option<String>,
        /// The guest's NVIDIA driver version (`550.90.07`), checked against the release's minimum
        #[arg(long)]
        driver: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Args)]
pub struct AttachPciArgs {
    /// The VM (powered off)
    pub vm: String,
    #[arg(help = DEVICE_HELP, required_unless_present = "vgpu")]
    pub device: Option<String>,
    /// Dynamic DirectPath: any free device with the same vendor:device, chosen at power-on
    #[arg(long)]
    pub dynamic: bool,
    /// Attach an NVIDIA vGPU of this profile instead of a whole device (see `ceso gpu profiles`)
    #[arg(long, value_name = "PROFILE", conflicts_with = "device")]
    pub vgpu: Option<String>,
    /// A free SR-IOV virtual function of DEVICE (AMD MxGPU, Intel Flex, a NIC) instead of
    /// the whole device
    #[arg(long, requires = "device")]
    pub vf: bool,
    /// Show what would change and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With --host naming an ESXi host: the host whose device is meant
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct DetachPciArgs {
    /// The VM (powered off)
    pub vm: String,
    /// The device: its PCI address, vendor:device, vGPU profile, label ("PCI device 0") or key
    pub device: String,
    /// Remove every device that matches (default: one, e.g. one of several vGPUs)
    #[arg(long)]
    pub all: bool,
    /// Show what would change and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// List hosts of every configured endpoint
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Hardware, capacity, usage, version and state of a host
    Info {
        /// Endpoint name or ESXi host name
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Add an endpoint to the config after checking that it answers
    Add {
        /// Name to refer to it by (--host NAME)
        name: String,
        /// Address or URL (`esx1.lab`, `https://esx1.lab/sdk`, `http://127.0.0.1:8989/sdk`)
        #[arg(long = "host", value_name = "ADDR")]
        address: String,
        /// User to log in as (an ESXi host's administrator, root, unless given)
        #[arg(long, default_value = "root")]
        user: String,
        /// Environment variable holding the password (stored by name only)
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// Command printing the password (stored as given)
        #[arg(long, value_name = "CMD", conflicts_with = "password_env")]
        password_command: Option<String>,
        /// Pin the host's certificate (SHA-256 or SHA-1 thumbprint); `-k`/`--insecure`
        /// instead skips TLS verification for this host
        #[arg(long, conflicts_with = "insecure")]
        thumbprint: Option<String>,
        /// Make it the default endpoint
        #[arg(long)]
        default: bool,
        /// Check the connection and show the change to the config file; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Move every VM off a host (vMotion; --cold for VMs that cannot), then optionally enter maintenance mode (asks unless --yes)
    Evacuate(super::evacuate::EvacuateArgs),
}

#[derive(Debug, Subcommand)]
pub enum VmCommand {
    /// List VMs (name, power state, host, CPUs, memory, guest OS, IP)
    List {
        /// Glob on the VM name, e.g. 'web-*'
        pattern: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Details of one VM
    Info {
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create a VM
    Create(CreateArgs),
    /// Power on
    Start(PowerArgs),
    /// Shut down through the guest (--force: power off at once)
    Stop(PowerArgs),
    /// Reboot through the guest (--force: reset at once)
    Restart(PowerArgs),
    /// Suspend
    Suspend(PowerArgs),
    /// Delete a VM and its files (asks first unless --yes)
    Delete {
        name: String,
        /// Power it off first if it is running
        #[arg(long)]
        force: bool,
        /// Show what would be deleted and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Attach a PCI device or vGPU to a powered-off VM
    AttachPci(AttachPciArgs),
    /// Detach a PCI device or vGPU from a powered-off VM (asks first unless --yes)
    DetachPci(DetachPciArgs),
    /// Move VMs into a resource pool of their cluster or host (MoveIntoResourcePool)
    Move(MoveArgs),
    /// Lower the cluster imbalance: recommend migrations and run them (asks unless --yes)
    Balance(super::placement::BalanceArgs),
    /// Migrate VMs to another host or datastore of their vCenter (vMotion with --live)
    Migrate(MigrateArgs),
    /// The VM's network adapters: list, add, reconnect, remove
    #[command(subcommand)]
    Nic(super::network_args::NicCommand),
    /// Change a VM: CPUs, memory, hot-add, allocation, notes, firmware, boot, disks, CD-ROM (one ReconfigVM)
    Update(Box<super::vm_update::UpdateArgs>),
    /// Copy a VM or template (vCenter): full or linked clone, elsewhere if asked
    Clone(super::vm_clone::CloneArgs),
    /// Templates: mark a powered-off VM as one, or make one a VM again
    #[command(subcommand)]
    Template(super::vm_clone::TemplateCommand),
    /// Import an OVF or OVA as a new VM (disks uploaded through an NFC lease)
    Import(super::vm_ovf::ImportArgs),
    /// Export a powered-off VM to a directory as OVF (or one .ova) with a SHA-256 manifest
    Export(super::vm_ovf::ExportArgs),
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// VM names or globs
    #[arg(required = true)]
    pub names: Vec<String>,
    /// The pool: a path (DC0/Cluster1/Resources/prod) or a unique name
    #[arg(long, value_name = "POOL")]
    pub resource_pool: String,
    /// Show where each VM would go and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("between").args(["cold", "warm"])))]
pub struct MigrateArgs {
    /// VM names or globs
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Target host: a host of the VM's endpoint, or another endpoint (ENDPOINT or
    /// ENDPOINT/HOST), which makes it a cold migration (--cold)
    #[arg(long, value_name = "HOST")]
    pub to_host: String,
    /// Target datastore (default: where the files are)
    #[arg(long, value_name = "DS")]
    pub datastore: Option<String>,
    /// Target resource pool: a path or a unique name
    #[arg(long, value_name = "POOL")]
    pub resource_pool: Option<String>,
    /// Move a powered-on VM while it runs (vMotion)
    #[arg(long)]
    pub live: bool,
    /// Skip ceso's advisory checks (capacity, DRS "should" rules); never the server's
    #[arg(long)]
    pub force: bool,
    /// Between endpoints: copy every file of the VM, register it there, then remove the source
    #[arg(long, conflicts_with = "live")]
    pub cold: bool,
    /// With --cold: shut a running guest down first (it is powered on again on the target)
    #[arg(long, requires = "cold")]
    pub shutdown: bool,
    /// Between endpoints: copy the disks while the VM runs (changed areas in rounds), then
    /// a short cut-over; with --force the guest is powered off instead of shut down
    #[arg(long, conflicts_with = "live")]
    pub warm: bool,
    /// With --warm: cut over at this time (HH:MM UTC, or RFC 3339)
    #[arg(long, value_name = "TIME", requires = "warm")]
    pub cutover_at: Option<String>,
    /// With --warm: cut over once a round's delta is below this size (default 64M)
    #[arg(long, value_name = "SIZE", requires = "warm")]
    pub cutover_when_delta_below: Option<String>,
    /// With --warm: give up after this many delta rounds (default 8)
    #[arg(
        long,
        value_name = "N",
        requires = "warm",
        allow_negative_numbers = true
    )]
    pub max_rounds: Option<i64>,
    /// With --warm: copy at most this many bytes per second on average, e.g. 50M
    #[arg(long, value_name = "RATE", requires = "warm")]
    pub max_rate: Option<String>,
    /// With --cold or --warm: unregister the source but keep its files
    #[arg(long, requires = "between")]
    pub keep_source: bool,
    /// With --cold or --warm: networks to change on the way, OLD=NEW (comma-separated or repeated)
    #[arg(
        long,
        value_name = "OLD=NEW",
        value_delimiter = ',',
        requires = "between"
    )]
    pub network_map: Vec<String>,
    /// Show the plan and every check, change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("gpus").args(["gpu", "vgpu"]).multiple(true)))]
pub struct CreateArgs {
    pub name: String,
    // Negative numbers reach the size checks (numbers::negative_values), which answer
    // them plainly.
    #[arg(long, default_value_t = 1)]
    pub cpu: i64,
    /// Memory in MB
    #[arg(long, default_value_t = 1024)]
    pub memory: i64,
    /// Disk size in GB (0: no disk)
    #[arg(long, default_value_t = 0)]
    pub disk: i64,
    #[arg(long)]
    pub datastore: Option<String>,
    /// Network or port group name
    #[arg(long, conflicts_with = "portgroup")]
    pub network: Option<String>,
    /// A distributed port group: NAME, or SWITCH/NAME checked against that switch
    #[arg(long, value_name = "[DVS/]NAME", value_parser = switch_portgroup)]
    pub portgroup: Option<String>,
    /// Resource pool: a path (DC0/Cluster1/Resources/prod) or a unique name
    #[arg(long, value_name = "POOL")]
    pub resource_pool: Option<String>,
    /// Guest OS identifier (default otherGuest64)
    #[arg(long)]
    pub guest_id: Option<String>,
    /// Give the VM this PCI device (repeatable); checked before anything is created
    #[arg(long, value_name = "DEVICE")]
    pub gpu: Vec<String>,
    /// Give the --gpu devices as Dynamic DirectPath (by vendor:device)
    #[arg(long, requires = "gpu")]
    pub dynamic: bool,
    /// Give the VM an NVIDIA vGPU of this profile (repeatable)
    #[arg(long, value_name = "PROFILE")]
    pub vgpu: Vec<String>,
    /// Refuse (before creating anything) unless this CUDA release runs on the GPUs, as
    /// `gpu check` decides
    #[arg(long, value_name = "X.Y", requires = "gpus")]
    pub cuda: Option<String>,
    /// With --cuda: the guest driver to check against the release's minimum
    #[arg(long, value_name = "VERSION", requires = "cuda")]
    pub driver: Option<String>,
    /// Power the VM on once created
    #[arg(long)]
    pub power_on: bool,
    /// Clone this template instead (vCenter); --datastore, --resource-pool, --host and
    /// --power-on apply, the hardware is the template's
    #[arg(long, value_name = "TEMPLATE", conflicts_with_all = ["gpus", "network", "portgroup", "guest_id"])]
    pub from_template: Option<String>,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// VM names or globs
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Hard power off / reset instead of asking the guest
    #[arg(long)]
    pub force: bool,
    /// Show which VMs would change and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// The VM's snapshot tree (current marked), with age, quiesced and memory
    List {
        vm: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Take a snapshot
    Create {
        vm: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Include the VM's memory (a running VM resumes running on revert)
        #[arg(long)]
        memory: bool,
        /// Flush and freeze the guest file systems first (needs VMware Tools)
        #[arg(long)]
        quiesce: bool,
        /// Show what would be done and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Go back to a snapshot (the current state is lost; asks first unless --yes)
    Revert {
        vm: String,
        /// Snapshot id (see `snapshot list`), name or moref
        snapshot: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Delete a snapshot, or all of them with --all (asks first unless --yes)
    Delete {
        vm: String,
        /// Snapshot id (see `snapshot list`), name or moref
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        snapshot: Option<String>,
        /// Also delete the snapshot's children
        #[arg(long)]
        children: bool,
        /// Delete every snapshot of the VM
        #[arg(long)]
        all: bool,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// Where the backup repository is.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Backup repository directory (default: hot_backup.repository, then
    /// $XDG_DATA_HOME/ceso/backups)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up a VM: its disks (CBT incremental when possible) and configuration
    Create(BackupCreateArgs),
    /// Backups in the repository, oldest first
    List {
        /// Only this VM's (name, UUID or id)
        #[arg(long)]
        vm: Option<String>,
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// One backup in detail
    Info {
        /// Backup id or unique prefix
        id: String,
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Re-read and re-hash every chunk; reports corruption with the backups it affects
    Verify {
        /// Backup id or unique prefix (default: every backup)
        id: Option<String>,
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Delete a backup (asks first unless --yes); its unused chunks go at the next prune
    Delete {
        id: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Keep backups by a retention policy (per VM) and remove the rest and unused chunks
    Prune(PruneArgs),
    /// Restore a backup as a new VM (new UUID and MACs) with byte-identical disks
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    pub vm: String,
    /// Back up a running VM from a snapshot (required when it runs)
    #[arg(long)]
    pub hot: bool,
    /// Quiesce the guest for the snapshot (default: hot_backup.default_quiesce and the
    /// VM's own setting)
    #[arg(long)]
    pub quiesce: bool,
    /// Do not quiesce, whatever the config says
    #[arg(long, conflicts_with = "quiesce")]
    pub no_quiesce: bool,
    /// Read all data even when a CBT incremental is possible
    #[arg(long)]
    pub full: bool,
    /// Read at most this many bytes per second, e.g. 50M (default: hot_backup.max_rate)
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<String>,
    /// Extra Rhai script to run before the backup (after the configured ones)
    #[arg(long, value_name = "SCRIPT")]
    pub pre_hook: Vec<PathBuf>,
    /// Extra Rhai script to run after the backup (after the configured ones)
    #[arg(long, value_name = "SCRIPT")]
    pub post_hook: Vec<PathBuf>,
    /// Show what the backup would do and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep the newest N backups of each VM
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = crate::cli::numbers::int::<u32>(0, None))]
    pub keep_last: u32,
    /// Keep the newest backup of each of the last N days that have one
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = crate::cli::numbers::int::<u32>(0, None))]
    pub keep_daily: u32,
    /// Keep the newest backup of each of the last N weeks that have one
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = crate::cli::numbers::int::<u32>(0, None))]
    pub keep_weekly: u32,
    /// Keep the newest backup of each of the last N months that have one
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = crate::cli::numbers::int::<u32>(0, None))]
    pub keep_monthly: u32,
    /// Only this VM's backups (name, UUID or id)
    #[arg(long)]
    pub vm: Option<String>,
    /// Show what would be removed and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup id or unique prefix
    pub id: String,
    /// Name of the new VM
    #[arg(long, value_name = "NAME")]
    pub as_new: String,
    #[arg(long)]
    pub datastore: Option<String>,
    /// Start the VM once restored
    #[arg(long)]
    pub power_on: bool,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// `--portgroup DVS/NAME`: both parts given.
fn switch_portgroup(text: &str) -> Result<String, String> {
    match text.split_once('/') {
        Some((switch, name)) if !switch.is_empty() && !name.is_empty() => Ok(text.to_string()),
        // The spec's `--portgroup <pg-name>`: names are unique per datacenter.
        None if !text.trim().is_empty() => Ok(text.to_string()),
        _ => Err(format!(
            "'{text}' is not PORTGROUP or SWITCH/PORTGROUP (e.g. DSwitch/prod-100)"
        )),
    }
}
