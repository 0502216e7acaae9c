//! Naming a device: a PCI address (`0000:3b:00.0`, `3b:00.0`), a vendor:device ID
//! (`10de:20b7`), a vendor (`nvidia`) or a GPU model (`a100`, `l40s`). Addresses name
//! one device per host; the others pick the first device that suits the command.

use std::collections::BTreeSet;

use crate::ops::error::{OpError, OpResult, close_names};

use super::gpu_table;
use super::ids::{self, VendorDevice};
use super::inventory::{HostPci, PciDevice};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Address(String),
    Id(VendorDevice),
    Vendor {
        id: u16,
        word: String,
    },
    Model {
        ids: Vec<VendorDevice>,
        word: String,
    },
}

impl Selector {
    /// None when the text is none of the forms (the caller lists close matches).
    pub fn parse(text: &str) -> Option<Selector> {
        let text = text.trim();
        if let Some(address) = ids::normalize_address(text) {
            return Some(Selector::Address(address));
        }
        if let Some(id) = VendorDevice::parse(text) {
            return Some(Selector::Id(id));
        }
        let table = gpu_table::table();
        if let Some(vendor) = table.vendor_by_alias(text) {
            return Some(Selector::Vendor {
                id: vendor.id,
                word: text.to_string(),
            });
        }
        let models = table.gpus_named(text);
        if !models.is_empty() {
            return Some(Selector::Model {
                ids: models.iter().map(|g| g.id).collect(),
                word: text.to_string(),
            });
        }
        None
    }

    fn matches(&self, d: &PciDevice) -> bool {
        match self {
            Selector::Address(a) => d.address == *a,
            Selector::Id(id) => d.vendor_device == *id,
            Selector::Vendor { id, .. } => d.vendor_device.vendor == *id,
            Selector::Model { ids, .. } => ids.contains(&d.vendor_device),
        }
    }
}

/// What the device is wanted for: a selector picks the first device that suits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Any matching device (info).
    Any,
    /// Capable and not yet enabled.
    Enable,
    /// Enabled and not assigned.
    Disable,
    /// Enabled, active and not assigned to any VM.
    Assign,
    /// An SR-IOV capable physical function.
    Sriov,
}

fn suits(d: &PciDevice, want: Want) -> bool {
    match want {
        Want::Any => true,
        Want::Enable => d.passthru_capable && !d.passthru_enabled,
        Want::Disable => d.passthru_enabled && d.assigned_to.is_empty(),
        Want::Assign => d.is_assignable(),
        Want::Sriov => d.sriov.is_some(),
    }
}

/// A resolved device: the index of its host in the list and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    pub host: usize,
    pub address: String,
}

/// Find the device `text` names among `hosts`.
pub fn resolve(hosts: &[HostPci], text: &str, want: Want) -> OpResult<Picked> {
    let selector = Selector::parse(text).ok_or_else(|| not_found(hosts, text))?;
    if let Selector::Address(address) = &selector {
        let found: Vec<usize> = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.device(address).is_some())
            .map(|(i, _)| i)
            .collect();
        return match found.as_slice() {
            [one] => Ok(Picked {
                host: *one,
                address: address.clone(),
            }),
            [] => Err(not_found(hosts, text)),
            many => Err(OpError::Ambiguous {
                kind: "host",
                name: address.clone(),
                candidates: many
                    .iter()
                    .map(|&i| format!("{} ({})", hosts[i].name, hosts[i].endpoint.name()))
                    .collect(),
            }),
        };
    }
    // Companion functions travel with their device; a selector never picks one alone,
    // nor a virtual function (`--vf` picks those by their physical function).
    let candidates: Vec<(usize, &PciDevice)> = hosts
        .iter()
        .enumerate()
        .flat_map(|(i, h)| h.devices.iter().map(move |d| (i, d)))
        .filter(|(_, d)| selector.matches(d) && !d.is_companion() && d.physical_function.is_none())
        .collect();
    let Some(&(first_host, first)) = candidates.first() else {
        return Err(not_found(hosts, text));
    };
    // Changing a host's passthrough state on whichever host comes first is a guess:
    // matches on several hosts are refused, listed, for the user to pick with --host.
    if matches!(want, Want::Enable | Want::Disable | Want::Sriov)
        && candidates.iter().any(|(i, _)| *i != first_host)
    {
        return Err(OpError::Ambiguous {
            kind: "PCI device",
            name: text.to_string(),
            candidates: candidates
                .iter()
                .map(|(i, d)| {
                    format!(
                        "{} {} on {} ({})",
                        d.address,
                        d.display_name(),
                        hosts[*i].name,
                        hosts[*i].endpoint.name()
                    )
                })
                .collect(),
        });
    }
    if let Some((i, d)) = candidates.iter().find(|(_, d)| suits(d, want)) {
        return Ok(Picked {
            host: *i,
            address: d.address.clone(),
        });
    }
    match want {
        Want::Assign => Err(none_free(text, &candidates)),
        // Nothing to change: the first match, and the operation reports "already".
        _ => Ok(Picked {
            host: first_host,
            address: first.address.clone(),
        }),
    }
}

fn none_free(text: &str, candidates: &[(usize, &PciDevice)]) -> OpError {
    let reasons: Vec<String> = candidates
        .iter()
        .take(6)
        .map(|(_, d)| format!("{} on {}: {}", d.address, d.host, why_not_assignable(d)))
        .collect();
    let more = candidates.len().saturating_sub(reasons.len());
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    OpError::Refused {
        message: format!("no free passthrough device matches '{text}': {}{tail}", reasons.join("; ")),
        hint: Some(
            "enable one with `ceso pci enable DEVICE`, or free one with `ceso vm detach-pci VM DEVICE`; `ceso pci list --assignable` shows what is free".into(),
        ),
    }
}

/// Why a device cannot be given to a VM now (empty when it can).
pub fn why_not_assignable(d: &PciDevice) -> String {
    if !d.passthru_capable {
        "not passthrough capable".into()
    } else if !d.passthru_enabled {
        "passthrough not enabled".into()
    } else if !d.passthru_active {
        "passthrough enabled but not active until the host reboots".into()
    } else if !d.assigned_to.is_empty() {
        format!("in use by {}", d.assigned_to.join(", "))
    } else if !d.group_in_use_by.is_empty() {
        format!(
            "another function of its group is in use by {}",
            d.group_in_use_by.join(", ")
        )
    } else {
        String::new()
    }
}

/// NotFound with the close matches among addresses, IDs and selector words.
fn not_found(hosts: &[HostPci], text: &str) -> OpError {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for h in hosts {
        for d in &h.devices {
            names.insert(d.address.clone());
            names.insert(d.address.trim_start_matches("0000:").to_string());
            names.insert(d.id.clone());
            if let Some(g) = &d.gpu {
                names.insert(g.family.to_lowercase());
            }
        }
    }
    names.extend(gpu_table::table().selector_words());
    let wanted = text.trim().to_lowercase();
    let mut suggestions = close_names(&wanted, names.iter().map(String::as_str));
    // Expand a short address back to the full form users should type.
    for s in &mut suggestions {
        if let Some(full) = ids::normalize_address(s) {
            *s = full;
        }
    }
    suggestions.dedup();
    OpError::NotFound {
        kind: "PCI device",
        name: text.to_string(),
        suggestions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        assert_eq!(
            Selector::parse("3b:00.0"),
            Some(Selector::Address("0000:3b:00.0".into()))
        );
        assert_eq!(
            Selector::parse("10de:20b7"),
            Some(Selector::Id(VendorDevice {
                vendor: 0x10de,
                device: 0x20b7
            }))
        );
        assert!(matches!(
            Selector::parse("NVIDIA"),
            Some(Selector::Vendor { id: 0x10de, .. })
        ));
        assert!(matches!(
            Selector::parse("a30"),
            Some(Selector::Model { .. })
        ));
        assert_eq!(Selector::parse("nvidai"), None);
    }
}
