//! OVF 1.0 descriptors and manifests, without I/O: written for an export from what the VM
//! has, and read back (the parts an import needs: its name, files and networks) from
//! any OVF. The hardware itself is the server's to read (CreateImportSpec).

use std::fmt::Write;

use quick_xml::escape::escape;
use quick_xml::events::Event;

/// A disk as the descriptor lists it.
#[derive(Debug, Clone)]
pub struct OvfDisk {
    /// The file in the package (`web-disk-0.vmdk`).
    pub href: String,
    pub size: u64,
    pub capacity_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct OvfNic {
    pub network: String,
    /// The vSphere device type, e.g. `VirtualVmxnet3`.
    pub kind: String,
}

/// The VM a descriptor describes.
#[derive(Debug, Clone)]
pub struct OvfVm {
    pub name: String,
    pub guest_id: String,
    pub cpus: i64,
    pub memory_mb: i64,
    /// `vmx-13`
    pub hardware_version: String,
    pub disks: Vec<OvfDisk>,
    pub nics: Vec<OvfNic>,
}

/// Real hosts serve and take streamOptimized VMDKs on lease URLs.
const DISK_FORMAT: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// The rasd ResourceSubType of a NIC type (`VirtualVmxnet3` → `VmxNet3`).
fn nic_subtype(kind: &str) -> &'static str {
    match kind
        .trim_start_matches("Virtual")
        .to_ascii_lowercase()
        .as_str()
    {
        "e1000e" => "E1000e",
        "pcnet32" => "PCNet32",
        "vmxnet2" => "VmxNet2",
        "vmxnet3" => "VmxNet3",
        _ => "E1000",
    }
}

/// One rasd Item; elements in the CIM schema's (alphabetical) order, which strict
/// readers such as ovftool require.
fn item(out: &mut String, fields: &[(&str, String)]) {
    let mut sorted: Vec<&(&str, String)> = fields.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    out.push_str("      <Item>\n");
    for (name, value) in sorted {
        let _ = writeln!(
            out,
            "        <rasd:{name}>{}</rasd:{name}>",
            escape(value.as_str())
        );
    }
    out.push_str("      </Item>\n");
}

pub fn write(vm: &OvfVm) -> String {
    let name = escape(vm.name.as_str());
    let mut out = String::new();
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" ",
        "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" ",
        "xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" ",
        "xmlns:vmw=\"http://www.vmware.com/schema/ovf\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        "  <References>\n"
    ));
    for (i, d) in vm.disks.iter().enumerate() {
        let _ = writeln!(
            out,
            "    <File ovf:href=\"{}\" ovf:id=\"file{}\" ovf:size=\"{}\"/>",
            escape(d.href.as_str()),
            i + 1,
            d.size
        );
    }
    out.push_str("  </References>\n  <DiskSection>\n    <Info>Virtual disk information</Info>\n");
    for (i, d) in vm.disks.iter().enumerate() {
        let _ = writeln!(
            out,
            "    <Disk ovf:capacity=\"{}\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk{n}\" ovf:fileRef=\"file{n}\" ovf:format=\"{DISK_FORMAT}\"/>",
            d.capacity_bytes,
            n = i + 1
        );
    }
    out.push_str("  </DiskSection>\n");
    let mut networks: Vec<&str> = vm.nics.iter().map(|n| n.network.as_str()).collect();
    networks.sort_unstable();
    networks.dedup();
    if !networks.is_empty() {
        out.push_str("  <NetworkSection>\n    <Info>The list of logical networks</Info>\n");
        for n in &networks {
            let n = escape(*n);
            let _ = writeln!(
                out,
                "    <Network ovf:name=\"{n}\">\n      <Description>The {n} network</Description>\n    </Network>"
            );
        }
        out.push_str("  </NetworkSection>\n");
    }
    let _ = write!(
        out,
        concat!(
            "  <VirtualSystem ovf:id=\"{name}\">\n    <Info>A virtual machine</Info>\n    <Name>{name}</Name>\n",
            "    <OperatingSystemSection ovf:id=\"1\" vmw:osType=\"{guest}\">\n      <Info>The kind of installed guest operating system</Info>\n    </OperatingSystemSection>\n",
            "    <VirtualHardwareSection>\n      <Info>Virtual hardware requirements</Info>\n      <System>\n",
            "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n        <vssd:InstanceID>0</vssd:InstanceID>\n",
            "        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>\n        <vssd:VirtualSystemType>{hw}</vssd:VirtualSystemType>\n      </System>\n"
        ),
        name = name,
        guest = escape(vm.guest_id.as_str()),
        hw = escape(vm.hardware_version.as_str()),
    );
    item(
        &mut out,
        &[
            ("AllocationUnits", "hertz * 10^6".into()),
            ("Description", "Number of Virtual CPUs".into()),
            ("ElementName", format!("{} virtual CPU(s)", vm.cpus)),
            ("InstanceID", "1".into()),
            ("ResourceType", "3".into()),
            ("VirtualQuantity", vm.cpus.to_string()),
        ],
    );
    item(
        &mut out,
        &[
            ("AllocationUnits", "byte * 2^20".into()),
            ("Description", "Memory Size".into()),
            ("ElementName", format!("{}MB of memory", vm.memory_mb)),
            ("InstanceID", "2".into()),
            ("ResourceType", "4".into()),
            ("VirtualQuantity", vm.memory_mb.to_string()),
        ],
    );
    let mut id = 3;
    if !vm.disks.is_empty() {
        item(
            &mut out,
            &[
                ("Address", "0".into()),
                ("Description", "SCSI Controller".into()),
                ("ElementName", "SCSI Controller 0".into()),
                ("InstanceID", "3".into()),
                ("ResourceSubType", "lsilogic".into()),
                ("ResourceType", "6".into()),
            ],
        );
        for (i, _) in vm.disks.iter().enumerate() {
            id += 1;
            item(
                &mut out,
                &[
                    ("AddressOnParent", i.to_string()),
                    ("ElementName", format!("Hard disk {}", i + 1)),
                    ("HostResource", format!("ovf:/disk/vmdisk{}", i + 1)),
                    ("InstanceID", id.to_string()),
                    ("Parent", "3".into()),
                    ("ResourceType", "17".into()),
                ],
            );
        }
    }
    for (i, nic) in vm.nics.iter().enumerate() {
        id += 1;
        item(
            &mut out,
            &[
                ("AddressOnParent", (7 + i).to_string()),
                ("AutomaticAllocation", "true".into()),
                ("Connection", nic.network.clone()),
                ("ElementName", format!("Network adapter {}", i + 1)),
                ("InstanceID", id.to_string()),
                ("ResourceSubType", nic_subtype(&nic.kind).into()),
                ("ResourceType", "10".into()),
            ],
        );
    }
    out.push_str("    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n");
    out
}

/// A file the descriptor references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvfFile {
    pub id: String,
    pub href: String,
    pub size: Option<u64>,
}

/// What an import needs from a descriptor.
#[derive(Debug, Clone, Default)]
pub struct Descriptor {
    /// The VirtualSystem's `<Name>`, else its `ovf:id`.
    pub name: Option<String>,
    pub files: Vec<OvfFile>,
    /// NetworkSection names (the ones `--network-map` renames).
    pub networks: Vec<String>,
}

fn attr(e: &quick_xml::events::BytesStart<'_>, wanted: &str) -> Option<String> {
    e.attributes().with_checks(false).flatten().find_map(|a| {
        (a.key.local_name().as_ref() == wanted)
            .then(|| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
            .flatten()
            .map(|v| v.into_owned())
    })
}

/// One element of interest (a File, a Network, the VirtualSystem) under `parent`.
fn element(
    parent: &str,
    e: &quick_xml::events::BytesStart<'_>,
    out: &mut Descriptor,
    system_id: &mut Option<String>,
) -> Result<(), String> {
    let local = e.local_name();
    match (parent, local.as_ref()) {
        ("References", "File") => {
            let href = attr(e, "href").ok_or("a File without ovf:href")?;
            if href.contains("..") || href.starts_with('/') || href.contains('\\') {
                return Err(format!("file '{href}' points outside the package"));
            }
            out.files.push(OvfFile {
                id: attr(e, "id").unwrap_or_default(),
                href,
                size: attr(e, "size").and_then(|s| s.parse().ok()),
            });
        }
        ("NetworkSection", "Network") => {
            if let Some(name) = attr(e, "name") {
                out.networks.push(name);
            }
        }
        ("Envelope", "VirtualSystem") => *system_id = attr(e, "id"),
        _ => {}
    }
    Ok(())
}

/// Inside the VirtualSystem's `<Name>`.
fn in_name(path: &[String]) -> bool {
    path.len() >= 2 && path[path.len() - 1] == "Name" && path[path.len() - 2] == "VirtualSystem"
}

/// Read a descriptor; an error names what is wrong with it.
pub fn read(text: &str) -> Result<Descriptor, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Descriptor::default();
    let mut path: Vec<String> = Vec::new();
    let mut system_id = None;
    let mut envelope = false;
    let mut name = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not valid XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                envelope |= path.is_empty() && e.local_name().as_ref() == "Envelope";
                let parent = path.last().map(String::as_str).unwrap_or("");
                element(parent, &e, &mut out, &mut system_id)?;
                path.push(e.local_name().as_ref().to_string());
            }
            Event::Empty(e) => {
                let parent = path.last().map(String::as_str).unwrap_or("");
                element(parent, &e, &mut out, &mut system_id)?;
            }
            Event::Text(t) if in_name(&path) => name.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_name(&path) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    _ => match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err("an unknown XML entity in the VM name".into()),
                    },
                };
                name.push(ch);
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed in an OVF descriptor".into()),
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !envelope {
        return Err("no OVF <Envelope> element".into());
    }
    let name = name.trim();
    out.name = if name.is_empty() {
        system_id
    } else {
        Some(name.to_string())
    };
    Ok(out)
}

/// A manifest (`.mf`): `SHA256(file)= hex` per file.
pub fn manifest(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(file, sha)| format!("SHA256({file})= {sha}\n"))
        .collect()
}

/// A manifest's lines as (algorithm, file, hex digest).
pub fn read_manifest(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|line| {
            let (left, digest) = line.split_once("=")?;
            let (algo, rest) = left.trim().split_once('(')?;
            let file = rest.strip_suffix(')')?;
            Some((
                algo.trim().to_ascii_uppercase(),
                file.to_string(),
                digest.trim().to_ascii_lowercase(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> OvfVm {
        OvfVm {
            name: "web & db".into(),
            guest_id: "otherGuest64".into(),
            cpus: 2,
            memory_mb: 2048,
            hardware_version: "vmx-13".into(),
            disks: vec![OvfDisk {
                href: "web-disk-0.vmdk".into(),
                size: 1048576,
                capacity_bytes: 1048576,
            }],
            nics: vec![OvfNic {
                network: "VM Network".into(),
                kind: "VirtualVmxnet3".into(),
            }],
        }
    }

    #[test]
    fn a_written_descriptor_reads_back() {
        let text = write(&vm());
        let d = read(&text).unwrap();
        assert_eq!(d.name.as_deref(), Some("web & db"));
        assert_eq!(
            d.files,
            [OvfFile {
                id: "file1".into(),
                href: "web-disk-0.vmdk".into(),
                size: Some(1048576)
            }]
        );
        assert_eq!(d.networks, ["VM Network"]);
        assert!(text.contains("<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>"));
        assert!(text.contains("ovf:capacityAllocationUnits=\"byte\""));
    }

    #[test]
    fn bad_descriptors_are_refused_with_the_reason() {
        assert!(read("<html>hi</html>").unwrap_err().contains("Envelope"));
        let escape = write(&vm()).replace("web-disk-0.vmdk", "../../etc/passwd");
        assert!(read(&escape).unwrap_err().contains("outside the package"));
    }

    #[test]
    fn manifests_round_trip() {
        let m = manifest(&[("a.ovf".into(), "AB12".into())]);
        assert_eq!(m, "SHA256(a.ovf)= AB12\n");
        assert_eq!(
            read_manifest(&m),
            [("SHA256".into(), "a.ovf".into(), "ab12".into())]
        );
    }
}
