//! Errors of operations, in the user's terms.

use crate::config::ConfigError;
use crate::vim;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A failure talking to one endpoint (connection, TLS, fault, timeout…).
    #[error("{endpoint}: {source}")]
    Vim {
        endpoint: String,
        #[source]
        source: vim::Error,
    },
    #[error("{kind} '{name}' not found{}", did_you_mean(.suggestions))]
    NotFound {
        kind: &'static str,
        name: String,
        suggestions: Vec<String>,
    },
    #[error("'{name}' matches {} {kind}s: {}", .candidates.len(), .candidates.join(", "))]
    Ambiguous {
        kind: &'static str,
        name: String,
        candidates: Vec<String>,
    },
    /// Bad input from the user.
    #[error("{message}")]
    Invalid {
        message: String,
        hint: Option<String>,
    },
    /// A safety rule said no; nothing was changed.
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Some endpoints answered and their results were shown; these did not.
    #[error("{message}")]
    Partial { message: String },
    /// What went wrong in the user's terms (e.g. "the backup was stored, but…"); the
    /// cause decides the kind of failure (its exit code, its fault name in scripts).
    #[error("{message}")]
    Context {
        message: String,
        hint: Option<String>,
        #[source]
        source: Box<OpError>,
    },
    #[error("interrupted")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

impl OpError {
    pub fn vim(endpoint: &str, source: vim::Error) -> Self {
        OpError::Vim {
            endpoint: endpoint.to_string(),
            source,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        OpError::Invalid {
            message: message.into(),
            hint: None,
        }
    }

    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> Self {
        OpError::Refused {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// `message` and `hint` for the user, keeping this error as the cause.
    pub fn context(self, message: impl Into<String>, hint: Option<String>) -> Self {
        OpError::Context {
            message: message.into(),
            hint,
            source: Box::new(self),
        }
    }

    /// The vSphere fault name behind this error, if any.
    pub fn fault_name(&self) -> Option<&str> {
        match self {
            OpError::Vim { source, .. } => source.fault_name(),
            OpError::Context { source, .. } => source.fault_name(),
            _ => None,
        }
    }

    /// How an endpoint that failed with this error is described (`host list`): a login
    /// refused is not "unreachable".
    pub fn failure_state(&self) -> &'static str {
        use vim::Error as V;
        match self {
            OpError::Vim { source, .. } => match source {
                V::Connect { .. } | V::Dropped { .. } | V::Timeout { .. } => "unreachable",
                V::Tls { .. } => "certificate not trusted",
                V::Fault { name, .. } if name == "InvalidLogin" => "login failed",
                V::Http { .. } | V::Decode(_) => "not a vSphere SDK",
                _ => "error",
            },
            OpError::Context { source, .. } => source.failure_state(),
            _ => "error",
        }
    }

    /// A short suggestion of what to do next.
    pub fn hint(&self) -> Option<String> {
        use vim::Error as V;
        match self {
            OpError::Vim { source, .. } => match source {
                V::Connect { .. } => Some("check the address and port, and that the host is up".into()),
                V::Tls { thumbprint: Some(t), .. } => Some(format!(
                    "if you trust this host, pin its certificate with `thumbprint: {t}` in the config (or CESO_THUMBPRINT), or set insecure: true"
                )),
                V::Tls { .. } => Some("pin the certificate with `thumbprint:` or set insecure: true".into()),
                V::Fault { name, .. } if name == "InvalidLogin" => Some(
                    "check the user and the password source (password_env, password_command, CESO_PASSWORD)".into(),
                ),
                V::Fault { name, .. } if name == "InvalidPowerState" => {
                    Some("check the VM's power state with `ceso vm info`".into())
                }
                V::Fault { name, .. } if name == "RequestCanceled" => Some(
                    "the task was cancelled on the server (`ceso task cancel`, or a user in the vSphere Client)".into(),
                ),
                V::Fault { name, .. } if name == "NoPermission" => {
                    Some("the user lacks the privilege for this operation".into())
                }
                V::Dropped { .. } => Some("the server closed the connection; it may have rejected the request or restarted".into()),
                V::Timeout { .. } => Some("raise settings.timeout / task_timeout in the config if the server is slow".into()),
                V::Redirect { .. } => Some("give the SDK URL the server answers at itself (https://host/sdk), not one that redirects".into()),
                V::Http { status: 401, .. } => Some("the server refused the session even after a fresh login; check the user's permissions and the URL".into()),
                V::Http { status: 503, .. } => Some("the server is unavailable (starting, overloaded or in maintenance); try again later".into()),
                V::Decode(_) => Some("is the URL an ESXi or vCenter SDK endpoint (https://host/sdk)?".into()),
                _ => None,
            },
            OpError::NotFound { kind, .. } => Some(match *kind {
                "attached PCI device" => "`ceso vm info VM` lists the VM's devices".into(),
                "vGPU profile" => "`ceso gpu profiles` lists the profiles the hosts offer".into(),
                "snapshot" => "`ceso snapshot list VM` shows a VM's snapshots".into(),
                "datastore file" => "`ceso datastore ls '[DATASTORE] FOLDER'` lists what is in a folder".into(),
                "task" => "`ceso task list --recent` shows the server's recent tasks and their ids".into(),
                "ISO image" => "`ceso datastore ls '[DATASTORE] FOLDER'` lists what is there; `ceso datastore upload` puts an ISO on a datastore".into(),
                "DRS recommendation" => "`ceso drs recommendations` lists the pending ones".into(),
                "performance counter" => "`ceso stats counters` lists the server's counters".into(),
                "object" => "name a host, VM, cluster or datastore (`ceso host list`, `ceso vm list`)".into(),
                "stored counter" | "stored object" => {
                    "the history database holds what `ceso stats collect` stored (its default counters, or its --counter ones)".into()
                }
                "history database" => "fill it first with `ceso stats collect`, or point --db at it".into(),
                _ => match cli_noun(kind) {
                    Some(noun) => format!("list what exists with `ceso {noun} list`"),
                    None => return None,
                },
            }),
            OpError::Ambiguous { kind: "snapshot", .. } => {
                Some("name the snapshot by its id (shown by `ceso snapshot list <vm>`)".into())
            }
            OpError::Ambiguous { kind: "backup", .. } => Some("give more characters of the backup id".into()),
            OpError::Ambiguous { kind: "resource pool", .. } => {
                Some("name the pool by its path (shown by `ceso rp list`)".into())
            }
            OpError::Ambiguous { kind: "cluster", .. } => {
                Some("name it as DATACENTER/CLUSTER, or by its id (`ceso cluster list`)".into())
            }
            OpError::Ambiguous { .. } => Some("narrow it down with --host".into()),
            OpError::Invalid { hint, .. } | OpError::Refused { hint, .. } => hint.clone(),
            OpError::Config(e) => e.help.clone(),
            OpError::Partial { .. } => Some(
                "the results of the endpoints that answered are shown; check the failed ones with `ceso host list`".into(),
            ),
            OpError::Context { hint, source, .. } => hint.clone().or_else(|| source.hint()),
            OpError::Cancelled | OpError::Io(_) => None,
        }
    }
}

/// The CLI noun whose `list` shows things of `kind`; None when there is no such command.
fn cli_noun(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "VM" | "VirtualMachine" => "vm",
        "host" | "endpoint" | "HostSystem" => "host",
        "PCI device" => "pci",
        "backup" => "backup",
        "datastore" | "Datastore" => "datastore",
        "network" | "Network" => "network",
        "resource pool" | "ResourcePool" => "rp",
        "DRS rule" => "drs rule",
        "DRS group" | "VM group" | "host group" => "drs group",
        "cluster" | "ClusterComputeResource" => "cluster",
        "distributed switch" => "dvs",
        "DV port group" => "dvs portgroup",
        "port group" => "network",
        "vswitch" => "vswitch",
        _ => return None,
    })
}

pub type OpResult<T> = Result<T, OpError>;

/// Names close to `wanted`, best first, for "did you mean" lists.
pub fn close_names<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .into_iter()
        .map(|n| {
            let lower = n.to_lowercase();
            let mut score = strsim::jaro_winkler(&wanted_lower, &lower);
            if lower.contains(&wanted_lower) || wanted_lower.contains(&lower) {
                score += 0.2;
            }
            (score, n)
        })
        .filter(|(score, _)| *score > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_rank_typos_first() {
        let names = ["web-01", "web-02", "db-01", "backup"];
        let close = close_names("web-1", names);
        assert_eq!(close.first().map(String::as_str), Some("web-01"));
        assert!(!close.contains(&"backup".to_string()));
    }
}
