//! PCI identifiers: addresses, vendor/device IDs and class codes.
//!
//! vSphere sends `vendorId`, `deviceId` and `classId` as signed 16-bit numbers
//! (0x8086 arrives as -32634); users and every other tool write them as unsigned hex.
//! Everything here works on the unsigned value.

use std::fmt;

/// A signed short from the API as the unsigned 16-bit value it stands for.
pub fn unsigned(value: i64) -> u16 {
    // Truncation is the point: -32634 and 32902 are both 0x8086.
    (value & 0xffff) as u16
}

/// The signed short the API expects back (VirtualPCIPassthroughDeviceBackingInfo.vendorId).
pub fn signed(value: u16) -> i64 {
    i64::from(value as i16)
}

/// `10de:20b7`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VendorDevice {
    pub vendor: u16,
    pub device: u16,
}

impl fmt::Display for VendorDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

impl VendorDevice {
    /// Parse `10de:20b7` (optionally `0x`-prefixed parts).
    pub fn parse(text: &str) -> Option<Self> {
        let (v, d) = text.trim().split_once(':')?;
        Some(Self {
            vendor: hex16(v)?,
            device: hex16(d)?,
        })
    }
}

/// Parse one 1-4 digit hex number.
pub fn hex16(text: &str) -> Option<u16> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() || t.len() > 4 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(t, 16).ok()
}

/// Normalise a PCI address: `3b:00.0`, `0000:3B:00.0` → `0000:3b:00.0`. None when
/// the text is not an address.
pub fn normalize_address(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    let (rest, function) = t.rsplit_once('.')?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (domain, bus, slot) = match parts.as_slice() {
        [bus, slot] => ("0000", *bus, *slot),
        [domain, bus, slot] => (*domain, *bus, *slot),
        _ => return None,
    };
    let ok = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_hexdigit())
    };
    if !(ok(domain, 4) && ok(bus, 2) && ok(slot, 2) && function.len() == 1 && ok(function, 1)) {
        return None;
    }
    let slot_n = u8::from_str_radix(slot, 16).ok()?;
    let function_n = u8::from_str_radix(function, 16).ok()?;
    if slot_n > 0x1f || function_n > 7 {
        return None;
    }
    Some(format!(
        "{:04x}:{:02x}:{:02x}.{}",
        u16::from_str_radix(domain, 16).ok()?,
        u8::from_str_radix(bus, 16).ok()?,
        slot_n,
        function_n
    ))
}

/// What a PCI class code means, for people. Sub-classes users meet in passthrough
/// work are named; the rest fall back to the base class.
pub fn class_name(class: u16) -> &'static str {
    match class {
        0x0100 => "SCSI controller",
        0x0101 => "IDE controller",
        0x0104 => "RAID controller",
        0x0106 => "SATA controller",
        0x0107 => "SAS controller",
        0x0108 => "NVMe controller",
        0x0200 => "Ethernet controller",
        0x0207 => "InfiniBand controller",
        0x0280 => "Network controller",
        0x0300 => "VGA controller",
        0x0302 => "3D controller",
        0x0380 => "Display controller",
        0x0403 => "Audio device",
        0x0600 => "Host bridge",
        0x0601 => "ISA bridge",
        0x0604 => "PCI bridge",
        0x0c03 => "USB controller",
        0x0c05 => "SMBus",
        0x0c04 => "Fibre Channel",
        0x1200 => "Processing accelerator",
        _ => match class >> 8 {
            0x01 => "Storage controller",
            0x02 => "Network controller",
            0x03 => "Display controller",
            0x04 => "Multimedia controller",
            0x05 => "Memory controller",
            0x06 => "Bridge",
            0x07 => "Communication controller",
            0x08 => "System peripheral",
            0x0c => "Serial bus controller",
            0x12 => "Processing accelerator",
            _ => "Other",
        },
    }
}

/// Display controllers and processing accelerators: the devices `--gpus` shows.
pub fn is_gpu_class(class: u16) -> bool {
    matches!(class >> 8, 0x03 | 0x12)
}

/// Network and storage functions, which ESXi may be using itself (uplinks, boot disks).
pub fn is_host_io_class(class: u16) -> bool {
    matches!(class >> 8, 0x01 | 0x02 | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_shorts_become_unsigned_hex() {
        assert_eq!(unsigned(-32634), 0x8086);
        assert_eq!(unsigned(4318), 0x10de);
        assert_eq!(signed(0x8086), -32634);
        assert_eq!(signed(0x10de), 4318);
        let id = VendorDevice {
            vendor: unsigned(-32634),
            device: unsigned(5490),
        };
        assert_eq!(id.to_string(), "8086:1572");
    }

    #[test]
    fn vendor_device_parses_hex() {
        assert_eq!(
            VendorDevice::parse("10DE:20b7"),
            Some(VendorDevice {
                vendor: 0x10de,
                device: 0x20b7
            })
        );
        assert_eq!(
            VendorDevice::parse("0x10de:0x20b7").map(|v| v.device),
            Some(0x20b7)
        );
        assert_eq!(VendorDevice::parse("nvidia"), None);
        assert_eq!(VendorDevice::parse("10de:20b7x"), None);
        assert_eq!(VendorDevice::parse("12345:1"), None);
    }

    #[test]
    fn addresses_normalise() {
        assert_eq!(
            normalize_address("3B:00.0").as_deref(),
            Some("0000:3b:00.0")
        );
        assert_eq!(
            normalize_address("0000:86:00.1").as_deref(),
            Some("0000:86:00.1")
        );
        assert_eq!(normalize_address("10de:20b7"), None);
        assert_eq!(normalize_address("0000:3b:00.8"), None);
        assert_eq!(normalize_address("0000:3b:20.0"), None);
        assert_eq!(normalize_address("a.b"), None);
    }

    #[test]
    fn classes_are_named() {
        assert_eq!(class_name(0x0302), "3D controller");
        assert_eq!(class_name(0x0207), "InfiniBand controller");
        assert_eq!(class_name(0x0290), "Network controller");
        assert!(is_gpu_class(0x0380));
        assert!(!is_gpu_class(0x0200));
    }
}
