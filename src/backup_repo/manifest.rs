//! Backup manifests: what a backup contains, stored as
//! `backups/<id>.json.zst` (zstd-compressed JSON).

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::disk_map::{ChunkRef, DiskMap};
use super::error::{RepoError, Result};

/// Manifest format version written by this build.
pub const MANIFEST_FORMAT: u32 = 1;

/// File name suffix of manifests.
pub const MANIFEST_SUFFIX: &str = ".json.zst";

/// zstd level for manifests (they are written once and read often).
const MANIFEST_ZSTD_LEVEL: i32 = 9;

/// Largest decompressed manifest accepted (a 64 TiB disk at 64 KiB chunks is
/// about 1 G refs; this bound is well above realistic VMs and only stops a
/// corrupt header from allocating without limit).
const MAX_MANIFEST_BYTES: usize = 8 * 1024 * 1024 * 1024;

/// The virtual machine a backup was taken of.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VmInfo {
    pub name: String,
    /// vSphere instance UUID (stable across renames); groups backups per VM.
    pub uuid: String,
    /// Managed object reference, e.g. `vm-42`.
    pub moref: String,
    /// vCenter or ESXi host the VM was backed up from.
    pub endpoint: String,
}

impl VmInfo {
    /// Key that groups backups of the same VM (for retention): the endpoint and the
    /// UUID (the name when the UUID is unknown). Copies of a VM keep its UUID: on two
    /// endpoints they are two VMs.
    pub fn group_key(&self) -> String {
        let id = if self.uuid.is_empty() {
            &self.name
        } else {
            &self.uuid
        };
        format!("{}/{id}", self.endpoint)
    }

    /// The same VM as `other`: same endpoint, same UUID (or name when unknown).
    pub fn same_vm(&self, other: &VmInfo) -> bool {
        self.group_key() == other.group_key()
    }

    /// Whether a user-given `--vm` value designates this VM (name, UUID or moref).
    pub fn matches(&self, filter: &str) -> bool {
        self.name == filter
            || (!self.uuid.is_empty() && self.uuid == filter)
            || self.moref == filter
    }
}

/// How the backup's data was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Every disk read completely (or its allocated areas).
    Full,
    /// Only the areas changed since the parent were read (CBT). The manifest
    /// is still complete: it does not depend on the parent.
    Incremental,
}

/// Whether the VM was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    /// Running VM, read from a snapshot.
    Hot,
    /// Powered-off VM.
    Cold,
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
        })
    }
}

impl std::fmt::Display for BackupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupMode::Hot => "hot",
            BackupMode::Cold => "cold",
        })
    }
}

/// One virtual disk of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskEntry {
    /// vSphere device key (e.g. 2000).
    pub key: i32,
    /// Device label, e.g. "Hard disk 1".
    pub label: String,
    /// Backing file, e.g. `"[datastore1] vm/vm.vmdk"`.
    pub datastore_path: String,
    /// CBT change id of the snapshot this backup was read from; the next
    /// incremental asks for changes since this id.
    pub change_id: Option<String>,
    /// Full content (capacity and chunks).
    pub map: DiskMap,
}

impl DiskEntry {
    pub fn capacity(&self) -> u64 {
        self.map.capacity
    }
}

/// A small file stored with the backup (VM configuration, device layout…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// e.g. "vm.vmx", "devices.json".
    pub name: String,
    pub size: u64,
    /// Chunks covering `[0, size)`, like a disk map.
    pub chunks: Vec<ChunkRef>,
}

/// Counters of the backup run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStats {
    /// Bytes received from the source (disk ranges and files).
    pub bytes_read: u64,
    /// Compressed bytes added to the repository (new chunks).
    pub bytes_new: u64,
    /// Chunks added to the repository.
    pub chunks_new: u64,
    /// Wall time from begin to commit.
    pub duration_ms: u64,
}

/// A complete backup. Every manifest lists every chunk of every disk, so a
/// backup restores on its own, whatever its kind and whether its parent
/// still exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] at the time of writing.
    pub format: u32,
    pub id: String,
    pub vm: VmInfo,
    /// Full precision (older manifests: seconds).
    #[serde(with = "rfc3339")]
    pub created: DateTime<Utc>,
    /// Order of creation in this repository, for backups whose times tie (0 in
    /// manifests written before it existed).
    #[serde(default)]
    pub seq: u64,
    pub kind: BackupKind,
    pub mode: BackupMode,
    /// Whether the snapshot was quiesced (guest file systems frozen).
    pub quiesced: bool,
    /// The backup whose map this one was spliced from (informational only).
    pub parent: Option<String>,
    pub disks: Vec<DiskEntry>,
    pub files: Vec<FileEntry>,
    pub stats: BackupStats,
}

impl Manifest {
    pub fn disk(&self, key: i32) -> Option<&DiskEntry> {
        self.disks.iter().find(|d| d.key == key)
    }

    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Every chunk reference of the backup (disks, then files).
    pub fn chunk_refs(&self) -> impl Iterator<Item = &ChunkRef> {
        self.disks
            .iter()
            .flat_map(|d| d.map.chunks.iter())
            .chain(self.files.iter().flat_map(|f| f.chunks.iter()))
    }

    /// Sum of the disk capacities.
    pub fn logical_size(&self) -> u64 {
        self.disks.iter().map(|d| d.capacity()).sum()
    }

    /// Serializes (JSON, zstd).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self).map_err(|e| {
            RepoError::InvalidWrite(format!("cannot serialize manifest {}: {e}", self.id))
        })?;
        zstd::bulk::compress(&json, MANIFEST_ZSTD_LEVEL).map_err(|e| {
            RepoError::InvalidWrite(format!("cannot compress manifest {}: {e}", self.id))
        })
    }

    /// Parses and checks a manifest read from `path` (used in messages). The
    /// id inside must match `expected_id` (the file name).
    pub fn decode(bytes: &[u8], path: &Path, expected_id: &str) -> Result<Manifest> {
        let json = decompress(bytes, path)?;
        check_format(&json, path)?;
        let m: Manifest = serde_json::from_slice(&json)
            .map_err(|e| RepoError::invalid(path, format!("not a valid manifest: {e}")))?;
        m.validate(path, expected_id)?;
        Ok(m)
    }

    fn validate(&self, path: &Path, expected_id: &str) -> Result<()> {
        if self.id != expected_id {
            return Err(RepoError::invalid(
                path,
                format!("manifest says its id is {:?}", self.id),
            ));
        }
        let mut keys = HashSet::new();
        for d in &self.disks {
            if !keys.insert(d.key) {
                return Err(RepoError::invalid(
                    path,
                    format!("disk key {} appears twice", d.key),
                ));
            }
            d.map.validate().map_err(|e| {
                RepoError::invalid(path, format!("map of disk {} ({}): {e}", d.key, d.label))
            })?;
        }
        let mut names = HashSet::new();
        for f in &self.files {
            if !names.insert(f.name.as_str()) {
                return Err(RepoError::invalid(
                    path,
                    format!("file {:?} appears twice", f.name),
                ));
            }
            let map = DiskMap {
                capacity: f.size,
                chunks: f.chunks.clone(),
            };
            map.validate()
                .map_err(|e| RepoError::invalid(path, format!("file {:?}: {e}", f.name)))?;
        }
        Ok(())
    }
}

fn decompress(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    zstd::bulk::decompress(bytes, MAX_MANIFEST_BYTES)
        .map_err(|e| RepoError::invalid(path, format!("cannot decompress: {e}")))
}

/// Rejects manifests written by a newer format before parsing the rest.
fn check_format(json: &[u8], path: &Path) -> Result<()> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let v: Version = serde_json::from_slice(json)
        .map_err(|e| RepoError::invalid(path, format!("not a valid manifest: {e}")))?;
    if v.format > MANIFEST_FORMAT || v.format == 0 {
        return Err(RepoError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: v.format,
            supported: MANIFEST_FORMAT,
        });
    }
    Ok(())
}

/// A disk as shown by `backup list` / `backup info` (no chunk list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSummary {
    pub key: i32,
    pub label: String,
    pub datastore_path: String,
    pub capacity: u64,
    pub change_id: Option<String>,
}

/// The manifest without chunk lists: cheap to load for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSummary {
    pub id: String,
    pub vm: VmInfo,
    pub created: DateTime<Utc>,
    pub seq: u64,
    pub kind: BackupKind,
    pub mode: BackupMode,
    pub quiesced: bool,
    pub parent: Option<String>,
    pub disks: Vec<DiskSummary>,
    pub files: Vec<String>,
    pub stats: BackupStats,
    /// Size of the manifest file.
    pub manifest_bytes: u64,
}

impl ManifestSummary {
    pub fn logical_size(&self) -> u64 {
        self.disks.iter().map(|d| d.capacity).sum()
    }

    /// Parses only what a listing needs; chunk lists are skipped, not built.
    pub fn decode(bytes: &[u8], path: &Path, expected_id: &str) -> Result<ManifestSummary> {
        #[derive(Deserialize)]
        struct MapHead {
            capacity: u64,
        }
        #[derive(Deserialize)]
        struct DiskHead {
            key: i32,
            label: String,
            datastore_path: String,
            change_id: Option<String>,
            map: MapHead,
        }
        #[derive(Deserialize)]
        struct FileHead {
            name: String,
        }
        #[derive(Deserialize)]
        struct Head {
            id: String,
            vm: VmInfo,
            #[serde(with = "rfc3339")]
            created: DateTime<Utc>,
            #[serde(default)]
            seq: u64,
            kind: BackupKind,
            mode: BackupMode,
            quiesced: bool,
            parent: Option<String>,
            disks: Vec<DiskHead>,
            files: Vec<FileHead>,
            stats: BackupStats,
        }
        let json = decompress(bytes, path)?;
        check_format(&json, path)?;
        let h: Head = serde_json::from_slice(&json)
            .map_err(|e| RepoError::invalid(path, format!("not a valid manifest: {e}")))?;
        if h.id != expected_id {
            return Err(RepoError::invalid(
                path,
                format!("manifest says its id is {:?}", h.id),
            ));
        }
        Ok(ManifestSummary {
            id: h.id,
            vm: h.vm,
            created: h.created,
            seq: h.seq,
            kind: h.kind,
            mode: h.mode,
            quiesced: h.quiesced,
            parent: h.parent,
            disks: h
                .disks
                .into_iter()
                .map(|d| DiskSummary {
                    key: d.key,
                    label: d.label,
                    datastore_path: d.datastore_path,
                    capacity: d.map.capacity,
                    change_id: d.change_id,
                })
                .collect(),
            files: h.files.into_iter().map(|f| f.name).collect(),
            stats: h.stats,
            manifest_bytes: bytes.len() as u64,
        })
    }
}

/// Makes a new backup id: `YYYYMMDDTHHMMSSZ-<vm short name>-<4 hex>`, e.g.
/// `20261122T031500Z-web01-3fa2`. Ids sort by creation time.
pub fn new_id(created: DateTime<Utc>, vm_name: &str) -> String {
    let rand = uuid::Uuid::new_v4();
    let b = rand.as_bytes();
    format!(
        "{}-{}-{:02x}{:02x}",
        created.format("%Y%m%dT%H%M%SZ"),
        short_name(vm_name),
        b[0],
        b[1]
    )
}

/// Lowercase ASCII letters and digits of the VM name, other runs replaced by
/// one '-', at most 24 characters; "vm" when nothing is left.
pub fn short_name(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 24 {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "vm".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Whether `id` is safe to use as a file name stem (what [`new_id`] makes).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// RFC 3339 timestamps in UTC with the precision they have, e.g.
/// `2026-11-22T03:15:00.123456789Z` (`2026-11-22T03:15:00Z` for whole seconds, as
/// older manifests store them).
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {s:?}: {e}")))
    }
}

/// Formats a timestamp the way manifests store it.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Oldest first: by creation time, then sequence, then id.
pub fn creation_order(
    a: (&DateTime<Utc>, u64, &str),
    b: (&DateTime<Utc>, u64, &str),
) -> std::cmp::Ordering {
    a.0.cmp(b.0).then(a.1.cmp(&b.1)).then_with(|| a.2.cmp(b.2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_repo::chunker::ChunkHash;
    use chrono::TimeZone;

    fn sample() -> Manifest {
        let h = ChunkHash::of(b"x");
        Manifest {
            format: MANIFEST_FORMAT,
            id: "20261122T031500Z-web01-3fa2".into(),
            vm: VmInfo {
                name: "web01".into(),
                uuid: "5003-aa".into(),
                moref: "vm-42".into(),
                endpoint: "vc.example".into(),
            },
            created: Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 0).unwrap(),
            seq: 0,
            kind: BackupKind::Incremental,
            mode: BackupMode::Hot,
            quiesced: true,
            parent: Some("20261121T031500Z-web01-0000".into()),
            disks: vec![DiskEntry {
                key: 2000,
                label: "Hard disk 1".into(),
                datastore_path: "[ds1] web01/web01.vmdk".into(),
                change_id: Some("52 aa/7".into()),
                map: DiskMap {
                    capacity: 10,
                    chunks: vec![ChunkRef {
                        offset: 0,
                        len: 10,
                        hash: h,
                    }],
                },
            }],
            files: vec![FileEntry {
                name: "vm.vmx".into(),
                size: 1,
                chunks: vec![ChunkRef {
                    offset: 0,
                    len: 1,
                    hash: h,
                }],
            }],
            stats: BackupStats::default(),
        }
    }

    #[test]
    fn roundtrip_and_summary() {
        let m = sample();
        let bytes = m.encode().unwrap();
        let p = Path::new("backups/x.json.zst");
        assert_eq!(Manifest::decode(&bytes, p, &m.id).unwrap(), m);
        let s = ManifestSummary::decode(&bytes, p, &m.id).unwrap();
        assert_eq!(s.disks[0].capacity, 10);
        assert_eq!(s.files, vec!["vm.vmx".to_string()]);
        assert_eq!(s.created, m.created);
        // Wrong id (renamed file) is rejected.
        assert!(Manifest::decode(&bytes, p, "other").is_err());
        // The JSON is readable.
        let json = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
        assert!(
            json.contains("\"created\":\"2026-11-22T03:15:00Z\""),
            "{json}"
        );
        assert!(json.contains("\"kind\":\"incremental\""));
    }

    #[test]
    fn rejects_newer_format_and_broken_maps() {
        let mut m = sample();
        m.format = 99;
        let p = Path::new("m");
        assert!(matches!(
            Manifest::decode(&m.encode().unwrap(), p, &m.id),
            Err(RepoError::UnsupportedVersion { found: 99, .. })
        ));
        let mut m = sample();
        m.disks[0].map.capacity = 11;
        let err = Manifest::decode(&m.encode().unwrap(), p, &m.id).unwrap_err();
        assert!(err.to_string().contains("disk 2000"), "{err}");
        assert!(Manifest::decode(b"garbage", p, "x").is_err());
    }

    #[test]
    fn ids() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 0).unwrap();
        let id = new_id(t, "Web 01 (prod)!");
        assert!(id.starts_with("20261122T031500Z-web-01-prod-"), "{id}");
        assert_eq!(id.len(), "20261122T031500Z-web-01-prod-".len() + 4);
        assert!(is_valid_id(&id));
        assert_eq!(short_name("---"), "vm");
        assert_eq!(short_name("ÄÖÜ-db"), "db");
        assert!(!is_valid_id("../etc"));
        assert!(!is_valid_id(".tmp-x"));
        assert!(!is_valid_id(""));
    }
}
