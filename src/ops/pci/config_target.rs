//! `EnvironmentBrowser.QueryConfigTarget` for one host: what a VM on that host can be
//! given. Static DirectPath needs the `systemId` it reports; Dynamic DirectPath and vGPU
//! are offered there too.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::vim::{MoRef, Node, Request};

use super::ids::{self, VendorDevice};
use super::inventory::HostPci;

/// A device available for static DirectPath.
#[derive(Debug, Clone)]
pub struct PciTarget {
    pub address: String,
    pub system_id: String,
    /// As the API sent it (signed short), to send back unchanged.
    pub vendor_id_raw: i64,
    pub device_id: u16,
}

/// A vendor/device pair available for Dynamic DirectPath.
#[derive(Debug, Clone)]
pub struct DynamicTarget {
    pub id: VendorDevice,
    /// As the API sent them, to send back in `allowedDevice` unchanged.
    pub vendor_id_raw: i64,
    pub device_id_raw: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ConfigTarget {
    pub pci: Vec<PciTarget>,
    pub dynamic: Vec<DynamicTarget>,
    pub vgpu_types: Vec<String>,
}

impl ConfigTarget {
    pub fn pci(&self, address: &str) -> Option<&PciTarget> {
        self.pci.iter().find(|p| p.address == address)
    }

    pub fn dynamic(&self, id: VendorDevice) -> Option<&DynamicTarget> {
        self.dynamic.iter().find(|d| d.id == id)
    }
}

pub async fn query(host: &HostPci) -> OpResult<ConfigTarget> {
    let endpoint = host.endpoint.name().to_string();
    let client = host.endpoint.client().await?;
    let parent = host.parent.clone().ok_or_else(|| {
        OpError::invalid(format!(
            "host {} has no compute resource to query",
            host.name
        ))
    })?;
    let browser: MoRef = client
        .properties(&parent, &["environmentBrowser"])
        .await
        .at(&endpoint)?
        .moref("environmentBrowser")
        .ok_or_else(|| OpError::invalid(format!("{parent} has no environment browser")))?;
    let mut req = Request::new("QueryConfigTarget", &browser);
    req.moref("host", &host.moref);
    let answer = client.call_returnval(req).await.at(&endpoint)?;
    Ok(answer.map(|n| decode(&n)).unwrap_or_default())
}

fn decode(target: &Node) -> ConfigTarget {
    let pci = target
        .children_named("pciPassthrough")
        .filter_map(|p| {
            let device = p.child("pciDevice")?;
            Some(PciTarget {
                address: device.text_of("id")?.to_string(),
                system_id: p.text_of("systemId").unwrap_or_default().to_string(),
                vendor_id_raw: device.i64_at("vendorId").unwrap_or(0),
                device_id: ids::unsigned(device.i64_at("deviceId").unwrap_or(0)),
            })
        })
        .collect();
    let dynamic = target
        .children_named("dynamicPassthrough")
        .map(|d| {
            let vendor = d.i64_at("vendorId").unwrap_or(0);
            let device = d.i64_at("deviceId").unwrap_or(0);
            DynamicTarget {
                id: VendorDevice {
                    vendor: ids::unsigned(vendor),
                    device: ids::unsigned(device),
                },
                vendor_id_raw: vendor,
                device_id_raw: device,
            }
        })
        .collect();
    let vgpu_types = target
        .children_named("sharedGpuPassthroughTypes")
        .filter_map(|t| t.text_of("vgpu").or_else(|| t.text_of("name")))
        .map(str::to_string)
        .collect();
    ConfigTarget {
        pci,
        dynamic,
        vgpu_types,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vim::xml;

    #[test]
    fn decodes_passthrough_dynamic_and_vgpu_entries() {
        let node = xml::parse(
            r#"<returnval>
              <pciPassthrough><name>0000:3b:00.0</name><pciDevice><id>0000:3b:00.0</id><vendorId>4318</vendorId><deviceId>8375</deviceId></pciDevice><systemId>abc</systemId></pciPassthrough>
              <sharedGpuPassthroughTypes><name>grid_a30-4c</name><vgpu>grid_a30-4c</vgpu></sharedGpuPassthroughTypes>
              <dynamicPassthrough><vendorId>-32634</vendorId><deviceId>5490</deviceId></dynamicPassthrough>
            </returnval>"#,
        )
        .unwrap();
        let t = decode(&node);
        let p = t.pci("0000:3b:00.0").unwrap();
        assert_eq!(
            (p.system_id.as_str(), p.vendor_id_raw, p.device_id),
            ("abc", 4318, 0x20b7)
        );
        assert_eq!(t.vgpu_types, vec!["grid_a30-4c"]);
        let d = t
            .dynamic(VendorDevice::parse("8086:1572").unwrap())
            .unwrap();
        assert_eq!(d.vendor_id_raw, -32634);
    }
}
