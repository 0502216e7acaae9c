//! The known-GPU table: `data/gpus.yaml`, embedded at build time and parsed once.
//! Adding a GPU or a vendor is a data change, never a code change.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::cuda::{Cc, CudaRelease};
use super::ids::{VendorDevice, hex16};

/// Where the table comes from, for `gpu check`'s "table:" line.
pub const TABLE_PATH: &str = "data/gpus.yaml";

const TABLE: &str = include_str!("../../../data/gpus.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    version: String,
    vendors: Vec<RawVendor>,
    gpus: Vec<RawGpu>,
    #[serde(default)]
    cuda: Vec<RawCuda>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCuda {
    version: String,
    min_driver: String,
    min_cc: String,
    max_cc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpu {
    vendor: String,
    device: String,
    model: String,
    family: String,
    architecture: String,
    memory_gb: u32,
    #[serde(default)]
    compute_capability: Option<String>,
    #[serde(default)]
    vgpu: Option<String>,
    #[serde(default)]
    mig: u32,
}

#[derive(Debug, Clone)]
pub struct Vendor {
    pub id: u16,
    pub name: String,
    pub aliases: Vec<String>,
}

/// One known GPU model.
#[derive(Debug, Clone, Serialize)]
pub struct GpuModel {
    #[serde(skip)]
    pub id: VendorDevice,
    pub vendor: String,
    pub model: String,
    pub family: String,
    pub architecture: String,
    pub memory_gb: u32,
    /// NVIDIA CUDA compute capability, when listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<Cc>,
    /// NVIDIA vGPU type prefix (`a100d` for grid_a100d-…), when the GPU supports vGPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vgpu: Option<String>,
    /// MIG slices per GPU (0 without MIG).
    pub mig_slices: u32,
}

#[derive(Debug)]
pub struct GpuTable {
    /// The data file's `version:` line.
    pub version: String,
    /// CUDA releases, oldest first.
    pub cuda: Vec<CudaRelease>,
    vendors: Vec<Vendor>,
    gpus: Vec<GpuModel>,
    by_id: HashMap<VendorDevice, usize>,
}

/// The table, parsed on first use. The file is part of the binary and covered by a
/// unit test, so a parse failure here is a build defect; it degrades to an empty table
/// rather than taking a command down.
pub fn table() -> &'static GpuTable {
    static TABLE_CELL: OnceLock<GpuTable> = OnceLock::new();
    TABLE_CELL.get_or_init(|| {
        GpuTable::parse(TABLE).unwrap_or_else(|e| {
            eprintln!(
                "warning: the built-in GPU table is invalid ({e}); GPU models will not be named"
            );
            GpuTable {
                version: String::new(),
                cuda: Vec::new(),
                vendors: Vec::new(),
                gpus: Vec::new(),
                by_id: HashMap::new(),
            }
        })
    })
}

impl GpuTable {
    pub fn parse(text: &str) -> Result<GpuTable, String> {
        let raw: RawTable = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let vendors = raw
            .vendors
            .into_iter()
            .map(|v| {
                let id =
                    hex16(&v.id).ok_or_else(|| format!("vendor {}: bad id '{}'", v.name, v.id))?;
                Ok(Vendor {
                    id,
                    name: v.name,
                    aliases: v.aliases.into_iter().map(|a| a.to_lowercase()).collect(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut gpus = Vec::new();
        let mut by_id = HashMap::new();
        for g in raw.gpus {
            let id = VendorDevice {
                vendor: hex16(&g.vendor)
                    .ok_or_else(|| format!("{}: bad vendor '{}'", g.model, g.vendor))?,
                device: hex16(&g.device)
                    .ok_or_else(|| format!("{}: bad device '{}'", g.model, g.device))?,
            };
            if by_id.insert(id, gpus.len()).is_some() {
                return Err(format!("{id} is listed twice"));
            }
            let vendor = vendors
                .iter()
                .find(|v| v.id == id.vendor)
                .map(|v| v.name.clone())
                .ok_or_else(|| {
                    format!(
                        "{}: vendor {:04x} is not in the vendor list",
                        g.model, id.vendor
                    )
                })?;
            let compute_capability = g
                .compute_capability
                .as_deref()
                .map(|c| {
                    Cc::parse(c).ok_or_else(|| format!("{}: bad compute_capability '{c}'", g.model))
                })
                .transpose()?;
            gpus.push(GpuModel {
                id,
                vendor,
                model: g.model,
                family: g.family,
                architecture: g.architecture,
                memory_gb: g.memory_gb,
                compute_capability,
                vgpu: g.vgpu.map(|p| p.to_lowercase()),
                mig_slices: g.mig,
            });
        }
        let cuda = raw
            .cuda
            .into_iter()
            .map(|c| {
                let cc = |text: &str| {
                    Cc::parse(text).ok_or_else(|| {
                        format!("CUDA {}: bad compute capability '{text}'", c.version)
                    })
                };
                Ok(CudaRelease {
                    min_cc: cc(&c.min_cc)?,
                    max_cc: cc(&c.max_cc)?,
                    version: c.version,
                    min_driver: c.min_driver,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(GpuTable {
            version: raw.version,
            cuda,
            vendors,
            gpus,
            by_id,
        })
    }

    pub fn gpu(&self, id: VendorDevice) -> Option<&GpuModel> {
        self.by_id.get(&id).map(|&i| &self.gpus[i])
    }

    pub fn gpus(&self) -> &[GpuModel] {
        &self.gpus
    }

    pub fn vendor(&self, id: u16) -> Option<&Vendor> {
        self.vendors.iter().find(|v| v.id == id)
    }

    /// The vendor a word names (`nvidia`, `AMD`, `mellanox`).
    pub fn vendor_by_alias(&self, word: &str) -> Option<&Vendor> {
        let word = word.to_lowercase();
        self.vendors.iter().find(|v| v.aliases.contains(&word))
    }

    /// GPU models whose family or model name is `word` (`a100`, `L40S`, `mi210`).
    pub fn gpus_named(&self, word: &str) -> Vec<&GpuModel> {
        let wanted = squash(word);
        self.gpus
            .iter()
            .filter(|g| squash(&g.family) == wanted || squash(&g.model) == wanted)
            .collect()
    }

    /// The GPU whose vGPU prefix is `prefix` (from a profile name).
    pub fn gpu_by_vgpu_prefix(&self, prefix: &str) -> Option<&GpuModel> {
        self.gpus.iter().find(|g| g.vgpu.as_deref() == Some(prefix))
    }

    /// Every word a selector may use, for "did you mean" lists.
    pub fn selector_words(&self) -> Vec<String> {
        let mut words: Vec<String> = self
            .vendors
            .iter()
            .flat_map(|v| v.aliases.iter().cloned())
            .collect();
        words.extend(self.gpus.iter().map(|g| g.family.to_lowercase()));
        words.sort();
        words.dedup();
        words
    }
}

/// Lower case without spaces, dashes or slashes: `RTX A6000` and `rtx-a6000` match.
fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_covers_each_vendor_family() {
        let t = GpuTable::parse(TABLE).expect("data/gpus.yaml parses");
        for (id, model) in [
            ("10de:1bb3", "Tesla P4"),
            ("10de:1b38", "Tesla P40"),
            ("10de:1db4", "Tesla V100 PCIe 16GB"),
            ("10de:1eb8", "Tesla T4"),
            ("10de:20b7", "A30"),
            ("10de:20b5", "A100 PCIe 80GB"),
            ("10de:26b9", "L40S"),
            ("10de:2331", "H100 PCIe 80GB"),
            ("1002:740f", "Instinct MI210"),
            ("8086:56c0", "Data Center GPU Flex 170"),
        ] {
            let id = VendorDevice::parse(id).unwrap();
            assert_eq!(t.gpu(id).map(|g| g.model.as_str()), Some(model), "{id}");
        }
        assert_eq!(t.vendor_by_alias("NVIDIA").map(|v| v.id), Some(0x10de));
        assert_eq!(t.gpus_named("a100").len(), 4);
        assert_eq!(t.gpus_named("RTX-A6000").len(), 1);
        assert_eq!(t.gpu_by_vgpu_prefix("a30").map(|g| g.memory_gb), Some(24));
        // Every NVIDIA GPU has its compute capability; the CUDA table is there.
        assert!(
            t.gpus()
                .iter()
                .filter(|g| g.id.vendor == 0x10de)
                .all(|g| g.compute_capability.is_some())
        );
        assert!(!t.version.is_empty());
        for v in ["11.0", "11.8", "12.0", "12.4", "12.8"] {
            assert!(t.cuda.iter().any(|c| c.version == v), "CUDA {v}");
        }
    }

    #[test]
    fn a_bad_table_is_an_error_not_a_panic() {
        assert!(GpuTable::parse("vendors: []\ngpus:\n  - { vendor: 10de }").is_err());
        assert!(GpuTable::parse("vendors: [{id: zz, name: X}]\ngpus: []").is_err());
        let dup = "vendors: [{id: '10de', name: N}]\ngpus:\n  - {vendor: '10de', device: '1', model: a, family: a, architecture: x, memory_gb: 1}\n  - {vendor: '10de', device: '1', model: b, family: b, architecture: x, memory_gb: 1}";
        assert!(GpuTable::parse(dup).unwrap_err().contains("twice"));
    }
}
