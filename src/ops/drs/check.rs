//! `drs check`: contradictions in a rule set and VMs running against it, found over a
//! `Snapshot` (pure; no I/O). vCenter stores whatever rules it is given; DRS then
//! silently fails to satisfy the ones that cannot all hold.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::model::{GroupKind, Rule, RuleKind, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A rule or group names a VM, host or group that does not exist.
    Missing,
    /// Rules that cannot all be satisfied.
    Contradiction,
    /// A powered-on VM placed against an enabled rule now.
    Violation,
}

impl FindingKind {
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Contradiction => "contradiction",
            FindingKind::Violation => "violation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The rules (or groups) involved, by name.
    pub rules: Vec<String>,
    pub message: String,
}

fn finding(kind: FindingKind, rules: &[&str], message: String) -> Finding {
    Finding {
        kind,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        message,
    }
}

/// Every problem of the snapshot's rule set, missing references first, then
/// contradictions, then violations.
pub fn check(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    missing(s, &mut out);
    together_and_apart(s, &mut out);
    nowhere_to_run(s, &mut out);
    must_run_capacity(s, &mut out);
    separate_capacity(s, &mut out);
    violations(s, &mut out);
    out.sort_by_key(|f| f.kind);
    out
}

fn enabled(s: &Snapshot) -> impl Iterator<Item = &Rule> {
    s.rules.iter().filter(|r| r.enabled)
}

fn missing(s: &Snapshot, out: &mut Vec<Finding>) {
    for rule in &s.rules {
        match &rule.kind {
            RuleKind::KeepTogether { vms } | RuleKind::Separate { vms } => {
                for id in vms.iter().filter(|id| s.vm(id).is_none()) {
                    out.push(finding(
                        FindingKind::Missing,
                        &[&rule.name],
                        format!("rule '{}' names VM {id}, which no longer exists", rule.name),
                    ));
                }
            }
            RuleKind::VmHost {
                vm_group,
                host_group,
                ..
            } => {
                for (name, kind) in [(vm_group, GroupKind::Vm), (host_group, GroupKind::Host)] {
                    if s.group(name, kind).is_none() {
                        out.push(finding(
                            FindingKind::Missing,
                            &[&rule.name],
                            format!(
                                "rule '{}' names {} group '{name}', which does not exist",
                                rule.name,
                                kind.label()
                            ),
                        ));
                    }
                }
            }
        }
    }
    for group in &s.groups {
        let gone: Vec<&String> = group
            .members
            .iter()
            .filter(|m| match group.kind {
                GroupKind::Vm => s.vm(m).is_none(),
                GroupKind::Host => s.host(m).is_none(),
            })
            .collect();
        if gone.is_empty() {
            continue;
        }
        let mut names: Vec<&str> = vec![&group.name];
        names.extend(s.rules_using(&group.name).iter().map(|r| r.name.as_str()));
        out.push(finding(
            FindingKind::Missing,
            &names,
            format!(
                "{} group '{}' names {} {}, which no longer exist{}",
                group.kind.label(),
                group.name,
                match group.kind {
                    GroupKind::Vm => "VM",
                    GroupKind::Host => "host",
                },
                gone.iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if gone.len() == 1 { "s" } else { "" }
            ),
        ));
    }
}

/// Keep-together rules join VMs transitively (A with B, B with C: A with C); a
/// separate rule on two VMs of one joined set cannot hold.
fn together_and_apart(s: &Snapshot, out: &mut Vec<Finding>) {
    let mut parent: HashMap<&str, &str> = HashMap::new();
    fn root<'a>(parent: &HashMap<&'a str, &'a str>, mut x: &'a str) -> &'a str {
        while let Some(&p) = parent.get(x) {
            if p == x {
                break;
            }
            x = p;
        }
        x
    }
    let together: Vec<(&Rule, &Vec<String>)> = enabled(s)
        .filter_map(|r| match &r.kind {
            RuleKind::KeepTogether { vms } => Some((r, vms)),
            _ => None,
        })
        .collect();
    for (_, vms) in &together {
        for vm in vms.iter() {
            parent.entry(vm.as_str()).or_insert(vm.as_str());
        }
        for pair in vms.windows(2) {
            let (a, b) = (root(&parent, &pair[0]), root(&parent, &pair[1]));
            if a != b {
                parent.insert(a, b);
            }
        }
    }
    for rule in enabled(s) {
        let RuleKind::Separate { vms } = &rule.kind else {
            continue;
        };
        for (i, a) in vms.iter().enumerate() {
            for b in &vms[i + 1..] {
                if !parent.contains_key(a.as_str()) || !parent.contains_key(b.as_str()) {
                    continue;
                }
                let component = root(&parent, a);
                if component != root(&parent, b) {
                    continue;
                }
                let joining: Vec<&str> = together
                    .iter()
                    .filter(|(_, vms)| {
                        vms.iter().any(|v| {
                            parent.contains_key(v.as_str()) && root(&parent, v) == component
                        })
                    })
                    .map(|(r, _)| r.name.as_str())
                    .collect();
                let mut rules = joining.clone();
                rules.push(&rule.name);
                out.push(finding(
                    FindingKind::Contradiction,
                    &rules,
                    format!(
                        "{} and {} are kept together by {} and kept apart by '{}'",
                        s.vm_name(a),
                        s.vm_name(b),
                        joining
                            .iter()
                            .map(|r| format!("'{r}'"))
                            .collect::<Vec<_>>()
                            .join(" and "),
                        rule.name
                    ),
                ));
            }
        }
    }
}

/// The hosts a VM may run on under the enabled mandatory VM-Host rules, with the
/// rules that restrict it. None when no such rule names the VM.
fn allowed_hosts<'a>(s: &'a Snapshot, vm: &str) -> Option<(BTreeSet<&'a str>, Vec<&'a str>)> {
    let mut allowed: Option<BTreeSet<&str>> = None;
    let mut rules = Vec::new();
    let usable: BTreeSet<&str> = s
        .hosts
        .iter()
        .filter(|h| h.usable)
        .map(|h| h.id.as_str())
        .collect();
    for rule in enabled(s).filter(|r| r.mandatory) {
        let RuleKind::VmHost {
            vm_group,
            host_group,
            affine,
        } = &rule.kind
        else {
            continue;
        };
        let (Some(vms), Some(hosts)) = (
            s.group(vm_group, GroupKind::Vm),
            s.group(host_group, GroupKind::Host),
        ) else {
            continue;
        };
        if !vms.members.iter().any(|m| m == vm) {
            continue;
        }
        let group: BTreeSet<&str> = hosts.members.iter().map(String::as_str).collect();
        let current = allowed.take().unwrap_or_else(|| usable.clone());
        allowed = Some(if *affine {
            current.intersection(&group).copied().collect()
        } else {
            current.difference(&group).copied().collect()
        });
        rules.push(rule.name.as_str());
    }
    allowed.map(|a| (a, rules))
}

/// A VM bound by must-rules that leave it no usable host.
fn nowhere_to_run(s: &Snapshot, out: &mut Vec<Finding>) {
    for vm in &s.vms {
        if let Some((allowed, rules)) = allowed_hosts(s, &vm.id)
            && allowed.is_empty()
        {
            out.push(finding(
                FindingKind::Contradiction,
                &rules,
                format!(
                    "{} can run on no usable host: {} leave{} it none",
                    vm.name,
                    rules
                        .iter()
                        .map(|r| format!("'{r}'"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    if rules.len() == 1 { "s" } else { "" }
                ),
            ));
        }
    }
}

/// A must-run rule to a host group whose usable hosts have less memory than the VMs
/// of the VM group need.
fn must_run_capacity(s: &Snapshot, out: &mut Vec<Finding>) {
    for rule in enabled(s).filter(|r| r.mandatory) {
        let RuleKind::VmHost {
            vm_group,
            host_group,
            affine: true,
        } = &rule.kind
        else {
            continue;
        };
        let (Some(vms), Some(hosts)) = (
            s.group(vm_group, GroupKind::Vm),
            s.group(host_group, GroupKind::Host),
        ) else {
            continue;
        };
        let needed: i64 = vms
            .members
            .iter()
            .filter_map(|m| s.vm(m))
            .map(|v| v.memory_mb)
            .sum();
        let usable: Vec<_> = hosts
            .members
            .iter()
            .filter_map(|m| s.host(m))
            .filter(|h| h.usable)
            .collect();
        let capacity: i64 = usable.iter().map(|h| h.memory_mb).sum();
        if needed > capacity {
            out.push(finding(
                FindingKind::Contradiction,
                &[&rule.name],
                format!(
                    "rule '{}': the VMs of group '{vm_group}' need {needed} MB of memory; the {} usable host(s) of group '{host_group}' have {capacity} MB",
                    rule.name,
                    usable.len()
                ),
            ));
        }
    }
}

/// A separate rule whose VMs cannot each get a host of their own among the hosts
/// the must-rules allow them (a bipartite matching smaller than the rule).
fn separate_capacity(s: &Snapshot, out: &mut Vec<Finding>) {
    let usable: BTreeSet<&str> = s
        .hosts
        .iter()
        .filter(|h| h.usable)
        .map(|h| h.id.as_str())
        .collect();
    for rule in enabled(s) {
        let RuleKind::Separate { vms } = &rule.kind else {
            continue;
        };
        let mut restricting: BTreeSet<&str> = BTreeSet::new();
        let options: Vec<Vec<&str>> = vms
            .iter()
            .filter(|v| s.vm(v).is_some())
            .map(|v| match allowed_hosts(s, v) {
                Some((allowed, rules)) => {
                    restricting.extend(rules);
                    allowed.into_iter().collect()
                }
                None => usable.iter().copied().collect(),
            })
            .collect();
        let matched = max_matching(&options);
        if matched < options.len() {
            let hosts: BTreeSet<&str> = options.iter().flatten().copied().collect();
            let mut rules = vec![rule.name.as_str()];
            rules.extend(restricting.iter().copied());
            out.push(finding(
                FindingKind::Contradiction,
                &rules,
                format!(
                    "rule '{}' keeps {} VMs apart, but they can use only {} host(s){}",
                    rule.name,
                    options.len(),
                    hosts.len(),
                    if restricting.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " under {}",
                            restricting
                                .iter()
                                .map(|r| format!("'{r}'"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            ));
        }
    }
}

/// Size of a maximum matching of items to distinct options (Kuhn's algorithm; rules
/// name a handful of VMs).
fn max_matching(options: &[Vec<&str>]) -> usize {
    fn assign<'a>(
        item: usize,
        options: &[Vec<&'a str>],
        owner: &mut HashMap<&'a str, usize>,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        for &host in &options[item] {
            if !seen.insert(host) {
                continue;
            }
            let free = match owner.get(host) {
                None => true,
                Some(&other) => assign(other, options, owner, seen),
            };
            if free {
                owner.insert(host, item);
                return true;
            }
        }
        false
    }
    let mut owner = HashMap::new();
    (0..options.len())
        .filter(|&i| assign(i, options, &mut owner, &mut BTreeSet::new()))
        .count()
}

/// Powered-on VMs placed against enabled rules now.
fn violations(s: &Snapshot, out: &mut Vec<Finding>) {
    let running = |id: &String| s.vm(id).filter(|v| v.powered_on && v.host.is_some());
    for rule in enabled(s) {
        match &rule.kind {
            RuleKind::KeepTogether { vms } => {
                let placed: Vec<_> = vms.iter().filter_map(running).collect();
                let hosts: BTreeSet<&str> =
                    placed.iter().filter_map(|v| v.host.as_deref()).collect();
                if hosts.len() > 1 {
                    out.push(finding(
                        FindingKind::Violation,
                        &[&rule.name],
                        format!(
                            "rule '{}' keeps them together, but they run on {} hosts: {}",
                            rule.name,
                            hosts.len(),
                            placed
                                .iter()
                                .map(|v| format!(
                                    "{} on {}",
                                    v.name,
                                    s.host_name(v.host.as_deref().unwrap_or_default())
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            RuleKind::Separate { vms } => {
                let mut by_host: BTreeSet<(&str, &str)> = BTreeSet::new();
                let placed: Vec<_> = vms.iter().filter_map(running).collect();
                for v in &placed {
                    let host = v.host.as_deref().unwrap_or_default();
                    let sharing: Vec<&str> = placed
                        .iter()
                        .filter(|o| o.host.as_deref() == Some(host))
                        .map(|o| o.name.as_str())
                        .collect();
                    if sharing.len() > 1 && by_host.insert((host, sharing[0])) {
                        out.push(finding(
                            FindingKind::Violation,
                            &[&rule.name],
                            format!(
                                "rule '{}' keeps them apart, but {} run on {}",
                                rule.name,
                                sharing.join(" and "),
                                s.host_name(host)
                            ),
                        ));
                    }
                }
            }
            RuleKind::VmHost {
                vm_group,
                host_group,
                affine,
            } => {
                let (Some(vms), Some(hosts)) = (
                    s.group(vm_group, GroupKind::Vm),
                    s.group(host_group, GroupKind::Host),
                ) else {
                    continue;
                };
                for v in vms.members.iter().filter_map(running) {
                    let host = v.host.as_deref().unwrap_or_default();
                    let inside = hosts.members.iter().any(|h| h == host);
                    if inside != *affine {
                        out.push(finding(
                            FindingKind::Violation,
                            &[&rule.name],
                            format!(
                                "{} runs on {}, {} host group '{host_group}' (rule '{}': {} '{host_group}')",
                                v.name,
                                s.host_name(host),
                                if inside { "inside" } else { "outside" },
                                rule.name,
                                rule.placement()
                            ),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{Group, HostFact, VmFact};
    use super::*;

    fn vm(id: &str, host: &str, memory_mb: i64) -> VmFact {
        VmFact {
            id: id.into(),
            name: format!("{id}-name"),
            host: Some(host.into()),
            powered_on: true,
            memory_mb,
        }
    }

    fn host(id: &str, memory_mb: i64) -> HostFact {
        HostFact {
            id: id.into(),
            name: format!("{id}-name"),
            memory_mb,
            usable: true,
        }
    }

    fn rule(key: i64, name: &str, mandatory: bool, kind: RuleKind) -> Rule {
        Rule {
            key,
            name: name.into(),
            enabled: true,
            mandatory,
            kind,
            uuid: None,
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn base() -> Snapshot {
        Snapshot {
            cluster: "C".into(),
            rules: vec![],
            groups: vec![],
            vms: vec![
                vm("a", "h1", 1024),
                vm("b", "h2", 1024),
                vm("c", "h3", 1024),
            ],
            hosts: vec![host("h1", 4096), host("h2", 4096), host("h3", 4096)],
        }
    }

    fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
        findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_clean_rule_set_has_no_findings() {
        let mut s = base();
        s.rules.push(rule(
            1,
            "apart",
            false,
            RuleKind::Separate {
                vms: ids(&["a", "b", "c"]),
            },
        ));
        assert_eq!(check(&s), vec![]);
    }

    #[test]
    fn together_and_apart_transitively_is_a_contradiction() {
        let mut s = base();
        s.vms[1].host = Some("h1".into());
        s.vms[2].host = Some("h1".into());
        s.rules = vec![
            rule(
                1,
                "ab",
                false,
                RuleKind::KeepTogether {
                    vms: ids(&["a", "b"]),
                },
            ),
            rule(
                2,
                "bc",
                false,
                RuleKind::KeepTogether {
                    vms: ids(&["b", "c"]),
                },
            ),
            rule(
                3,
                "ac-apart",
                false,
                RuleKind::Separate {
                    vms: ids(&["a", "c"]),
                },
            ),
        ];
        let found = check(&s);
        let contradiction = found
            .iter()
            .find(|f| f.kind == FindingKind::Contradiction)
            .expect("a contradiction");
        assert_eq!(contradiction.rules, ids(&["ab", "bc", "ac-apart"]));
        assert!(contradiction.message.contains("a-name and c-name"));
        // Disabled rules do not count.
        s.rules[2].enabled = false;
        assert!(check(&s).is_empty(), "{:?}", check(&s));
    }

    #[test]
    fn missing_vms_and_groups_are_reported() {
        let mut s = base();
        s.rules = vec![
            rule(
                1,
                "r1",
                false,
                RuleKind::Separate {
                    vms: ids(&["a", "gone"]),
                },
            ),
            rule(
                2,
                "r2",
                true,
                RuleKind::VmHost {
                    vm_group: "vms".into(),
                    host_group: "nohosts".into(),
                    affine: true,
                },
            ),
        ];
        s.groups.push(Group {
            name: "vms".into(),
            kind: GroupKind::Vm,
            members: ids(&["a", "vm-99"]),
        });
        let found = check(&s);
        assert_eq!(kinds(&found), vec![FindingKind::Missing; 3], "{found:?}");
        assert!(found[0].message.contains("gone"));
        assert!(found.iter().any(|f| f.message.contains("'nohosts'")));
        assert!(
            found
                .iter()
                .any(|f| f.message.contains("vm-99") && f.rules.contains(&"r2".to_string()))
        );
    }

    fn pinned(s: &mut Snapshot, vms: &[&str], hosts: &[&str]) {
        s.groups.push(Group {
            name: "G".into(),
            kind: GroupKind::Vm,
            members: ids(vms),
        });
        s.groups.push(Group {
            name: "H".into(),
            kind: GroupKind::Host,
            members: ids(hosts),
        });
        s.rules.push(rule(
            9,
            "pin",
            true,
            RuleKind::VmHost {
                vm_group: "G".into(),
                host_group: "H".into(),
                affine: true,
            },
        ));
    }

    #[test]
    fn must_run_on_too_small_a_host_group_is_a_contradiction() {
        let mut s = base();
        for v in &mut s.vms {
            v.host = Some("h1".into());
            v.memory_mb = 3000;
        }
        pinned(&mut s, &["a", "b", "c"], &["h1"]);
        let found = check(&s);
        assert_eq!(kinds(&found), vec![FindingKind::Contradiction]);
        assert!(
            found[0].message.contains("need 9000 MB"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.contains("have 4096 MB"));
    }

    #[test]
    fn separate_with_more_vms_than_allowed_hosts_is_a_contradiction() {
        let mut s = base();
        s.vms[2].host = Some("h1".into());
        pinned(&mut s, &["a", "b", "c"], &["h1", "h2"]);
        s.rules.push(rule(
            1,
            "apart",
            false,
            RuleKind::Separate {
                vms: ids(&["a", "b", "c"]),
            },
        ));
        let found = check(&s);
        let f = found
            .iter()
            .find(|f| f.kind == FindingKind::Contradiction)
            .expect("a contradiction");
        assert_eq!(f.rules, ids(&["apart", "pin"]));
        assert!(f.message.contains("3 VMs apart"));
        assert!(f.message.contains("only 2 host(s)"));
        // More hosts than VMs in the whole cluster: also caught without host groups.
        let mut s = base();
        s.hosts.truncate(2);
        s.vms[2].host = Some("h1".into());
        s.rules.push(rule(
            1,
            "apart",
            false,
            RuleKind::Separate {
                vms: ids(&["a", "b", "c"]),
            },
        ));
        assert!(
            check(&s)
                .iter()
                .any(|f| f.kind == FindingKind::Contradiction)
        );
    }

    #[test]
    fn must_and_must_not_leaving_no_host_is_a_contradiction() {
        let mut s = base();
        pinned(&mut s, &["a"], &["h1"]);
        s.rules.push(rule(
            10,
            "avoid",
            true,
            RuleKind::VmHost {
                vm_group: "G".into(),
                host_group: "H".into(),
                affine: false,
            },
        ));
        let found = check(&s);
        assert!(
            found.iter().any(|f| f.kind == FindingKind::Contradiction
                && f.message.contains("a-name can run on no usable host")),
            "{found:?}"
        );
    }

    #[test]
    fn current_placement_against_rules_is_a_violation() {
        let mut s = base();
        s.vms[1].host = Some("h1".into());
        s.rules = vec![
            rule(
                1,
                "apart",
                false,
                RuleKind::Separate {
                    vms: ids(&["a", "b"]),
                },
            ),
            rule(
                2,
                "together",
                false,
                RuleKind::KeepTogether {
                    vms: ids(&["a", "c"]),
                },
            ),
        ];
        pinned(&mut s, &["c"], &["h1", "h2"]);
        let found = check(&s);
        assert_eq!(kinds(&found), vec![FindingKind::Violation; 3], "{found:?}");
        assert!(
            found[0]
                .message
                .contains("a-name and b-name run on h1-name")
        );
        assert!(found[1].message.contains("run on 2 hosts"));
        assert!(
            found[2]
                .message
                .contains("c-name runs on h3-name, outside host group 'H'")
        );
        // A powered-off VM violates nothing.
        s.vms[2].powered_on = false;
        s.vms[1].powered_on = false;
        assert!(check(&s).is_empty());
    }
}
