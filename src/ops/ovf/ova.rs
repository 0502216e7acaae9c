//! OVA packages are POSIX ustar archives (the descriptor first, then the manifest and
//! the disks). Only the header arithmetic lives here; callers stream the bytes.

pub const BLOCK: usize = 512;

/// Zero bytes after `size` bytes of data up to the next block.
pub fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 { 0 } else { BLOCK - rest }
}

/// The two zero blocks that end an archive.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// A ustar header for a regular file. Names longer than 100 bytes are refused (an OVA's
/// members are short names, OVF 1.0 says so); sizes of 8 GiB and more use GNU base-256.
pub fn header(name: &str, size: u64, mtime: u64) -> Result<[u8; BLOCK], String> {
    if name.len() > 100 || name.is_empty() {
        return Err(format!("'{name}': an OVA member name has 1 to 100 bytes"));
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 8u64.pow(11) {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime.min(8u64.pow(11) - 1));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    Ok(h)
}

/// A member of an archive: its name and size; None for the end-of-archive block.
pub fn read_header(h: &[u8; BLOCK]) -> Result<Option<(String, u64, u8)>, String> {
    if h.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let stored: u64 = parse_octal(&h[148..156]).ok_or("a tar header with a bad checksum field")?;
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    if sum != stored {
        return Err("not an OVA (tar) file: a header checksum does not match".into());
    }
    let text = |field: &[u8]| {
        let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    let mut name = text(&h[..100]);
    if &h[257..262] == b"ustar" {
        let prefix = text(&h[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    let size = if h[124] & 0x80 != 0 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&h[128..136]);
        u64::from_be_bytes(bytes)
    } else {
        parse_octal(&h[124..136]).ok_or("a tar header with a bad size")?
    };
    Ok(Some((name, size, h[156])))
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_small_and_huge() {
        let h = header("web.ovf", 1234, 1_700_000_000).unwrap();
        assert_eq!(
            read_header(&h).unwrap(),
            Some(("web.ovf".into(), 1234, b'0'))
        );
        let big = 20u64 << 30;
        let h = header("web-disk-0.vmdk", big, 0).unwrap();
        assert_eq!(read_header(&h).unwrap().unwrap().1, big);
        assert_eq!(read_header(&[0; BLOCK]).unwrap(), None);
        let mut bad = header("x", 1, 0).unwrap();
        bad[0] = b'y';
        assert!(read_header(&bad).is_err());
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
        assert!(header(&"n".repeat(101), 1, 0).is_err());
    }
}
