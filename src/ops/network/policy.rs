//! Port group and switch policies: security, traffic shaping, teaming and failover.
//!
//! One change type (`PolicyChange`, built from flags or script options) is applied to
//! either wire form: a standard switch's `HostNetworkPolicy` (unset = inherit from the
//! vSwitch) or a distributed `VMwareDVSPortSetting` (every setting carries `inherited`).
//! Only the settings named change; the rest of the tree is left as the server sent it.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::vim::Node;

use super::spec_tree::{child_mut, leaf, object, put, put_all, remove};

/// A setting given a value, or handed back to the switch default (`--inherit`).
#[derive(Debug, Clone, PartialEq)]
pub enum Setting<T> {
    Set(T),
    Inherit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shaping {
    Off,
    /// kbit/s, kbit/s, KB (as the vSphere client shows them).
    On {
        average_kbps: u64,
        peak_kbps: u64,
        burst_kb: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancing {
    SrcId,
    SrcMac,
    Ip,
    Explicit,
    LoadBased,
}

impl LoadBalancing {
    pub fn api(self) -> &'static str {
        match self {
            LoadBalancing::SrcId => "loadbalance_srcid",
            LoadBalancing::SrcMac => "loadbalance_srcmac",
            LoadBalancing::Ip => "loadbalance_ip",
            LoadBalancing::Explicit => "failover_explicit",
            LoadBalancing::LoadBased => "loadbalance_loadbased",
        }
    }

    pub fn parse(text: &str) -> OpResult<Self> {
        Ok(match text {
            "srcid" | "loadbalance_srcid" => LoadBalancing::SrcId,
            "srcmac" | "loadbalance_srcmac" => LoadBalancing::SrcMac,
            "ip" | "loadbalance_ip" => LoadBalancing::Ip,
            "explicit" | "failover_explicit" => LoadBalancing::Explicit,
            "loadbased" | "loadbalance_loadbased" => LoadBalancing::LoadBased,
            other => {
                return Err(OpError::Invalid {
                    message: format!("'{other}' is not a load-balancing policy"),
                    hint: Some(
                        "use srcid, srcmac, ip, explicit or loadbased (distributed switches only)"
                            .into(),
                    ),
                });
            }
        })
    }

    /// The short name ceso shows for an API value.
    pub fn short(api: &str) -> &str {
        match api {
            "loadbalance_srcid" => "srcid",
            "loadbalance_srcmac" => "srcmac",
            "loadbalance_ip" => "ip",
            "failover_explicit" => "explicit",
            "loadbalance_loadbased" => "loadbased",
            other => other,
        }
    }
}

/// What a command asks to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyChange {
    pub promiscuous: Option<Setting<bool>>,
    pub mac_changes: Option<Setting<bool>>,
    pub forged_transmits: Option<Setting<bool>>,
    /// Outbound shaping (the only direction of a standard switch).
    pub shaping: Option<Setting<Shaping>>,
    /// Inbound shaping, distributed switches only.
    pub shaping_in: Option<Setting<Shaping>>,
    pub load_balancing: Option<Setting<LoadBalancing>>,
    pub active: Option<Vec<String>>,
    pub standby: Option<Vec<String>>,
    pub unused: Option<Vec<String>>,
    pub nic_order_inherit: bool,
    pub notify_switches: Option<Setting<bool>>,
    pub failback: Option<Setting<bool>>,
    /// true: beacon probing; false: link status only.
    pub beacon: Option<Setting<bool>>,
}

/// Policy options as users type them (CLI flags, script map keys), parsed in one place.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub promiscuous: Option<String>,
    pub mac_changes: Option<String>,
    pub forged_transmits: Option<String>,
    pub shaping: Option<String>,
    pub shaping_in: Option<String>,
    pub shaping_out: Option<String>,
    pub load_balancing: Option<String>,
    pub active: Option<Vec<String>>,
    pub standby: Option<Vec<String>>,
    pub unused: Option<Vec<String>>,
    pub notify_switches: Option<String>,
    pub failback: Option<String>,
    pub failure_detection: Option<String>,
    pub inherit: Vec<String>,
}

const INHERITABLE: &str = "promiscuous, mac-changes, forged-transmits, security, shaping, shaping-in, shaping-out, load-balancing, nic-order, notify-switches, failback, failure-detection, teaming";

impl PolicyInput {
    pub fn parse(&self) -> OpResult<PolicyChange> {
        let mut c = PolicyChange {
            promiscuous: opt(&self.promiscuous, |v| accept_reject("--promiscuous", v))?,
            mac_changes: opt(&self.mac_changes, |v| accept_reject("--mac-changes", v))?,
            forged_transmits: opt(&self.forged_transmits, |v| {
                accept_reject("--forged-transmits", v)
            })?,
            shaping: opt(
                &self.shaping_out.clone().or(self.shaping.clone()),
                parse_shaping,
            )?,
            shaping_in: opt(
                &self.shaping_in.clone().or(self.shaping.clone()),
                parse_shaping,
            )?,
            load_balancing: opt(&self.load_balancing, LoadBalancing::parse)?,
            active: self.active.clone().map(split_list),
            standby: self.standby.clone().map(split_list),
            unused: self.unused.clone().map(split_list),
            nic_order_inherit: false,
            notify_switches: opt(&self.notify_switches, |v| yes_no("--notify-switches", v))?,
            failback: opt(&self.failback, |v| yes_no("--failback", v))?,
            beacon: opt(&self.failure_detection, |v| match v {
                "beacon" => Ok(true),
                "link" => Ok(false),
                other => Err(OpError::invalid(format!(
                    "--failure-detection: '{other}' is not link or beacon"
                ))),
            })?,
        };
        for name in self.inherit.iter().flat_map(|s| s.split(',')) {
            let i = Some(Setting::Inherit);
            match name.trim() {
                "promiscuous" => c.promiscuous = i,
                "mac-changes" => c.mac_changes = i,
                "forged-transmits" => c.forged_transmits = i,
                "security" => {
                    c.promiscuous = i.clone();
                    c.mac_changes = i.clone();
                    c.forged_transmits = i;
                }
                "shaping" => {
                    c.shaping = Some(Setting::Inherit);
                    c.shaping_in = Some(Setting::Inherit);
                }
                "shaping-out" => c.shaping = Some(Setting::Inherit),
                "shaping-in" => c.shaping_in = Some(Setting::Inherit),
                "load-balancing" => c.load_balancing = Some(Setting::Inherit),
                "nic-order" => c.nic_order_inherit = true,
                "notify-switches" => c.notify_switches = i,
                "failback" => c.failback = i,
                "failure-detection" => c.beacon = i,
                "teaming" => {
                    c.load_balancing = Some(Setting::Inherit);
                    c.nic_order_inherit = true;
                    c.notify_switches = i.clone();
                    c.failback = i.clone();
                    c.beacon = i;
                }
                "" => {}
                other => {
                    return Err(OpError::Invalid {
                        message: format!("--inherit: '{other}' is not a policy setting"),
                        hint: Some(format!("one of: {INHERITABLE}")),
                    });
                }
            }
        }
        if c.nic_order_inherit && (c.active.is_some() || c.standby.is_some() || c.unused.is_some())
        {
            return Err(OpError::invalid(
                "--inherit nic-order cannot be combined with --active/--standby/--unused",
            ));
        }
        Ok(c)
    }
}

fn opt<T>(
    value: &Option<String>,
    parse: impl Fn(&str) -> OpResult<T>,
) -> OpResult<Option<Setting<T>>> {
    value
        .as_deref()
        .map(|v| parse(v.trim()).map(Setting::Set))
        .transpose()
}

fn split_list(values: Vec<String>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

fn accept_reject(flag: &str, value: &str) -> OpResult<bool> {
    match value {
        "accept" | "true" | "yes" => Ok(true),
        "reject" | "false" | "no" => Ok(false),
        other => Err(OpError::invalid(format!(
            "{flag}: '{other}' is not accept or reject"
        ))),
    }
}

fn yes_no(flag: &str, value: &str) -> OpResult<bool> {
    match value {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        other => Err(OpError::invalid(format!(
            "{flag}: '{other}' is not yes or no"
        ))),
    }
}

/// `average,peak,burst` (kbit/s, kbit/s, KB) or `off`. Peak below average is refused.
pub fn parse_shaping(text: &str) -> OpResult<Shaping> {
    if text == "off" {
        return Ok(Shaping::Off);
    }
    let bad = || OpError::Invalid {
        message: format!("--shaping: '{text}' is not average,peak,burst"),
        hint: Some(
            "give kbit/s, kbit/s and KB, e.g. --shaping 100000,200000,102400, or `off`".into(),
        ),
    };
    let parts: Vec<u64> = text
        .split(',')
        .map(|p| p.trim().parse::<u64>().map_err(|_| bad()))
        .collect::<OpResult<_>>()?;
    let [average_kbps, peak_kbps, burst_kb] = parts[..] else {
        return Err(bad());
    };
    if average_kbps == 0 {
        return Err(OpError::invalid(
            "--shaping: the average bandwidth must be above 0",
        ));
    }
    if peak_kbps < average_kbps {
        return Err(OpError::Invalid {
            message: format!(
                "--shaping: peak {peak_kbps} kbit/s is below the average {average_kbps} kbit/s"
            ),
            hint: Some("the peak bandwidth must be at least the average".into()),
        });
    }
    Ok(Shaping::On {
        average_kbps,
        peak_kbps,
        burst_kb,
    })
}

/// A policy as read back, for display, diffs and consistency checks. `None` = inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    pub promiscuous: Option<bool>,
    pub mac_changes: Option<bool>,
    pub forged_transmits: Option<bool>,
    pub shaping: Option<ShapingView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shaping_in: Option<ShapingView>,
    pub load_balancing: Option<String>,
    pub active: Option<Vec<String>>,
    pub standby: Option<Vec<String>>,
    pub notify_switches: Option<bool>,
    pub failback: Option<bool>,
    pub failure_detection: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShapingView {
    pub enabled: bool,
    pub average_kbps: u64,
    pub peak_kbps: u64,
    pub burst_kb: u64,
}

impl ShapingView {
    fn show(&self) -> String {
        if self.enabled {
            format!(
                "{},{},{} (kbit/s, kbit/s, KB)",
                self.average_kbps, self.peak_kbps, self.burst_kb
            )
        } else {
            "off".into()
        }
    }
}

impl PolicyView {
    /// Every setting as (name, value) with "inherit" for inherited ones; the names are
    /// the flags that change them.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let ar = |v: Option<bool>| match v {
            Some(true) => "accept".to_string(),
            Some(false) => "reject".to_string(),
            None => "inherit".to_string(),
        };
        let yn = |v: Option<bool>| match v {
            Some(true) => "yes".to_string(),
            Some(false) => "no".to_string(),
            None => "inherit".to_string(),
        };
        let list = |v: &Option<Vec<String>>| match v {
            Some(l) if l.is_empty() => "(none)".to_string(),
            Some(l) => l.join(","),
            None => "inherit".to_string(),
        };
        let shaping =
            |v: &Option<ShapingView>| v.as_ref().map_or("inherit".into(), ShapingView::show);
        let mut out = vec![
            ("promiscuous", ar(self.promiscuous)),
            ("mac-changes", ar(self.mac_changes)),
            ("forged-transmits", ar(self.forged_transmits)),
            ("shaping", shaping(&self.shaping)),
        ];
        if self.shaping_in.is_some() {
            out.push(("shaping-in", shaping(&self.shaping_in)));
        }
        out.extend([
            (
                "load-balancing",
                self.load_balancing
                    .as_deref()
                    .map_or("inherit".into(), |l| LoadBalancing::short(l).to_string()),
            ),
            ("active", list(&self.active)),
            ("standby", list(&self.standby)),
            ("notify-switches", yn(self.notify_switches)),
            ("failback", yn(self.failback)),
            (
                "failure-detection",
                self.failure_detection
                    .clone()
                    .unwrap_or_else(|| "inherit".into()),
            ),
        ]);
        out
    }
}

// ---------------------------------------------------------------------------
// Standard switches: HostNetworkPolicy.

const HOST_POLICY: &[&str] = &["security", "nicTeaming", "offloadPolicy", "shapingPolicy"];
const HOST_SECURITY: &[&str] = &["allowPromiscuous", "macChanges", "forgedTransmits"];
const HOST_TEAMING: &[&str] = &[
    "policy",
    "reversePolicy",
    "notifySwitches",
    "rollingOrder",
    "failureCriteria",
    "nicOrder",
];
const HOST_FAILURE: &[&str] = &[
    "checkSpeed",
    "speed",
    "checkDuplex",
    "fullDuplex",
    "checkErrorPercent",
    "percentage",
    "checkBeacon",
];
const HOST_ORDER: &[&str] = &["activeNic", "standbyNic"];

fn texts(node: Option<&Node>, name: &str) -> Vec<String> {
    node.map(|n| n.children_named(name).map(|c| c.text.clone()).collect())
        .unwrap_or_default()
}

/// Read a `HostNetworkPolicy` (a port group's spec.policy, or a vSwitch's).
pub fn read_host_policy(policy: Option<&Node>) -> PolicyView {
    let Some(p) = policy else {
        return PolicyView::default();
    };
    let teaming = p.child("nicTeaming");
    let order = teaming.and_then(|t| t.child("nicOrder"));
    PolicyView {
        promiscuous: p.bool_at("security.allowPromiscuous"),
        mac_changes: p.bool_at("security.macChanges"),
        forged_transmits: p.bool_at("security.forgedTransmits"),
        shaping: p.child("shapingPolicy").and_then(|s| {
            Some(ShapingView {
                enabled: s.bool_at("enabled")?,
                average_kbps: s.i64_at("averageBandwidth").unwrap_or(0).max(0) as u64 / 1000,
                peak_kbps: s.i64_at("peakBandwidth").unwrap_or(0).max(0) as u64 / 1000,
                burst_kb: s.i64_at("burstSize").unwrap_or(0).max(0) as u64 / 1024,
            })
        }),
        shaping_in: None,
        load_balancing: teaming
            .and_then(|t| t.text_of("policy"))
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        active: order.map(|_| texts(order, "activeNic")),
        standby: order.map(|_| texts(order, "standbyNic")),
        notify_switches: teaming.and_then(|t| t.bool_at("notifySwitches")),
        failback: teaming.and_then(|t| t.bool_at("rollingOrder")).map(|r| !r),
        failure_detection: teaming
            .and_then(|t| t.bool_at("failureCriteria.checkBeacon"))
            .map(|b| if b { "beacon" } else { "link" }.to_string()),
    }
}

/// The NIC order after the change: `base` is what applies now (the port group's own
/// order or, when it inherits, the vSwitch's).
pub fn new_order(
    change: &PolicyChange,
    base_active: &[String],
    base_standby: &[String],
) -> Option<(Vec<String>, Vec<String>)> {
    if change.active.is_none() && change.standby.is_none() && change.unused.is_none() {
        return None;
    }
    let mut active = change
        .active
        .clone()
        .unwrap_or_else(|| base_active.to_vec());
    let mut standby = change
        .standby
        .clone()
        .unwrap_or_else(|| base_standby.to_vec());
    // A NIC named for one role leaves the other.
    if let Some(a) = &change.active {
        standby.retain(|n| !a.contains(n));
    }
    if let Some(s) = &change.standby {
        active.retain(|n| !s.contains(n));
    }
    if let Some(u) = &change.unused {
        active.retain(|n| !u.contains(n));
        standby.retain(|n| !u.contains(n));
    }
    Some((active, standby))
}

/// Check the change against the uplinks of the switch (vmnics or DVS uplink names).
pub fn check_uplinks(change: &PolicyChange, uplinks: &[String], what: &str) -> OpResult<()> {
    let named = change
        .active
        .iter()
        .chain(&change.standby)
        .chain(&change.unused)
        .flatten();
    for nic in named {
        if !uplinks.contains(nic) {
            return Err(OpError::Invalid {
                message: format!("{nic} is not an uplink of {what}"),
                hint: Some(if uplinks.is_empty() {
                    format!("{what} has no uplinks; add them first")
                } else {
                    format!("its uplinks are {}", uplinks.join(", "))
                }),
            });
        }
    }
    if let (Some(a), Some(s)) = (&change.active, &change.standby)
        && let Some(both) = a.iter().find(|n| s.contains(n))
    {
        return Err(OpError::invalid(format!(
            "{both} cannot be both active and standby"
        )));
    }
    Ok(())
}

/// Apply a change to a `HostNetworkPolicy` tree. `base_order` is the order in effect
/// (for --standby alone, the active list is what applies now minus the standby NICs).
pub fn apply_host_policy(
    policy: &mut Node,
    change: &PolicyChange,
    base_order: (&[String], &[String]),
) -> OpResult<()> {
    if change.shaping_in.is_some() && change.shaping_in != change.shaping {
        return Err(OpError::Invalid {
            message: "standard switches shape outbound traffic only".into(),
            hint: Some("use --shaping (or a distributed port group for --shaping-in)".into()),
        });
    }
    if change.load_balancing == Some(Setting::Set(LoadBalancing::LoadBased)) {
        return Err(OpError::Invalid {
            message: "load-based teaming exists on distributed switches only".into(),
            hint: Some("use srcid, srcmac, ip or explicit on a standard switch".into()),
        });
    }
    let security_fields = [
        ("allowPromiscuous", &change.promiscuous),
        ("macChanges", &change.mac_changes),
        ("forgedTransmits", &change.forged_transmits),
    ];
    if security_fields.iter().any(|(_, s)| s.is_some()) {
        let security = child_mut(policy, HOST_POLICY, "security", None);
        for (name, setting) in security_fields {
            match setting {
                Some(Setting::Set(v)) => put(security, HOST_SECURITY, leaf(name, v)),
                Some(Setting::Inherit) => remove(security, name),
                None => {}
            }
        }
    }
    match &change.shaping {
        Some(Setting::Inherit) => remove(policy, "shapingPolicy"),
        Some(Setting::Set(s)) => {
            let node = match *s {
                Shaping::Off => object("shapingPolicy", None, vec![leaf("enabled", false)]),
                Shaping::On {
                    average_kbps,
                    peak_kbps,
                    burst_kb,
                } => object(
                    "shapingPolicy",
                    None,
                    vec![
                        leaf("enabled", true),
                        leaf("averageBandwidth", average_kbps * 1000),
                        leaf("peakBandwidth", peak_kbps * 1000),
                        leaf("burstSize", burst_kb * 1024),
                    ],
                ),
            };
            put(policy, HOST_POLICY, node);
        }
        None => {}
    }
    let order = new_order(change, base_order.0, base_order.1);
    let teaming_touched = change.load_balancing.is_some()
        || order.is_some()
        || change.nic_order_inherit
        || change.notify_switches.is_some()
        || change.failback.is_some()
        || change.beacon.is_some();
    if teaming_touched {
        let teaming = child_mut(policy, HOST_POLICY, "nicTeaming", None);
        match &change.load_balancing {
            Some(Setting::Set(lb)) => put(teaming, HOST_TEAMING, leaf("policy", lb.api())),
            Some(Setting::Inherit) => remove(teaming, "policy"),
            None => {}
        }
        match &change.notify_switches {
            Some(Setting::Set(v)) => put(teaming, HOST_TEAMING, leaf("notifySwitches", v)),
            Some(Setting::Inherit) => remove(teaming, "notifySwitches"),
            None => {}
        }
        match &change.failback {
            Some(Setting::Set(v)) => put(teaming, HOST_TEAMING, leaf("rollingOrder", !v)),
            Some(Setting::Inherit) => remove(teaming, "rollingOrder"),
            None => {}
        }
        match &change.beacon {
            Some(Setting::Set(v)) => {
                let criteria = child_mut(teaming, HOST_TEAMING, "failureCriteria", None);
                put(criteria, HOST_FAILURE, leaf("checkBeacon", v));
            }
            Some(Setting::Inherit) => {
                if let Some(at) = teaming
                    .children
                    .iter()
                    .position(|c| c.name == "failureCriteria")
                {
                    remove(&mut teaming.children[at], "checkBeacon");
                }
            }
            None => {}
        }
        if change.nic_order_inherit {
            remove(teaming, "nicOrder");
        } else if let Some((active, standby)) = order {
            let nic_order = child_mut(teaming, HOST_TEAMING, "nicOrder", None);
            put_all(
                nic_order,
                HOST_ORDER,
                "activeNic",
                active.iter().map(|n| leaf("activeNic", n)).collect(),
            );
            put_all(
                nic_order,
                HOST_ORDER,
                "standbyNic",
                standby.iter().map(|n| leaf("standbyNic", n)).collect(),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Distributed switches: VMwareDVSPortSetting.

pub const DV_SETTING: &[&str] = &[
    "blocked",
    "vmDirectPathGen2Allowed",
    "inShapingPolicy",
    "outShapingPolicy",
    "vendorSpecificConfig",
    "networkResourcePoolKey",
    "filterPolicy",
    "vlan",
    "qosTag",
    "uplinkTeamingPolicy",
    "securityPolicy",
    "ipfixEnabled",
    "txUplink",
    "lacpPolicy",
    "macManagementPolicy",
    "VNI",
];
const DV_SECURITY: &[&str] = &[
    "inherited",
    "allowPromiscuous",
    "macChanges",
    "forgedTransmits",
];
const DV_TEAMING: &[&str] = &[
    "inherited",
    "policy",
    "reversePolicy",
    "notifySwitches",
    "rollingOrder",
    "failureCriteria",
    "uplinkPortOrder",
];
const DV_FAILURE: &[&str] = &[
    "inherited",
    "checkSpeed",
    "speed",
    "checkDuplex",
    "fullDuplex",
    "checkErrorPercent",
    "percentage",
    "checkBeacon",
];

/// An inheritable leaf policy (`BoolPolicy`, `StringPolicy`, `LongPolicy`) read as a value;
/// None when inherited or absent.
fn dv_value(node: Option<&Node>) -> Option<&Node> {
    let n = node?;
    if n.bool_at("inherited") == Some(true) {
        return None;
    }
    n.child("value")
}

fn dv_bool(node: Option<&Node>) -> Option<bool> {
    dv_value(node).and_then(Node::as_bool)
}

fn dv_shaping(node: Option<&Node>) -> Option<ShapingView> {
    let s = node?;
    if s.bool_at("inherited") == Some(true) {
        return None;
    }
    let long = |name: &str| {
        dv_value(s.child(name))
            .and_then(Node::as_i64)
            .unwrap_or(0)
            .max(0) as u64
    };
    Some(ShapingView {
        enabled: dv_bool(s.child("enabled"))?,
        average_kbps: long("averageBandwidth") / 1000,
        peak_kbps: long("peakBandwidth") / 1000,
        burst_kb: long("burstSize") / 1024,
    })
}

/// Read a `VMwareDVSPortSetting` (a DV port group's or a switch's defaultPortConfig).
pub fn read_dv_setting(setting: Option<&Node>) -> PolicyView {
    let Some(s) = setting else {
        return PolicyView::default();
    };
    let security = s.child("securityPolicy");
    let teaming = s.child("uplinkTeamingPolicy");
    let order = teaming
        .and_then(|t| t.child("uplinkPortOrder"))
        .filter(|o| o.bool_at("inherited") != Some(true));
    let field = |name: &str| teaming.and_then(|t| t.child(name));
    PolicyView {
        promiscuous: dv_bool(security.and_then(|n| n.child("allowPromiscuous"))),
        mac_changes: dv_bool(security.and_then(|n| n.child("macChanges"))),
        forged_transmits: dv_bool(security.and_then(|n| n.child("forgedTransmits"))),
        shaping: dv_shaping(s.child("outShapingPolicy")),
        shaping_in: dv_shaping(s.child("inShapingPolicy")),
        load_balancing: dv_value(field("policy")).map(|v| v.text.clone()),
        active: order.map(|o| texts(Some(o), "activeUplinkPort")),
        standby: order.map(|o| texts(Some(o), "standbyUplinkPort")),
        notify_switches: dv_bool(field("notifySwitches")),
        failback: dv_bool(field("rollingOrder")).map(|r| !r),
        failure_detection: dv_bool(field("failureCriteria").and_then(|f| f.child("checkBeacon")))
            .map(|b| if b { "beacon" } else { "link" }.to_string()),
    }
}

fn dv_leaf(name: &str, setting: &Setting<impl ToString>, xsi: &str) -> Node {
    match setting {
        Setting::Set(v) => object(
            name,
            Some(xsi),
            vec![leaf("inherited", false), leaf("value", v.to_string())],
        ),
        Setting::Inherit => object(name, Some(xsi), vec![leaf("inherited", true)]),
    }
}

fn not_inherited(node: &mut Node, order: &[&str]) {
    put(node, order, leaf("inherited", false));
}

fn dv_shaping_node(name: &str, setting: &Setting<Shaping>) -> Node {
    let long = |n: &str, v: u64| {
        object(
            n,
            Some("LongPolicy"),
            vec![leaf("inherited", false), leaf("value", v)],
        )
    };
    let children = match setting {
        Setting::Inherit => vec![leaf("inherited", true)],
        Setting::Set(Shaping::Off) => vec![
            leaf("inherited", false),
            dv_leaf("enabled", &Setting::Set(false), "BoolPolicy"),
        ],
        Setting::Set(Shaping::On {
            average_kbps,
            peak_kbps,
            burst_kb,
        }) => vec![
            leaf("inherited", false),
            dv_leaf("enabled", &Setting::Set(true), "BoolPolicy"),
            long("averageBandwidth", average_kbps * 1000),
            long("peakBandwidth", peak_kbps * 1000),
            long("burstSize", burst_kb * 1024),
        ],
    };
    object(name, Some("DVSTrafficShapingPolicy"), children)
}

/// Apply a change to a `VMwareDVSPortSetting` tree.
pub fn apply_dv_setting(
    setting: &mut Node,
    change: &PolicyChange,
    base_order: (&[String], &[String]),
) -> OpResult<()> {
    let security_fields = [
        ("allowPromiscuous", &change.promiscuous),
        ("macChanges", &change.mac_changes),
        ("forgedTransmits", &change.forged_transmits),
    ];
    if security_fields.iter().any(|(_, s)| s.is_some()) {
        let security = child_mut(
            setting,
            DV_SETTING,
            "securityPolicy",
            Some("DVSSecurityPolicy"),
        );
        not_inherited(security, DV_SECURITY);
        for (name, s) in security_fields {
            if let Some(s) = s {
                put(security, DV_SECURITY, dv_leaf(name, s, "BoolPolicy"));
            }
        }
    }
    if let Some(s) = &change.shaping {
        put(setting, DV_SETTING, dv_shaping_node("outShapingPolicy", s));
    }
    if let Some(s) = &change.shaping_in {
        put(setting, DV_SETTING, dv_shaping_node("inShapingPolicy", s));
    }
    let order = new_order(change, base_order.0, base_order.1);
    let teaming_touched = change.load_balancing.is_some()
        || order.is_some()
        || change.nic_order_inherit
        || change.notify_switches.is_some()
        || change.failback.is_some()
        || change.beacon.is_some();
    if teaming_touched {
        let teaming = child_mut(
            setting,
            DV_SETTING,
            "uplinkTeamingPolicy",
            Some("VmwareUplinkPortTeamingPolicy"),
        );
        not_inherited(teaming, DV_TEAMING);
        if let Some(lb) = &change.load_balancing {
            let value = match lb {
                Setting::Set(l) => Setting::Set(l.api()),
                Setting::Inherit => Setting::Inherit,
            };
            put(
                teaming,
                DV_TEAMING,
                dv_leaf("policy", &value, "StringPolicy"),
            );
        }
        if let Some(v) = &change.notify_switches {
            put(
                teaming,
                DV_TEAMING,
                dv_leaf("notifySwitches", v, "BoolPolicy"),
            );
        }
        if let Some(v) = &change.failback {
            let rolling = match v {
                Setting::Set(b) => Setting::Set(!b),
                Setting::Inherit => Setting::Inherit,
            };
            put(
                teaming,
                DV_TEAMING,
                dv_leaf("rollingOrder", &rolling, "BoolPolicy"),
            );
        }
        if let Some(v) = &change.beacon {
            let criteria = child_mut(
                teaming,
                DV_TEAMING,
                "failureCriteria",
                Some("DVSFailureCriteria"),
            );
            not_inherited(criteria, DV_FAILURE);
            put(
                criteria,
                DV_FAILURE,
                dv_leaf("checkBeacon", v, "BoolPolicy"),
            );
        }
        if change.nic_order_inherit {
            put(
                teaming,
                DV_TEAMING,
                object(
                    "uplinkPortOrder",
                    Some("VMwareUplinkPortOrderPolicy"),
                    vec![leaf("inherited", true)],
                ),
            );
        } else if let Some((active, standby)) = order {
            let mut children = vec![leaf("inherited", false)];
            children.extend(active.iter().map(|n| leaf("activeUplinkPort", n)));
            children.extend(standby.iter().map(|n| leaf("standbyUplinkPort", n)));
            put(
                teaming,
                DV_TEAMING,
                object(
                    "uplinkPortOrder",
                    Some("VMwareUplinkPortOrderPolicy"),
                    children,
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PolicyInput {
        PolicyInput::default()
    }

    #[test]
    fn shaping_needs_peak_at_least_average() {
        assert!(parse_shaping("1000,500,100").is_err());
        assert!(parse_shaping("0,500,100").is_err());
        assert!(parse_shaping("1000,2000").is_err());
        assert_eq!(
            parse_shaping("1000,2000,64").unwrap(),
            Shaping::On {
                average_kbps: 1000,
                peak_kbps: 2000,
                burst_kb: 64
            }
        );
    }

    #[test]
    fn only_named_settings_change_on_a_host_policy() {
        let mut policy = object(
            "policy",
            None,
            vec![
                object(
                    "security",
                    None,
                    vec![leaf("allowPromiscuous", false), leaf("macChanges", true)],
                ),
                object("offloadPolicy", None, vec![leaf("csumOffload", true)]),
            ],
        );
        let change = PolicyInput {
            forged_transmits: Some("reject".into()),
            standby: Some(vec!["vmnic1".into()]),
            ..input()
        }
        .parse()
        .unwrap();
        let base = (vec!["vmnic0".to_string(), "vmnic1".to_string()], vec![]);
        apply_host_policy(&mut policy, &change, (&base.0, &base.1)).unwrap();
        let view = read_host_policy(Some(&policy));
        assert_eq!(view.promiscuous, Some(false));
        assert_eq!(view.mac_changes, Some(true));
        assert_eq!(view.forged_transmits, Some(false));
        assert_eq!(view.active, Some(vec!["vmnic0".to_string()]));
        assert_eq!(view.standby, Some(vec!["vmnic1".to_string()]));
        // Untouched and unmodelled settings survive, in WSDL order.
        let names: Vec<_> = policy.children.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["security", "nicTeaming", "offloadPolicy"]);
    }

    #[test]
    fn inherit_returns_settings_to_the_switch() {
        let mut policy = object(
            "policy",
            None,
            vec![object(
                "security",
                None,
                vec![leaf("allowPromiscuous", true)],
            )],
        );
        let change = PolicyInput {
            inherit: vec!["promiscuous".into()],
            ..input()
        }
        .parse()
        .unwrap();
        apply_host_policy(&mut policy, &change, (&[], &[])).unwrap();
        assert_eq!(read_host_policy(Some(&policy)).promiscuous, None);
        assert!(
            PolicyInput {
                inherit: vec!["colour".into()],
                ..input()
            }
            .parse()
            .is_err()
        );
    }

    #[test]
    fn dv_setting_round_trips_and_keeps_other_fields() {
        let mut setting = object(
            "defaultPortConfig",
            Some("VMwareDVSPortSetting"),
            vec![
                object(
                    "vlan",
                    Some("VmwareDistributedVirtualSwitchVlanIdSpec"),
                    vec![leaf("inherited", false), leaf("vlanId", 7)],
                ),
                object(
                    "lacpPolicy",
                    Some("VMwareUplinkLacpPolicy"),
                    vec![leaf("inherited", false)],
                ),
            ],
        );
        let change = PolicyInput {
            promiscuous: Some("accept".into()),
            shaping: Some("1000,2000,10".into()),
            load_balancing: Some("loadbased".into()),
            ..input()
        }
        .parse()
        .unwrap();
        apply_dv_setting(&mut setting, &change, (&[], &[])).unwrap();
        let view = read_dv_setting(Some(&setting));
        assert_eq!(view.promiscuous, Some(true));
        assert_eq!(
            view.load_balancing.as_deref(),
            Some("loadbalance_loadbased")
        );
        assert_eq!(view.shaping.as_ref().map(|s| s.peak_kbps), Some(2000));
        assert_eq!(view.shaping_in.as_ref().map(|s| s.average_kbps), Some(1000));
        let names: Vec<_> = setting.children.iter().map(|c| &*c.name).collect();
        assert_eq!(
            names,
            [
                "inShapingPolicy",
                "outShapingPolicy",
                "vlan",
                "uplinkTeamingPolicy",
                "securityPolicy",
                "lacpPolicy"
            ]
        );
    }
}
