//! `vm update`'s input as users type it: sizes (`20G`), new disks (`20G:thick@ds`),
//! grown disks (`Hard disk 1=40G`), ISO paths and boot orders, checked before any
//! request is made.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};

use super::create::MAX_DISK_GB;

/// How a new disk is provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provisioning {
    Thin,
    /// Thick, lazily zeroed.
    Thick,
    /// Thick, eagerly zeroed.
    Eager,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDisk {
    pub size_bytes: i64,
    pub provisioning: Provisioning,
    pub datastore: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cdrom {
    /// `[datastore] path/to.iso`
    Insert(String),
    Eject,
}

/// `20G`, `512M`, `1T`, `40GB`; a bare number is GB.
pub fn parse_size(text: &str, option: &str) -> OpResult<i64> {
    let t = text.trim().to_ascii_uppercase();
    let t = t
        .strip_suffix("IB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(&t);
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "G"),
    };
    let shift = match unit {
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => -1,
    };
    match number.trim().parse::<i64>() {
        Ok(n) if n > 0 && shift > 0 => n
            .checked_mul(1i64 << shift)
            .filter(|b| *b <= MAX_DISK_GB << 30)
            .ok_or_else(|| size_error(text, option)),
        _ => Err(size_error(text, option)),
    }
}

fn size_error(text: &str, option: &str) -> OpError {
    OpError::Invalid {
        message: format!("{option} {text}: not a disk size"),
        hint: Some(format!(
            "a size with M, G or T (e.g. 20G, 512M) up to {MAX_DISK_GB}G (62 TB, the vSphere limit)"
        )),
    }
}

pub fn size_text(bytes: i64) -> String {
    const GB: i64 = 1 << 30;
    if bytes % GB == 0 {
        format!("{} GB", bytes / GB)
    } else {
        format!("{} MB", bytes >> 20)
    }
}

/// `SIZE[:thin|thick|eager][@DATASTORE]`.
pub fn parse_new_disk(text: &str) -> OpResult<NewDisk> {
    let (rest, datastore) = match text.split_once('@') {
        Some((r, ds)) if !ds.trim().is_empty() => (r, Some(ds.trim().to_string())),
        Some(_) => {
            return Err(OpError::invalid(format!(
                "--add-disk {text}: empty datastore after @"
            )));
        }
        None => (text, None),
    };
    let (size, kind) = rest.split_once(':').unwrap_or((rest, "thin"));
    let provisioning = match kind.trim().to_ascii_lowercase().as_str() {
        "thin" => Provisioning::Thin,
        "thick" => Provisioning::Thick,
        "eager" | "eagerzeroedthick" => Provisioning::Eager,
        other => {
            return Err(OpError::Invalid {
                message: format!("--add-disk {text}: unknown provisioning '{other}'"),
                hint: Some("SIZE[:thin|thick|eager][@DATASTORE], e.g. 20G:thick@datastore1".into()),
            });
        }
    };
    Ok(NewDisk {
        size_bytes: parse_size(size, "--add-disk")?,
        provisioning,
        datastore,
    })
}

/// `DISK=SIZE`, e.g. `Hard disk 1=40G`.
pub fn parse_grow(text: &str) -> OpResult<(String, i64)> {
    match text.rsplit_once('=') {
        Some((disk, size)) if !disk.trim().is_empty() => {
            Ok((disk.trim().to_string(), parse_size(size, "--grow-disk")?))
        }
        _ => Err(OpError::Invalid {
            message: format!("--grow-disk {text}: expected DISK=SIZE"),
            hint: Some(
                "e.g. --grow-disk \"Hard disk 1=40G\" (`ceso vm info VM` lists the disks)".into(),
            ),
        }),
    }
}

/// `[datastore] path/x.iso`, also written `ds://[datastore] path/x.iso` or
/// `ds://datastore/path/x.iso`.
pub fn parse_iso(text: &str) -> OpResult<String> {
    let t = text.trim();
    let t = t.strip_prefix("ds://").unwrap_or(t);
    let path = if let Some(rest) = t.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ds, p)) if !ds.is_empty() && !p.trim().is_empty() => {
                format!("[{ds}] {}", p.trim())
            }
            _ => String::new(),
        }
    } else {
        match t.split_once('/') {
            Some((ds, p)) if !ds.is_empty() && !p.is_empty() => format!("[{ds}] {p}"),
            _ => String::new(),
        }
    };
    if path.is_empty() || !path.to_ascii_lowercase().ends_with(".iso") {
        return Err(OpError::Invalid {
            message: format!("--cdrom {text}: not an ISO file on a datastore"),
            hint: Some(
                "e.g. --cdrom \"[datastore1] iso/ubuntu.iso\" or ds://datastore1/iso/ubuntu.iso"
                    .into(),
            ),
        });
    }
    Ok(path)
}

pub fn parse_boot_order(text: &str) -> OpResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        let name = match part.as_str() {
            "disk" | "hdd" => "disk",
            "cdrom" | "cd" => "cdrom",
            "net" | "network" | "ethernet" => "net",
            "floppy" => "floppy",
            _ => {
                return Err(OpError::Invalid {
                    message: format!("--boot-order {text}: unknown device '{part}'"),
                    hint: Some("a comma-separated list of disk, cdrom, net, floppy".into()),
                });
            }
        };
        if out.iter().any(|o| o == name) {
            return Err(OpError::invalid(format!(
                "--boot-order {text}: {name} twice"
            )));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_specs_parse() {
        assert_eq!(parse_size("20G", "x").unwrap(), 20 << 30);
        assert_eq!(parse_size("512MB", "x").unwrap(), 512 << 20);
        assert_eq!(parse_size("3", "x").unwrap(), 3 << 30);
        assert!(parse_size("0G", "x").is_err());
        assert!(parse_size("63T", "x").is_err());
        assert!(parse_size("big", "x").is_err());
        let d = parse_new_disk("20G:thick@datastore2").unwrap();
        assert_eq!(d.provisioning, Provisioning::Thick);
        assert_eq!(d.datastore.as_deref(), Some("datastore2"));
        assert_eq!(
            parse_grow("Hard disk 1=40G").unwrap(),
            ("Hard disk 1".into(), 40 << 30)
        );
        assert_eq!(
            parse_iso("ds://[datastore1] iso/x.iso").unwrap(),
            "[datastore1] iso/x.iso"
        );
        assert_eq!(
            parse_iso("ds://datastore1/iso/x.iso").unwrap(),
            "[datastore1] iso/x.iso"
        );
        assert!(parse_iso("x.iso").is_err());
        assert_eq!(
            parse_boot_order("disk, CD,net").unwrap(),
            vec!["disk", "cdrom", "net"]
        );
        assert!(parse_boot_order("disk,disk").is_err());
    }
}
