//! CPU and memory allocation of a resource pool: shares (level and number),
//! reservation, limit, expandable reservation. Parsing what users type, reading what
//! the server returns, and writing `ResourceAllocationInfo` in WSDL order.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::spec_diff::SpecDiff;
use crate::vim::{Node, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// MHz.
    Cpu,
    /// MB.
    Memory,
}

impl Resource {
    pub fn field(self) -> &'static str {
        match self {
            Resource::Cpu => "cpuAllocation",
            Resource::Memory => "memoryAllocation",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Resource::Cpu => "MHz",
            Resource::Memory => "MB",
        }
    }

    /// The shares a pool gets for a level: a pool counts like a VM with 4 vCPUs and
    /// 16 GB (1000 shares per vCPU, 10 per MB at normal; half for low, double for high).
    pub fn shares_for(self, level: &str) -> Option<i64> {
        let normal = match self {
            Resource::Cpu => 4000,
            Resource::Memory => 163_840,
        };
        match level {
            "low" => Some(normal / 2),
            "normal" => Some(normal),
            "high" => Some(normal * 2),
            _ => None,
        }
    }
}

/// Shares as given: a level, or a custom number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shares {
    Level(String),
    Custom(i64),
}

impl Shares {
    pub fn parse(text: &str, option: &str) -> OpResult<Shares> {
        let t = text.trim().to_lowercase();
        if ["low", "normal", "high"].contains(&t.as_str()) {
            return Ok(Shares::Level(t));
        }
        match t.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Shares::Custom(n)),
            _ => Err(OpError::Invalid {
                message: format!("{option} {text}: not a shares value"),
                hint: Some("low, normal, high, or a number of shares (e.g. 6000)".into()),
            }),
        }
    }

    fn resolve(&self, resource: Resource) -> (String, i64) {
        match self {
            Shares::Level(l) => (l.clone(), resource.shares_for(l).unwrap_or(0)),
            Shares::Custom(n) => ("custom".into(), *n),
        }
    }
}

/// `unlimited` or a number (MHz or MB) as a vSphere limit (-1 is unlimited).
pub fn parse_limit(text: &str, option: &str) -> OpResult<i64> {
    let t = text.trim().to_lowercase();
    if t == "unlimited" || t == "-1" {
        return Ok(-1);
    }
    match t.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(OpError::Invalid {
            message: format!("{option} {text}: not a limit"),
            hint: Some("a number (MHz for CPU, MB for memory) or `unlimited`".into()),
        }),
    }
}

/// One resource's allocation as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub shares_level: String,
    pub shares: i64,
    pub reservation: i64,
    /// -1: unlimited.
    pub limit: i64,
    pub expandable: bool,
}

impl Allocation {
    /// What `rp create` uses where nothing is given (vSphere's own defaults).
    pub fn default_for(resource: Resource) -> Self {
        Allocation {
            shares_level: "normal".into(),
            shares: resource.shares_for("normal").unwrap_or(0),
            reservation: 0,
            limit: -1,
            expandable: true,
        }
    }

    /// From a `ResourceAllocationInfo` node.
    pub fn read(node: Option<&Node>) -> Self {
        let get = |path: &str| node.and_then(|n| n.i64_at(path));
        Allocation {
            shares_level: node
                .and_then(|n| n.str_at("shares.level"))
                .unwrap_or("normal")
                .to_string(),
            shares: get("shares.shares").unwrap_or(0),
            reservation: get("reservation").unwrap_or(0),
            limit: get("limit").unwrap_or(-1),
            expandable: node
                .and_then(|n| n.bool_at("expandableReservation"))
                .unwrap_or(false),
        }
    }

    /// A pool cannot reserve more than its limit.
    pub fn check(&self, resource: Resource) -> OpResult<()> {
        if self.limit >= 0 && self.reservation > self.limit {
            return Err(OpError::Invalid {
                message: format!(
                    "{} reservation {r} {u} would be above the limit {l} {u}",
                    if resource == Resource::Cpu {
                        "CPU"
                    } else {
                        "memory"
                    },
                    r = self.reservation,
                    l = self.limit,
                    u = resource.unit()
                ),
                hint: Some("raise the limit or lower the reservation".into()),
            });
        }
        Ok(())
    }

    pub fn limit_text(&self, resource: Resource) -> String {
        if self.limit < 0 {
            "unlimited".into()
        } else {
            format!("{} {}", self.limit, resource.unit())
        }
    }

    pub fn shares_text(&self) -> String {
        if self.shares_level == "custom" {
            self.shares.to_string()
        } else {
            format!("{} ({})", self.shares_level, self.shares)
        }
    }
}

/// What to change in one resource's allocation; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocationChange {
    pub shares: Option<Shares>,
    pub reservation: Option<i64>,
    pub limit: Option<i64>,
    pub expandable: Option<bool>,
}

impl AllocationChange {
    /// A change from option text (`--cpu-shares high`, `cpu_shares: "high"`); `prefix`
    /// names the options in errors (`--cpu-`, `cpu_`).
    pub fn from_text(
        prefix: &str,
        shares: Option<&str>,
        reservation: Option<i64>,
        limit: Option<&str>,
        expandable: Option<bool>,
    ) -> OpResult<Self> {
        Ok(AllocationChange {
            shares: shares
                .map(|s| Shares::parse(s, &format!("{prefix}shares")))
                .transpose()?,
            reservation,
            limit: limit
                .map(|l| parse_limit(l, &format!("{prefix}limit")))
                .transpose()?,
            expandable,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == AllocationChange::default()
    }

    pub fn validate(&self, resource: Resource) -> OpResult<()> {
        if let Some(r) = self.reservation
            && r < 0
        {
            return Err(OpError::invalid(format!(
                "a {} reservation cannot be negative",
                resource.unit()
            )));
        }
        Ok(())
    }

    /// The allocation after this change.
    pub fn applied_to(&self, resource: Resource, base: &Allocation) -> Allocation {
        let (level, shares) = match &self.shares {
            Some(s) => s.resolve(resource),
            None => (base.shares_level.clone(), base.shares),
        };
        Allocation {
            shares_level: level,
            shares,
            reservation: self.reservation.unwrap_or(base.reservation),
            limit: self.limit.unwrap_or(base.limit),
            expandable: self.expandable.unwrap_or(base.expandable),
        }
    }
}

/// Diff lines between two allocations of one resource.
pub fn diff(d: &mut SpecDiff, resource: Resource, before: &Allocation, after: &Allocation) {
    let f = resource.field();
    d.edit(
        &format!("{f}.shares"),
        before.shares_text(),
        after.shares_text(),
    )
    .edit(
        &format!("{f}.reservation"),
        format!("{} {}", before.reservation, resource.unit()),
        format!("{} {}", after.reservation, resource.unit()),
    )
    .edit(
        &format!("{f}.limit"),
        before.limit_text(resource),
        after.limit_text(resource),
    )
    .edit(
        &format!("{f}.expandableReservation"),
        before.expandable.to_string(),
        after.expandable.to_string(),
    );
}

/// Every field set (CreateResourcePool needs them all).
pub fn write_full(r: &mut Request, resource: Resource, a: &Allocation) {
    r.nest(resource.field(), None, |r| {
        r.text("reservation", a.reservation)
            .text("expandableReservation", a.expandable)
            .text("limit", a.limit)
            .nest("shares", None, |r| {
                r.text("shares", a.shares).text("level", &a.shares_level);
            });
    });
}

/// Only the fields that change (UpdateConfig leaves unset fields as they are).
pub fn write_change(r: &mut Request, resource: Resource, change: &AllocationChange) {
    r.nest(resource.field(), None, |r| {
        r.opt_text("reservation", change.reservation)
            .opt_text("expandableReservation", change.expandable)
            .opt_text("limit", change.limit);
        if let Some(shares) = &change.shares {
            let (level, number) = shares.resolve(resource);
            r.nest("shares", None, |r| {
                r.text("shares", number).text("level", level);
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_levels_follow_vsphere_arithmetic() {
        assert_eq!(Resource::Cpu.shares_for("high"), Some(8000));
        assert_eq!(Resource::Memory.shares_for("low"), Some(81_920));
        let change = AllocationChange {
            shares: Some(Shares::parse("HIGH", "--cpu-shares").unwrap()),
            ..Default::default()
        };
        let after = change.applied_to(Resource::Cpu, &Allocation::default_for(Resource::Cpu));
        assert_eq!((after.shares_level.as_str(), after.shares), ("high", 8000));
        assert!(Shares::parse("lots", "--cpu-shares").is_err());
        assert_eq!(Shares::parse("6000", "x").unwrap(), Shares::Custom(6000));
    }

    #[test]
    fn limits_parse_unlimited_and_reject_garbage() {
        assert_eq!(parse_limit("unlimited", "--cpu-limit").unwrap(), -1);
        assert_eq!(parse_limit("2000", "--cpu-limit").unwrap(), 2000);
        assert!(parse_limit("-5", "--cpu-limit").is_err());
        let bad = AllocationChange {
            reservation: Some(3000),
            limit: Some(1000),
            ..Default::default()
        };
        let after = bad.applied_to(Resource::Cpu, &Allocation::default_for(Resource::Cpu));
        assert!(after.check(Resource::Cpu).is_err());
    }
}
