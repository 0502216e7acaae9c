//! The networking commands, declared: `network`, `vswitch`, `dvs`, `vm nic`.

use clap::{Args, Subcommand};

use crate::ops::network::PolicyInput;

use super::args::ScopeArgs;

/// Security, traffic shaping, teaming and failover. Only what is given changes.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// Promiscuous mode
    #[arg(long, value_name = "accept|reject", help_heading = "Policies")]
    pub promiscuous: Option<String>,
    /// MAC address changes
    #[arg(long, value_name = "accept|reject", help_heading = "Policies")]
    pub mac_changes: Option<String>,
    /// Forged transmits
    #[arg(long, value_name = "accept|reject", help_heading = "Policies")]
    pub forged_transmits: Option<String>,
    /// Traffic shaping: average and peak in kbit/s, burst in KB, or `off` (both directions on a DVS)
    #[arg(long, value_name = "AVG,PEAK,BURST", help_heading = "Policies")]
    pub shaping: Option<String>,
    /// Inbound shaping (distributed port groups)
    #[arg(long, value_name = "AVG,PEAK,BURST", help_heading = "Policies")]
    pub shaping_in: Option<String>,
    /// Outbound shaping (distributed port groups)
    #[arg(long, value_name = "AVG,PEAK,BURST", help_heading = "Policies")]
    pub shaping_out: Option<String>,
    /// Load balancing: srcid, srcmac, ip, explicit, loadbased (DVS only)
    #[arg(long, value_name = "POLICY", help_heading = "Policies")]
    pub load_balancing: Option<String>,
    /// Active uplinks, in order (vmnicN on a vSwitch, uplinkN on a DVS)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NICS",
        help_heading = "Policies"
    )]
    pub active: Option<Vec<String>>,
    /// Standby uplinks, in order
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NICS",
        help_heading = "Policies"
    )]
    pub standby: Option<Vec<String>>,
    /// Uplinks to use neither as active nor standby
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NICS",
        help_heading = "Policies"
    )]
    pub unused: Option<Vec<String>>,
    /// Notify physical switches on failover
    #[arg(long, value_name = "yes|no", help_heading = "Policies")]
    pub notify_switches: Option<String>,
    /// Move traffic back to a recovered active uplink
    #[arg(long, value_name = "yes|no", help_heading = "Policies")]
    pub failback: Option<String>,
    /// Network failure detection
    #[arg(long, value_name = "link|beacon", help_heading = "Policies")]
    pub failure_detection: Option<String>,
    /// Return settings to the switch default: promiscuous, mac-changes, forged-transmits, security, shaping, load-balancing, nic-order, notify-switches, failback, failure-detection, teaming
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SETTING",
        help_heading = "Policies"
    )]
    pub inherit: Vec<String>,
}

impl PolicyArgs {
    pub fn input(&self) -> PolicyInput {
        PolicyInput {
            promiscuous: self.promiscuous.clone(),
            mac_changes: self.mac_changes.clone(),
            forged_transmits: self.forged_transmits.clone(),
            shaping: self.shaping.clone(),
            shaping_in: self.shaping_in.clone(),
            shaping_out: self.shaping_out.clone(),
            load_balancing: self.load_balancing.clone(),
            active: self.active.clone(),
            standby: self.standby.clone(),
            unused: self.unused.clone(),
            notify_switches: self.notify_switches.clone(),
            failback: self.failback.clone(),
            failure_detection: self.failure_detection.clone(),
            inherit: self.inherit.clone(),
        }
    }
}

/// Which hosts: --host, --cluster or --all-hosts.
#[derive(Debug, Clone, Default, Args)]
pub struct HostsArgs {
    /// Every host of this cluster
    #[arg(long, value_name = "CLUSTER", conflicts_with = "host")]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Every network: standard port groups per host, distributed port groups, opaque networks, with VMs
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create a standard port group on one host or many (all-or-nothing)
    Create(PortgroupArgs),
    /// Change a standard port group on one host or many (all-or-nothing)
    Update(PortgroupUpdateArgs),
    /// Delete a standard port group (asks first unless --yes)
    Delete {
        name: String,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        hosts: HostsArgs,
    },
    /// Find inconsistencies: port groups that differ between hosts of a cluster, VMs whose
    /// network is missing on hosts they could move to, switch members without uplinks.
    /// Exit code 0 when consistent, 1 with a report otherwise
    Check {
        /// Only this cluster
        #[arg(long, value_name = "CLUSTER")]
        cluster: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Args)]
pub struct PortgroupArgs {
    pub name: String,
    /// VLAN ID: 0 untagged, 1-4094, 4095 all VLANs (guest tagging)
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(0, Some(4095)))]
    pub vlan_id: Option<i64>,
    /// The vSwitch (default vSwitch0)
    #[arg(long, value_name = "NAME")]
    pub vswitch: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show, per host, the exact before/after of each setting and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub hosts: HostsArgs,
}

#[derive(Debug, Args)]
pub struct PortgroupUpdateArgs {
    pub name: String,
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(0, Some(4095)))]
    pub vlan_id: Option<i64>,
    /// Move the port group to this vSwitch
    #[arg(long, value_name = "NAME")]
    pub vswitch: Option<String>,
    /// New name
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Show, per host, the exact before/after of each setting and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub hosts: HostsArgs,
}

// Parsed once per process; boxing the flags would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum VswitchCommand {
    /// Standard vSwitches per host: MTU, ports, uplinks, port groups
    List {
        #[command(flatten)]
        hosts: HostsArgs,
    },
    /// Create a vSwitch on one host or many (all-or-nothing)
    Create {
        name: String,
        /// Physical NICs to use as uplinks
        #[arg(long, value_delimiter = ',', value_name = "NICS")]
        uplinks: Vec<String>,
        #[arg(long, value_name = "BYTES", value_parser = crate::cli::numbers::int::<i64>(1280, Some(9000)))]
        mtu: Option<i64>,
        #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(0, Some(8192)))]
        ports: Option<i64>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        hosts: HostsArgs,
    },
    /// Delete a vSwitch and its port groups (asks first unless --yes)
    Delete {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        hosts: HostsArgs,
    },
}

#[derive(Debug, Args)]
pub struct DvVlanArgs {
    /// VLAN ID 0-4094
    #[arg(long, value_name = "N", conflicts_with_all = ["trunk", "pvlan"], value_parser = crate::cli::numbers::int::<i64>(0, Some(4094)))]
    pub vlan_id: Option<i64>,
    /// VLAN trunk ranges, e.g. 100-200,300
    #[arg(long, value_name = "RANGES", conflicts_with = "pvlan")]
    pub trunk: Option<String>,
    /// Private VLAN (secondary) ID
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(1, Some(4094)))]
    pub pvlan: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum DvsCommand {
    /// Distributed switches: members, uplinks, port groups, MTU
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// One switch: members with their uplinks, defaults, port groups
    Info {
        name: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create a distributed switch
    Create {
        name: String,
        /// Number of uplink ports (uplink1..uplinkN)
        #[arg(long, default_value_t = 2, value_name = "N", value_parser = crate::cli::numbers::int::<u32>(1, Some(32)))]
        uplinks: u32,
        #[arg(long, value_name = "BYTES", value_parser = crate::cli::numbers::int::<i64>(1280, Some(9000)))]
        mtu: Option<i64>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Change the switch's default policies (inherited by its port groups) and MTU
    Update {
        name: String,
        #[arg(long, value_name = "BYTES", value_parser = crate::cli::numbers::int::<i64>(1280, Some(9000)))]
        mtu: Option<i64>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Delete a distributed switch (asks first unless --yes)
    Delete {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Member hosts and their uplinks
    #[command(subcommand)]
    Host(DvsHostCommand),
    /// Distributed port groups
    #[command(subcommand)]
    Portgroup(DvsPortgroupCommand),
}

#[derive(Debug, Subcommand)]
pub enum DvsHostCommand {
    /// Add hosts (or give members new uplinks)
    Add {
        dvs: String,
        #[arg(required = true)]
        hosts: Vec<String>,
        /// Physical NICs of each host for the switch
        #[arg(long, value_delimiter = ',', value_name = "NICS")]
        uplinks: Vec<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove hosts from the switch
    Remove {
        dvs: String,
        #[arg(required = true)]
        hosts: Vec<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DvsPortgroupCommand {
    /// Port groups of a switch: VLAN / trunk / PVLAN, binding, ports, policies
    List {
        dvs: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create a distributed port group
    Create {
        dvs: String,
        name: String,
        #[command(flatten)]
        vlan: DvVlanArgs,
        #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(0, Some(8192)))]
        ports: Option<i64>,
        /// Port binding
        #[arg(long, value_name = "static|ephemeral")]
        binding: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Change a distributed port group (only what is given changes)
    Update {
        dvs: String,
        name: String,
        #[command(flatten)]
        vlan: DvVlanArgs,
        #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<i64>(0, Some(8192)))]
        ports: Option<i64>,
        #[arg(long, value_name = "static|ephemeral")]
        binding: Option<String>,
        #[arg(long, value_name = "NAME")]
        rename: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Delete a distributed port group (asks first unless --yes)
    Delete {
        dvs: String,
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum NicCommand {
    /// The VM's network adapters: label, type, MAC, network
    List {
        vm: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Add a network adapter
    Add {
        vm: String,
        /// Port group, DV port group, or SWITCH/PORTGROUP
        #[arg(long, value_name = "NAME")]
        network: String,
        /// vmxnet3 (default), e1000e or e1000
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// An SR-IOV adapter (VirtualSriovEthernetCard) on this physical function of the
        /// VM's host (PCI address or selector); ESXi picks a free virtual function
        #[arg(long, value_name = "PF")]
        sriov: Option<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Connect an adapter to another network, keeping its MAC address
    Set {
        vm: String,
        /// Label ("Network adapter 1"), device key or MAC address
        nic: String,
        #[arg(long, value_name = "NAME")]
        network: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove an adapter (asks first unless --yes)
    Remove {
        vm: String,
        nic: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}
