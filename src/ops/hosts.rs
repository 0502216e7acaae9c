//! ESXi hosts: list, info, maintenance mode, and adding an endpoint to the config.

use std::path::Path;

use serde::Serialize;

use crate::config::schema::HostEntry;
use crate::config::{self, Config};
use crate::vim::{
    Client, ConnectOptions, MoRef, NamesVia, ObjectContent, PropertySpec, Request, Secret,
};

use super::error::{OpError, OpResult};
use super::fleet::{Endpoint, EndpointError, Fleet, Gathered, Scope, Target, WithEndpoint};
use super::progress::Progress;

/// What `host list` shows of each host.
const SUMMARY_PATHS: &[&str] = &[
    "name",
    "parent",
    "summary.hardware.cpuMhz",
    "summary.hardware.numCpuCores",
    "summary.hardware.memorySize",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.overallMemoryUsage",
    "summary.config.product.version",
    "runtime.connectionState",
    "runtime.powerState",
    "runtime.inMaintenanceMode",
    "vm",
];

/// What `host info` shows besides.
const DETAIL_PATHS: &[&str] = &[
    "summary.hardware.vendor",
    "summary.hardware.model",
    "summary.hardware.cpuModel",
    "summary.hardware.numCpuPkgs",
    "summary.hardware.numCpuThreads",
    "summary.hardware.uuid",
    "summary.quickStats.uptime",
    "summary.config.product.fullName",
    "summary.config.product.build",
    "datastore",
    "network",
];

/// How much of each host a command reads: a list reads only its columns (less for
/// every host to encode and send, which at hundreds of endpoints is most of the time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Summary,
    Full,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    pub name: String,
    pub endpoint: String,
    /// Cluster or compute resource name (the host itself for standalone ESXi).
    pub cluster: String,
    pub connection_state: String,
    pub power_state: String,
    pub maintenance: bool,
    pub version: String,
    pub cpu_cores: i64,
    pub cpu_mhz: i64,
    pub cpu_usage_mhz: i64,
    pub memory_mb: i64,
    pub memory_usage_mb: i64,
    pub vms: usize,
    /// Set when the endpoint could not be reached; the other fields are empty then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    #[serde(flatten)]
    pub summary: HostSummary,
    pub id: String,
    pub vendor: String,
    pub model: String,
    pub cpu_model: String,
    pub cpu_packages: i64,
    pub cpu_threads: i64,
    pub uuid: String,
    pub product: String,
    pub build: String,
    pub uptime_seconds: i64,
    pub datastores: Vec<String>,
    pub networks: Vec<String>,
    pub api_type: String,
}

/// Hosts of every endpoint in scope (all configured endpoints by default). An endpoint
/// that cannot be reached is a row with its error, not a failure of the whole list; the
/// errors are returned too, so surfaces can tell a partial answer from a whole one.
pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Gathered<HostSummary>> {
    let scope = match scope {
        Scope::Default => &Scope::All,
        other => other,
    };
    let targets = fleet.targets(scope).await?;
    let results = fleet
        .each_endpoint(targets.clone(), |t| async move {
            host_details(&t, Read::Summary).await
        })
        .await;
    let mut rows = Gathered::default();
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(infos) => {
                rows.answered += 1;
                rows.items.extend(infos.into_iter().map(|i| i.summary));
            }
            Err(e) => {
                rows.items.push(failed_row(target, &e));
                rows.errors.push(EndpointError {
                    endpoint: target.endpoint.name().to_string(),
                    error: e,
                });
            }
        }
    }
    Ok(rows)
}

fn failed_row(target: &Target, e: &OpError) -> HostSummary {
    HostSummary {
        name: target.endpoint.name().to_string(),
        endpoint: target.endpoint.name().to_string(),
        cluster: String::new(),
        connection_state: e.failure_state().into(),
        power_state: String::new(),
        maintenance: false,
        version: String::new(),
        cpu_cores: 0,
        cpu_mhz: 0,
        cpu_usage_mhz: 0,
        memory_mb: 0,
        memory_usage_mb: 0,
        vms: 0,
        error: Some(e.to_string()),
    }
}

/// Details of the host(s) named `name`: an endpoint's name (all its hosts) or an ESXi
/// host's name inside a vCenter. `--host`/`--all-hosts` narrow where it is looked for.
pub async fn info(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<Vec<HostInfo>> {
    let targets: Vec<Target> = match scope {
        Scope::Default => fleet.targets(&Scope::Named(name.to_string())).await?,
        narrowed => fleet
            .targets(narrowed)
            .await?
            .into_iter()
            .filter(|t| t.host.as_deref().is_none_or(|h| h == name))
            .map(|t| {
                let host = (t.endpoint.name() != name).then(|| name.to_string());
                Target {
                    host: t.host.or(host),
                    ..t
                }
            })
            .collect(),
    };
    let mut out = Vec::new();
    for result in fleet
        .each_endpoint(
            targets,
            |t| async move { host_details(&t, Read::Full).await },
        )
        .await
    {
        out.extend(result?);
    }
    if out.is_empty() {
        let known = details(fleet, scope).await.unwrap_or_default();
        return Err(OpError::NotFound {
            kind: "host",
            name: name.to_string(),
            suggestions: super::error::close_names(
                name,
                known.iter().map(|h| h.summary.name.as_str()),
            ),
        });
    }
    Ok(out)
}

async fn host_details(target: &Target, read: Read) -> OpResult<Vec<HostInfo>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    // The names of the hosts' clusters (and datastores and networks) come in the same call.
    let (paths, via) = match read {
        Read::Summary => (
            SUMMARY_PATHS.to_vec(),
            NamesVia {
                paths: &["parent"],
                kinds: &["ComputeResource"],
            },
        ),
        Read::Full => (
            [SUMMARY_PATHS, DETAIL_PATHS].concat(),
            NamesVia {
                paths: &["parent", "datastore", "network"],
                kinds: &["ComputeResource", "Datastore", "Network"],
            },
        ),
    };
    let (hosts, names) = client
        .collect_named(
            PropertySpec {
                kind: "HostSystem",
                paths: &paths,
            },
            via,
        )
        .await
        .at(&endpoint)?;
    let mut out: Vec<HostInfo> = hosts
        .iter()
        .filter(|h| {
            target
                .host
                .as_deref()
                .is_none_or(|n| h.str("name") == Some(n))
        })
        .map(|h| decode(&client, &endpoint, h, &names))
        .collect();
    out.sort_by(|a, b| a.summary.name.cmp(&b.summary.name));
    Ok(out)
}

fn decode(
    client: &Client,
    endpoint: &str,
    h: &ObjectContent,
    names: &std::collections::HashMap<MoRef, String>,
) -> HostInfo {
    let text = |p: &str| h.str(p).unwrap_or_default().to_string();
    let num = |p: &str| h.i64(p).unwrap_or(0);
    let name_of = |m: &MoRef| names.get(m).cloned().unwrap_or_else(|| m.value.clone());
    let cores = num("summary.hardware.numCpuCores");
    HostInfo {
        summary: HostSummary {
            name: text("name"),
            endpoint: endpoint.to_string(),
            cluster: h.moref("parent").map(|p| name_of(&p)).unwrap_or_default(),
            connection_state: text("runtime.connectionState"),
            power_state: text("runtime.powerState"),
            maintenance: h.bool("runtime.inMaintenanceMode").unwrap_or(false),
            version: text("summary.config.product.version"),
            cpu_cores: cores,
            cpu_mhz: cores * num("summary.hardware.cpuMhz"),
            cpu_usage_mhz: num("summary.quickStats.overallCpuUsage"),
            memory_mb: num("summary.hardware.memorySize") / (1024 * 1024),
            memory_usage_mb: num("summary.quickStats.overallMemoryUsage"),
            vms: h.morefs("vm").len(),
            error: None,
        },
        id: h.obj.value.clone(),
        vendor: text("summary.hardware.vendor"),
        model: text("summary.hardware.model"),
        cpu_model: text("summary.hardware.cpuModel"),
        cpu_packages: num("summary.hardware.numCpuPkgs"),
        cpu_threads: num("summary.hardware.numCpuThreads"),
        uuid: text("summary.hardware.uuid"),
        product: text("summary.config.product.fullName"),
        build: text("summary.config.product.build"),
        uptime_seconds: num("summary.quickStats.uptime"),
        datastores: h.morefs("datastore").iter().map(name_of).collect(),
        networks: h.morefs("network").iter().map(name_of).collect(),
        api_type: client.content().about.api_type.clone(),
    }
}

/// What `host add` needs.
pub struct NewHost {
    pub entry: HostEntry,
    /// Used once to verify the connection; never written.
    pub password: Secret,
}

/// What `host add` did (or, in a dry run, would do) to the config file.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub name: String,
    pub product: String,
    pub config: std::path::PathBuf,
    /// The change as a unified diff.
    pub diff: String,
    pub dry_run: bool,
}

/// Verify that the new endpoint answers and accepts the credentials, then add it to the
/// config file as text at the end of its `hosts:` list: comments, order and every other
/// entry stay as written. A dry run checks everything and writes nothing.
pub async fn add(
    config_path: &Path,
    new: NewHost,
    connect_timeout: std::time::Duration,
    dry_run: bool,
) -> OpResult<Added> {
    let text = if config_path.exists() {
        std::fs::read_to_string(config_path)
            .map_err(|e| OpError::Io(format!("cannot read {}: {e}", config_path.display())))?
    } else {
        String::new()
    };
    let config: Config = config::load::parse(config_path, &text)?.config;
    if config.hosts.iter().any(|h| h.name == new.entry.name) {
        return Err(OpError::refused(
            format!(
                "a host named '{}' is already in {}",
                new.entry.name,
                config_path.display()
            ),
            "choose another name, or edit the file",
        ));
    }
    // A password in the address would be written to the file: refused, never echoed.
    if let Ok((_, _, Some(_))) = config::load::sdk_url(&new.entry.host) {
        return Err(OpError::Invalid {
            message: format!(
                "the address of '{}' carries a password; ceso never writes passwords",
                new.entry.name
            ),
            hint: Some("give the address without the password and pass --password-env VAR".into()),
        });
    }
    let edit = config::edit::append_host(&text, &new.entry).map_err(|why| OpError::Invalid {
        message: format!(
            "cannot add '{}' to {}: {why}",
            new.entry.name,
            config_path.display()
        ),
        hint: None,
    })?;
    // The edited text must load as the old config plus this entry, nothing else.
    let loaded = config::load::parse(config_path, &edit.text)?;
    let mut expected = config.clone();
    expected.hosts.push(new.entry.clone());
    if serde_json::to_value(&loaded.config).ok() != serde_json::to_value(&expected).ok() {
        return Err(OpError::Invalid {
            message: format!(
                "cannot add '{}' to {} without changing other entries",
                new.entry.name,
                config_path.display()
            ),
            hint: Some("add the entry by hand".into()),
        });
    }
    let spec = loaded
        .endpoints
        .iter()
        .find(|e| e.name == new.entry.name)
        .ok_or_else(|| OpError::invalid("the new entry did not produce an endpoint"))?;
    let client = Client::connect(ConnectOptions {
        url: spec.url.clone(),
        user: spec.user.clone(),
        password: new.password,
        tls: spec.tls.clone(),
        connect_timeout,
        call_timeout: connect_timeout * 3,
        ask_password: None,
    })
    .await
    .at(&new.entry.name)?;
    let product = client.content().about.full_name.clone();
    let _ = client.logout().await;
    if !dry_run {
        config::load::write_text(config_path, &edit.text)?;
    }
    Ok(Added {
        name: new.entry.name.clone(),
        product,
        config: config_path.to_path_buf(),
        diff: config::edit::diff(&config_path.display().to_string(), &edit),
        dry_run,
    })
}

/// Full details of every host in scope (all endpoints by default). Unlike `list`, an
/// endpoint that cannot be reached is an error.
pub async fn details(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<HostInfo>> {
    let scope = match scope {
        Scope::Default => &Scope::All,
        other => other,
    };
    let targets = fleet.targets(scope).await?;
    let mut out = Vec::new();
    for result in fleet
        .each_endpoint(
            targets,
            |t| async move { host_details(&t, Read::Full).await },
        )
        .await
    {
        out.extend(result?);
    }
    out.sort_by(|a, b| {
        a.summary
            .name
            .cmp(&b.summary.name)
            .then(a.summary.endpoint.cmp(&b.summary.endpoint))
    });
    Ok(out)
}

/// The one ESXi host called `name`: a host inside an endpoint, or an endpoint that is a
/// single ESXi host, looked for within `scope`.
pub async fn find(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<HostInfo> {
    let mut found = info(fleet, scope, name).await?;
    if found.len() > 1 && found.iter().filter(|h| h.summary.name == name).count() == 1 {
        // An endpoint name was given, and one host inside it has that exact name.
        found.retain(|h| h.summary.name == name);
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(OpError::NotFound {
            kind: "host",
            name: name.to_string(),
            suggestions: Vec::new(),
        }),
        _ => Err(OpError::Ambiguous {
            kind: "host",
            name: name.to_string(),
            candidates: found
                .iter()
                .map(|h| format!("{} ({})", h.summary.name, h.summary.endpoint))
                .collect(),
        }),
    }
}

/// Put a host into maintenance mode (EnterMaintenanceMode_Task), waited for. The caller
/// has moved its VMs: powered-off VMs are not evacuated by the server, and vSphere
/// keeps the task waiting while a powered-on VM is left.
pub async fn enter_maintenance(
    endpoint: &Endpoint,
    host: &MoRef,
    name: &str,
    progress: &dyn Progress,
) -> OpResult<()> {
    let client = endpoint.client().await?;
    let mut req = Request::new("EnterMaintenanceMode_Task", host);
    // 0: no timeout of the server's own; ceso's task timeout bounds the wait.
    req.text("timeout", 0);
    req.text("evacuatePoweredOffVms", false);
    progress.step(&format!("Entering maintenance mode on {name}"));
    client
        .run_task(req, endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(endpoint.name())?;
    Ok(())
}
