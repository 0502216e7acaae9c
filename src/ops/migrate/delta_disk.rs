//! vmfsSparse delta disks ("redo logs"), the one way to add a round of changed areas to
//! a disk on the target: datastore HTTP writes whole files only, so a warm migration's
//! later rounds go up as small deltas chained on the first round's flat disk, which the
//! target consolidates after power-on.
//!
//! A delta is a descriptor (`createType="vmfsSparse"`, `parentFileNameHint`,
//! `parentCID` = the parent's `CID`) and a COWD extent as in VMware's Virtual Disk
//! Format 1.1 ("ESX Server Sparse Extents"): a 2048-byte header, the grain directory
//! (little-endian u32 sector offsets of grain tables), grain tables of 4096 u32 sector
//! offsets of grains, then the grains. Grains are one sector, as ESXi writes them.
//! The layout is known from the extents alone, so the file streams: metadata first,
//! then the data of each extent in order.

use crate::backup_repo::Extent;

pub const SECTOR: u64 = 512;
/// Grain table entries per table (fixed by the format).
const GT_ENTRIES: u64 = 4096;
/// The COWD header's size in sectors.
const HEADER_SECTORS: u64 = 4;

/// Where every sector of a delta goes.
#[derive(Debug, Clone)]
pub struct DeltaLayout {
    capacity: u64,
    extents: Vec<Extent>,
    gd_entries: u64,
    /// Grain directory indexes that have a table, ascending.
    tables: Vec<u64>,
    meta_sectors: u64,
}

impl DeltaLayout {
    /// A delta of a `capacity`-byte disk holding `extents` (any order; widened to whole
    /// sectors, clipped to the disk, merged).
    pub fn new(capacity: u64, extents: &[Extent]) -> DeltaLayout {
        let capacity = capacity / SECTOR * SECTOR;
        let mut sorted: Vec<Extent> = extents
            .iter()
            .filter_map(|e| {
                let start = e.offset / SECTOR * SECTOR;
                let end = e
                    .end()
                    .div_ceil(SECTOR)
                    .saturating_mul(SECTOR)
                    .min(capacity);
                (end > start).then(|| Extent::new(start, end - start))
            })
            .collect();
        sorted.sort_by_key(|e| e.offset);
        let mut merged: Vec<Extent> = Vec::with_capacity(sorted.len());
        for e in sorted {
            match merged.last_mut() {
                Some(last) if e.offset <= last.end() => {
                    last.len = last.len.max(e.end() - last.offset);
                }
                _ => merged.push(e),
            }
        }
        let per_table = GT_ENTRIES * SECTOR;
        let gd_entries = capacity.div_ceil(per_table).max(1);
        let mut tables: Vec<u64> = Vec::new();
        for e in &merged {
            for t in e.offset / per_table..=(e.end() - 1) / per_table {
                if tables.last() != Some(&t) {
                    tables.push(t);
                }
            }
        }
        let gd_sectors = (gd_entries * 4).div_ceil(SECTOR);
        let gt_sectors = GT_ENTRIES * 4 / SECTOR;
        let meta_sectors = HEADER_SECTORS + gd_sectors + tables.len() as u64 * gt_sectors;
        DeltaLayout {
            capacity,
            extents: merged,
            gd_entries,
            tables,
            meta_sectors,
        }
    }

    /// The areas whose data follows the metadata, in file order.
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    pub fn data_len(&self) -> u64 {
        self.extents.iter().map(|e| e.len).sum()
    }

    pub fn metadata_len(&self) -> u64 {
        self.meta_sectors * SECTOR
    }

    pub fn file_len(&self) -> u64 {
        self.metadata_len() + self.data_len()
    }

    /// Header, grain directory and grain tables: the file's first `metadata_len` bytes.
    pub fn metadata(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.metadata_len() as usize];
        let put = |out: &mut [u8], at: u64, v: u64| {
            let at = at as usize;
            // Sector offsets and counts of a disk of at most 2 TiB fit (the format's limit).
            out[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
        };
        out[0..4].copy_from_slice(b"COWD");
        put(&mut out, 4, 1); // version
        put(&mut out, 8, 3); // flags
        put(&mut out, 12, self.capacity / SECTOR);
        put(&mut out, 16, 1); // grain size in sectors
        put(&mut out, 20, HEADER_SECTORS); // gdOffset
        put(&mut out, 24, self.gd_entries);
        put(&mut out, 28, self.meta_sectors + self.data_len() / SECTOR); // freeSector

        let gd_sectors = (self.gd_entries * 4).div_ceil(SECTOR);
        let gt_bytes = GT_ENTRIES * 4;
        let first_table = (HEADER_SECTORS + gd_sectors) * SECTOR;
        for (i, t) in self.tables.iter().enumerate() {
            let table_at = first_table + i as u64 * gt_bytes;
            put(&mut out, HEADER_SECTORS * SECTOR + t * 4, table_at / SECTOR);
        }
        let mut next = self.meta_sectors;
        let mut table = 0usize;
        for e in &self.extents {
            for sector in e.offset / SECTOR..e.end() / SECTOR {
                let t = sector / GT_ENTRIES;
                while self.tables[table] != t {
                    table += 1;
                }
                let entry = first_table + table as u64 * gt_bytes + (sector % GT_ENTRIES) * 4;
                put(&mut out, entry, next);
                next += 1;
            }
        }
        out
    }
}

/// The descriptor of a delta whose extent is `extent` (a file name in the same
/// directory), chained on `parent` (also there) whose CID is `parent_cid`.
pub fn descriptor(
    extent: &str,
    parent: &str,
    parent_cid: &str,
    cid: &str,
    capacity: u64,
) -> String {
    format!(
        "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID={cid}\nparentCID={parent_cid}\n\
         createType=\"vmfsSparse\"\nparentFileNameHint=\"{parent}\"\n\n# Extent description\n\
         RW {} VMFSSPARSE \"{extent}\"\n\n# The Disk Data Base\n#DDB\n\n",
        capacity / SECTOR
    )
}

/// The `CID=` of a descriptor.
pub fn descriptor_cid(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let value = l.trim().strip_prefix("CID=")?;
        let cid = value.trim().trim_matches('"');
        (cid.len() == 8 && cid.chars().all(|c| c.is_ascii_hexdigit())).then(|| cid.to_lowercase())
    })
}

/// A fresh content id for a new link.
pub fn new_cid() -> String {
    let id = uuid::Uuid::new_v4();
    format!("{:08x}", id.as_fields().0 | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one sector of the delta through its tables: what ESXi would see, or None
    /// when the delta does not have it.
    fn sector(file: &[u8], sector: u64) -> Option<&[u8]> {
        let u32_at = |at: u64| {
            let at = at as usize;
            u64::from(u32::from_le_bytes(file[at..at + 4].try_into().unwrap()))
        };
        let gd = u32_at(20) * SECTOR;
        let table = u32_at(gd + sector / GT_ENTRIES * 4);
        if table == 0 {
            return None;
        }
        let grain = u32_at(table * SECTOR + sector % GT_ENTRIES * 4);
        (grain != 0).then(|| &file[(grain * SECTOR) as usize..((grain + 1) * SECTOR) as usize])
    }

    #[test]
    fn sectors_read_back_through_the_tables() {
        let capacity = 8 << 20; // two grain tables' worth and more
        let extents = [
            Extent::new(3 << 20, 1000), // widened to two sectors
            Extent::new(100, 10),       // inside sector 0
            Extent::new(2 << 20, 1024), // in the next table, touching the first extent's table
        ];
        let layout = DeltaLayout::new(capacity, &extents);
        assert_eq!(
            layout.extents(),
            &[
                Extent::new(0, 512),
                Extent::new(2 << 20, 1024),
                Extent::new(3 << 20, 1024)
            ]
        );
        let mut file = layout.metadata();
        let mut marks = Vec::new();
        for e in layout.extents() {
            for s in e.offset / SECTOR..e.end() / SECTOR {
                file.extend(std::iter::repeat_n((s % 251) as u8, SECTOR as usize));
                marks.push(s);
            }
        }
        assert_eq!(file.len() as u64, layout.file_len());
        for s in &marks {
            assert_eq!(sector(&file, *s).unwrap()[0], (s % 251) as u8, "sector {s}");
        }
        assert!(sector(&file, 1).is_none());
        assert!(sector(&file, (5 << 20) / SECTOR).is_none());
        assert_eq!(&file[0..4], b"COWD");
    }

    #[test]
    fn an_empty_delta_is_just_its_header_and_directory() {
        let layout = DeltaLayout::new(1 << 20, &[]);
        assert_eq!(layout.data_len(), 0);
        assert_eq!(layout.metadata_len(), (HEADER_SECTORS + 1) * SECTOR);
    }

    #[test]
    fn descriptors_name_their_parent() {
        let text = descriptor(
            "d-000001-delta.vmdk",
            "d.vmdk",
            "c3bd6f40",
            "0a0b0c0d",
            4 << 20,
        );
        assert!(text.contains("parentFileNameHint=\"d.vmdk\""));
        assert!(text.contains("RW 8192 VMFSSPARSE \"d-000001-delta.vmdk\""));
        assert_eq!(descriptor_cid(&text).as_deref(), Some("0a0b0c0d"));
    }
}
