//! VMDK descriptors: which file holds a disk's bytes. Backups read the flat extent of a
//! monolithic flat disk (`createType="vmfs"` on ESXi, `monolithicFlat` elsewhere) over
//! datastore HTTP; sparse and delta formats need VDDK and are refused by name.

/// The data extent of a flat disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatExtent {
    /// File name, relative to the descriptor's folder.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
}

/// Find the single flat extent in a descriptor's text.
pub fn flat_extent(text: &str) -> Result<FlatExtent, String> {
    let mut create_type = None;
    let mut parent_cid = None;
    let mut extents = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("createType=") {
            create_type = Some(value.trim_matches('"').to_string());
        } else if let Some(value) = line.strip_prefix("parentCID=") {
            parent_cid = Some(value.trim().to_ascii_lowercase());
        } else if line.starts_with("RW ") || line.starts_with("RDONLY ") {
            extents.push(line.to_string());
        }
    }
    let create_type = create_type.ok_or("not a VMDK descriptor (no createType)")?;
    if parent_cid.as_deref().is_some_and(|cid| cid != "ffffffff") {
        return Err("it is a delta disk of a snapshot chain".into());
    }
    if !matches!(create_type.as_str(), "vmfs" | "monolithicFlat" | "vmfsThin") {
        return Err(format!("disk type {create_type} is not a flat disk"));
    }
    let [line] = extents.as_slice() else {
        return Err(format!(
            "{} extents; only single-extent flat disks are supported",
            extents.len()
        ));
    };
    // RW <sectors> <VMFS|FLAT> "<file>" [offset]
    let (head, rest) = line
        .split_once('"')
        .ok_or("extent line without a file name")?;
    let (file, tail) = rest
        .split_once('"')
        .ok_or("extent line without a file name")?;
    let mut words = head.split_whitespace().skip(1);
    let sectors: u64 = words
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("extent line without a size")?;
    let kind = words.next().unwrap_or_default();
    if !matches!(kind, "VMFS" | "FLAT") {
        return Err(format!("extent type {kind} is not flat"));
    }
    if tail
        .split_whitespace()
        .next()
        .is_some_and(|offset| offset != "0")
    {
        return Err("extents at an offset are not supported".into());
    }
    Ok(FlatExtent {
        file: file.to_string(),
        size: sectors * 512,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESXI: &str = "# Disk DescriptorFile\nversion=1\nCID=c9a6a2d0\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\n# Extent description\nRW 8192 VMFS \"disk1-flat.vmdk\"\n\nddb.adapterType = \"pvscsi\"\n";

    #[test]
    fn flat_extent_of_an_esxi_descriptor() {
        let e = flat_extent(ESXI).unwrap();
        assert_eq!(
            e,
            FlatExtent {
                file: "disk1-flat.vmdk".into(),
                size: 8192 * 512
            }
        );
    }

    #[test]
    fn deltas_and_sparse_disks_are_refused() {
        let delta = ESXI.replace("parentCID=ffffffff", "parentCID=c9a6a2d0");
        assert!(flat_extent(&delta).unwrap_err().contains("delta"));
        let sparse = ESXI.replace("\"vmfs\"", "\"vmfsSparse\"");
        assert!(flat_extent(&sparse).unwrap_err().contains("vmfsSparse"));
        assert!(flat_extent("garbage").is_err());
    }
}
