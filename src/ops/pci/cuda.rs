//! Can a CUDA workload run on a GPU: the pure decision behind `gpu check`. Facts in
//! (the VM's GPUs as the known-GPU table describes them, the CUDA release and guest driver
//! asked about, the table's CUDA releases), check lines out. No I/O here.

use std::fmt;

use serde::{Serialize, Serializer};

/// A CUDA compute capability, `8.6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cc {
    pub major: u32,
    pub minor: u32,
}

impl Cc {
    pub fn parse(text: &str) -> Option<Cc> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(Cc {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for Cc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One CUDA release of the table: its minimum Linux driver and the compute
/// capabilities its toolkit supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CudaRelease {
    pub version: String,
    pub min_driver: String,
    pub min_cc: Cc,
    pub max_cc: Cc,
}

impl CudaRelease {
    pub fn supports(&self, cc: Cc) -> bool {
        self.min_cc <= cc && cc <= self.max_cc
    }
}

/// The release `asked` names (`12.4`, or `12.4.1` for its minor release), or why not.
pub fn release<'a>(releases: &'a [CudaRelease], asked: &str) -> Result<&'a CudaRelease, String> {
    let mut parts = asked.trim().trim_start_matches(['v', 'V']).split('.');
    let major_minor = match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        (Some(a), None) => format!("{a}.0"),
        _ => String::new(),
    };
    releases
        .iter()
        .find(|r| r.version == major_minor)
        .ok_or_else(|| {
            format!(
                "CUDA {asked} is not in the GPU table; it knows {}",
                releases
                    .iter()
                    .map(|r| r.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// A driver version as numbers (`550.90.07`), trailing zeros dropped so `570.26` equals
/// `570.26.0`.
pub fn driver_version(text: &str) -> Option<Vec<u32>> {
    let mut parts = text
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<Vec<u32>>>()?;
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Some(parts)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuVendor {
    Nvidia,
    Amd,
    Intel,
    Other(String),
}

impl GpuVendor {
    pub fn from_id(id: u16, name: &str) -> GpuVendor {
        match id {
            0x10de => GpuVendor::Nvidia,
            0x1002 => GpuVendor::Amd,
            0x8086 => GpuVendor::Intel,
            _ => GpuVendor::Other(name.to_string()),
        }
    }
}

/// A vGPU the VM is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgpuFacts {
    pub profile: String,
    /// MIG compute slices of a MIG-backed profile (`grid_a100d-3-40c`: 3).
    pub mig_slices: Option<u32>,
    /// MIG slices of the whole GPU (A100: 7), 0 when unknown.
    pub gpu_mig_slices: u32,
}

/// One GPU the VM has (or would have), as the known-GPU table describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuFacts {
    /// How lines name it: `NVIDIA A30 (0000:3b:00.0)`, `vGPU grid_a30-4c`.
    pub name: String,
    pub vendor: GpuVendor,
    /// The table's model and architecture, when the GPU is listed.
    pub model: Option<String>,
    pub architecture: Option<String>,
    pub cc: Option<Cc>,
    pub vgpu: Option<VgpuFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: Status,
    /// What the line is about: a GPU, `driver`, `vm`.
    pub subject: String,
    pub reason: String,
}

impl Check {
    fn new(status: Status, subject: &str, reason: String) -> Check {
        Check {
            status,
            subject: subject.to_string(),
            reason,
        }
    }

    /// `ok   NVIDIA A30 (…): …` / `FAIL driver: …` / `warn …`
    pub fn line(&self) -> String {
        let mark = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        format!("{mark} {}: {}", self.subject, self.reason)
    }
}

/// The question: a CUDA release (from the table) and the guest driver, each optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub cuda: Option<&'a CudaRelease>,
    /// The guest driver as given (`550.90.07`), already checked by `driver_version`.
    pub driver: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// No check failed.
    pub compatible: bool,
    pub checks: Vec<Check>,
}

/// Decide whether a CUDA workload runs on `gpus`, one line per finding.
pub fn decide(gpus: &[GpuFacts], req: Request<'_>, releases: &[CudaRelease]) -> Verdict {
    let mut checks = Vec::new();
    let cuda_word = req
        .cuda
        .map_or("CUDA".to_string(), |r| format!("CUDA {}", r.version));
    // Only a failure when a CUDA release was asked about; a warning otherwise.
    let refuse = if req.cuda.is_some() {
        Status::Fail
    } else {
        Status::Warn
    };
    if gpus.is_empty() {
        checks.push(Check::new(
            Status::Fail,
            "gpu",
            "no GPU: neither a passthrough GPU nor an NVIDIA vGPU".into(),
        ));
    }
    let mut any_nvidia = false;
    for gpu in gpus {
        let subject = gpu.name.as_str();
        match &gpu.vendor {
            GpuVendor::Nvidia => {}
            GpuVendor::Amd => {
                checks.push(Check::new(
                    refuse,
                    subject,
                    format!(
                        "an AMD GPU: {cuda_word} does not run on AMD GPUs; AMD's compute stack is ROCm with HIP (HIP can port CUDA code)"
                    ),
                ));
                continue;
            }
            GpuVendor::Intel => {
                checks.push(Check::new(
                    refuse,
                    subject,
                    format!(
                        "an Intel GPU: {cuda_word} does not run on Intel GPUs; Intel's compute stack is oneAPI (SYCL) on Level Zero"
                    ),
                ));
                continue;
            }
            GpuVendor::Other(vendor) => {
                checks.push(Check::new(
                    refuse,
                    subject,
                    format!("a {vendor} device: {cuda_word} runs on NVIDIA GPUs only"),
                ));
                continue;
            }
        }
        any_nvidia = true;
        let what = match (&gpu.model, &gpu.architecture) {
            (Some(m), Some(a)) => format!("{m} ({a})"),
            (Some(m), None) => m.clone(),
            _ => "this model".to_string(),
        };
        match (gpu.cc, req.cuda) {
            (None, _) => checks.push(Check::new(
                refuse,
                subject,
                format!(
                    "{what} is not in the GPU table: its compute capability is unknown, so {cuda_word} support cannot be confirmed (see developer.nvidia.com/cuda-gpus)"
                ),
            )),
            (Some(cc), Some(cuda)) if cuda.supports(cc) => checks.push(Check::new(
                Status::Ok,
                subject,
                format!(
                    "{what}, compute capability {cc}: CUDA {} supports {}–{}",
                    cuda.version, cuda.min_cc, cuda.max_cc
                ),
            )),
            (Some(cc), Some(cuda)) => {
                let others = supporting(releases, cc);
                let instead = if others.is_empty() {
                    "no CUDA release in the table supports it".to_string()
                } else {
                    format!("CUDA {} in the table support it", others.join(", "))
                };
                checks.push(Check::new(
                    Status::Fail,
                    subject,
                    format!(
                        "{what}, compute capability {cc}: CUDA {} supports {}–{} only; {instead}",
                        cuda.version, cuda.min_cc, cuda.max_cc
                    ),
                ));
            }
            (Some(cc), None) => {
                let others = supporting(releases, cc);
                checks.push(Check::new(
                    Status::Ok,
                    subject,
                    if others.is_empty() {
                        format!(
                            "{what}, compute capability {cc}: no CUDA release in the table supports it"
                        )
                    } else {
                        format!(
                            "{what}, compute capability {cc}: CUDA {} in the table support it",
                            others.join(", ")
                        )
                    },
                ));
            }
        }
        if let Some(v) = &gpu.vgpu {
            checks.push(Check::new(
                Status::Warn,
                subject,
                format!(
                    "vGPU {}: the guest needs NVIDIA's vGPU guest driver of the branch the host's vGPU manager runs, not a stock driver",
                    v.profile
                ),
            ));
            if let Some(slices) = v.mig_slices {
                let of = if v.gpu_mig_slices > 0 {
                    format!(" of {}", v.gpu_mig_slices)
                } else {
                    String::new()
                };
                checks.push(Check::new(
                    Status::Warn,
                    subject,
                    format!(
                        "MIG-backed ({slices}{of} compute slices): no graphics, no peer-to-peer (PCIe or NVLink) or CUDA IPC between slices, and vGPU gives Unified Memory only to a vGPU that takes the whole GPU"
                    ),
                ));
            }
        }
    }
    if any_nvidia {
        driver_check(&mut checks, req, releases);
    }
    Verdict {
        compatible: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    }
}

fn supporting(releases: &[CudaRelease], cc: Cc) -> Vec<&str> {
    releases
        .iter()
        .filter(|r| r.supports(cc))
        .map(|r| r.version.as_str())
        .collect()
}

fn driver_check(checks: &mut Vec<Check>, req: Request<'_>, releases: &[CudaRelease]) {
    let given = req.driver.and_then(|d| driver_version(d).map(|v| (d, v)));
    match (req.cuda, given) {
        (Some(cuda), Some((text, version))) => {
            let min = driver_version(&cuda.min_driver).unwrap_or_default();
            if version >= min {
                checks.push(Check::new(
                    Status::Ok,
                    "driver",
                    format!(
                        "{text} ≥ {}, the minimum Linux driver for CUDA {}",
                        cuda.min_driver, cuda.version
                    ),
                ));
            } else {
                checks.push(Check::new(
                    Status::Fail,
                    "driver",
                    format!(
                        "{text} is older than {}, the minimum Linux driver for CUDA {}",
                        cuda.min_driver, cuda.version
                    ),
                ));
            }
        }
        (Some(cuda), None) => checks.push(Check::new(
            Status::Warn,
            "driver",
            format!(
                "the guest's NVIDIA driver must be ≥ {} for CUDA {} (Linux); pass --driver to check it",
                cuda.min_driver, cuda.version
            ),
        )),
        (None, Some((text, version))) => {
            let newest = releases
                .iter()
                .filter(|r| driver_version(&r.min_driver).is_some_and(|min| version >= min))
                .map(|r| r.version.as_str())
                .next_back();
            checks.push(match newest {
                Some(v) => Check::new(
                    Status::Ok,
                    "driver",
                    format!("{text} runs CUDA releases up to {v} of the table"),
                ),
                None => Check::new(
                    Status::Warn,
                    "driver",
                    format!("{text} is older than every CUDA release in the table needs"),
                ),
            });
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::pci::gpu_table;

    fn releases() -> &'static [CudaRelease] {
        &gpu_table::table().cuda
    }

    fn cuda(v: &str) -> &'static CudaRelease {
        release(releases(), v).expect("a CUDA release of the table")
    }

    /// A GPU of the table, by family, as a passthrough device.
    fn gpu(family: &str) -> GpuFacts {
        let g = gpu_table::table().gpus_named(family)[0];
        GpuFacts {
            name: format!("{} {}", g.vendor, g.model),
            vendor: GpuVendor::from_id(g.id.vendor, &g.vendor),
            model: Some(g.model.clone()),
            architecture: Some(g.architecture.clone()),
            cc: g.compute_capability,
            vgpu: None,
        }
    }

    fn statuses(v: &Verdict) -> Vec<(Status, &str)> {
        v.checks
            .iter()
            .map(|c| (c.status, c.subject.as_str()))
            .collect()
    }

    fn has(v: &Verdict, status: Status, text: &str) -> bool {
        v.checks
            .iter()
            .any(|c| c.status == status && c.reason.contains(text))
    }

    #[test]
    fn t4_with_cuda_12_4_and_driver_550_90_is_ok() {
        // developer.nvidia.com/cuda-gpus: Tesla T4 is 7.5; CUDA 12.x supports 5.0–9.0;
        // release notes Table 3: CUDA 12.4 GA needs Linux driver ≥ 550.54.14.
        let v = decide(
            &[gpu("t4")],
            Request {
                cuda: Some(cuda("12.4")),
                driver: Some("550.90.07"),
            },
            releases(),
        );
        assert!(v.compatible, "{v:?}");
        assert_eq!(
            statuses(&v),
            [(Status::Ok, "NVIDIA Tesla T4"), (Status::Ok, "driver")]
        );
        assert!(has(&v, Status::Ok, "compute capability 7.5"));
    }

    #[test]
    fn p100_is_6_0_and_cuda_12_still_supports_it() {
        // Tesla P100 is 6.0 (Pascal); CUDA 12 dropped Kepler (3.x) only, its floor is 5.0.
        let v = decide(
            &[gpu("p100")],
            Request {
                cuda: Some(cuda("12.4")),
                driver: None,
            },
            releases(),
        );
        assert!(v.compatible, "{v:?}");
        assert!(has(&v, Status::Ok, "compute capability 6.0"));
        // No --driver: a warning naming the minimum, not a failure.
        assert!(has(&v, Status::Warn, "must be ≥ 550.54.14"));
    }

    #[test]
    fn an_unlisted_model_says_its_capability_is_unknown() {
        // A Tesla K80 (10de:102d, 3.7) is not in data/gpus.yaml: nothing is claimed.
        let k80 = GpuFacts {
            name: "NVIDIA GK210GL [Tesla K80]".into(),
            vendor: GpuVendor::Nvidia,
            model: None,
            architecture: None,
            cc: None,
            vgpu: None,
        };
        let v = decide(
            std::slice::from_ref(&k80),
            Request {
                cuda: Some(cuda("12.4")),
                driver: None,
            },
            releases(),
        );
        assert!(!v.compatible);
        assert!(has(&v, Status::Fail, "not in the GPU table"));
        // Without --cuda it is a warning only.
        let v = decide(&[k80], Request::default(), releases());
        assert!(v.compatible);
        assert!(has(&v, Status::Warn, "compute capability is unknown"));
    }

    #[test]
    fn v100_with_driver_470_fails_on_the_driver_for_cuda_12_4() {
        // V100 is 7.0 (supported), but 470.x is the CUDA 11.4 branch; 12.4 needs 550.54.14.
        let v = decide(
            &[gpu("v100")],
            Request {
                cuda: Some(cuda("12.4")),
                driver: Some("470.82.01"),
            },
            releases(),
        );
        assert!(!v.compatible);
        assert_eq!(
            statuses(&v),
            [
                (Status::Ok, "NVIDIA Tesla V100 SXM2 16GB"),
                (Status::Fail, "driver")
            ]
        );
        assert!(has(&v, Status::Fail, "470.82.01 is older than 550.54.14"));
    }

    #[test]
    fn an_a100_mig_slice_warns_about_mig_limits() {
        // grid_a100d-3-40c: 3 of the A100's 7 compute slices; A100 is 8.0. The MIG user
        // guide: no graphics, no P2P between GPU instances, no CUDA IPC across them.
        let mut g = gpu("a100");
        g.name = "vGPU grid_a100d-3-40c".into();
        g.vgpu = Some(VgpuFacts {
            profile: "grid_a100d-3-40c".into(),
            mig_slices: Some(3),
            gpu_mig_slices: 7,
        });
        let v = decide(
            &[g],
            Request {
                cuda: Some(cuda("12.0")),
                driver: Some("535.104.05"),
            },
            releases(),
        );
        assert!(v.compatible, "{v:?}");
        assert!(has(&v, Status::Warn, "3 of 7 compute slices"));
        assert!(has(&v, Status::Warn, "no peer-to-peer"));
        assert!(has(&v, Status::Warn, "vGPU guest driver"));
    }

    #[test]
    fn amd_and_intel_gpus_do_not_run_cuda() {
        // CUDA is NVIDIA-only: the MI210 runs ROCm/HIP, the Flex 170 oneAPI/Level Zero.
        for (family, stack) in [("mi210", "ROCm"), ("flex170", "Level Zero")] {
            let v = decide(
                &[gpu(family)],
                Request {
                    cuda: Some(cuda("12.4")),
                    driver: None,
                },
                releases(),
            );
            assert!(!v.compatible, "{family}");
            assert!(has(&v, Status::Fail, stack), "{v:?}");
            // No driver line: the NVIDIA driver is beside the point.
            assert!(!v.checks.iter().any(|c| c.subject == "driver"));
        }
    }

    #[test]
    fn cuda_11_0_predates_ampere_consumer_and_ada() {
        // CUDA 11.0 added 8.0 (A100); 8.6 came with 11.1, 8.9 with 11.8 (L4 is 8.9).
        let v = decide(
            &[gpu("l4")],
            Request {
                cuda: Some(cuda("11.0")),
                driver: Some("450.51.05"),
            },
            releases(),
        );
        assert!(!v.compatible);
        assert!(has(
            &v,
            Status::Fail,
            "CUDA 11.8, 12.0, 12.4, 12.8 in the table"
        ));
        assert!(has(&v, Status::Ok, "450.51.05 ≥ 450.51.05"));
        let ok = decide(
            &[gpu("h100")],
            Request {
                cuda: Some(cuda("11.8")),
                driver: Some("520.61.05"),
            },
            releases(),
        );
        assert!(ok.compatible, "{ok:?}");
    }

    #[test]
    fn no_gpu_fails_and_versions_parse() {
        let v = decide(&[], Request::default(), releases());
        assert!(!v.compatible);
        assert_eq!(
            release(releases(), "12.4.1").map(|r| r.min_driver.as_str()),
            Ok("550.54.14")
        );
        assert!(release(releases(), "12.1").unwrap_err().contains("12.4"));
        assert_eq!(driver_version("570.26.0"), driver_version("570.26"));
        assert!(driver_version("550.x").is_none());
        assert!(driver_version("550.90") > driver_version("550.54.14"));
        // Without --cuda, a driver says how far it reaches.
        let v = decide(
            &[gpu("a30")],
            Request {
                cuda: None,
                driver: Some("535.104.05"),
            },
            releases(),
        );
        assert!(has(&v, Status::Ok, "up to 12.0"));
    }
}
