//! The root of every session: the ServiceInstance's content.

use super::moref::MoRef;
use super::xml::Node;

#[derive(Debug, Clone)]
pub struct ServiceContent {
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub view_manager: Option<MoRef>,
    pub session_manager: Option<MoRef>,
    pub about: About,
    raw: Node,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct About {
    pub name: String,
    pub full_name: String,
    pub version: String,
    pub build: String,
    /// `HostAgent` for a standalone ESXi host, `VirtualCenter` for vCenter.
    pub api_type: String,
    pub api_version: String,
    pub instance_uuid: String,
}

impl ServiceContent {
    pub fn from_node(node: Node) -> Option<Self> {
        let about = node.child("about")?;
        let text = |n: &str| about.text_of(n).unwrap_or_default().to_string();
        Some(Self {
            root_folder: node.moref_at("rootFolder")?,
            property_collector: node.moref_at("propertyCollector")?,
            view_manager: node.moref_at("viewManager"),
            session_manager: node.moref_at("sessionManager"),
            about: About {
                name: text("name"),
                full_name: text("fullName"),
                version: text("version"),
                build: text("build"),
                api_type: text("apiType"),
                api_version: text("apiVersion"),
                instance_uuid: text("instanceUuid"),
            },
            raw: node,
        })
    }

    /// Any other manager by its ServiceContent field name (`fileManager`, `searchIndex`…).
    pub fn manager(&self, field: &str) -> Option<MoRef> {
        self.raw.moref_at(field)
    }

    /// The element it was read from (kept with a cached session).
    pub fn raw(&self) -> &Node {
        &self.raw
    }

    pub fn is_vcenter(&self) -> bool {
        self.about.api_type == "VirtualCenter"
    }
}
