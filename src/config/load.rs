//! Finding, reading and validating the config, and turning it into endpoints.

use std::path::{Path, PathBuf};

use crate::vim::{Secret, TlsMode};

use super::error::ConfigError;
use super::schema::{Access, Config, HostEntry, PciPassthrough};

/// Where a password comes from. Never a plain-text field of the config file.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// Given in `CESO_URL`/`CESO_PASSWORD` (or govc's variables) for this process.
    Given(Secret),
    Env(String),
    Command(String),
    Prompt,
}

/// One endpoint ceso can connect to.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub name: String,
    pub url: String,
    pub user: String,
    pub tls: TlsMode,
    pub password: PasswordSource,
    pub default: bool,
    pub datacenter: Option<String>,
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    /// The file read, if any (endpoints may come from the environment alone).
    pub path: Option<PathBuf>,
    pub config: Config,
    pub endpoints: Vec<EndpointSpec>,
}

impl LoadedConfig {
    pub fn pci_passthrough(&self) -> PciPassthrough {
        self.config
            .pci_passthrough
            .clone()
            .or_else(|| self.config.phase4.as_ref()?.pci_passthrough.clone())
            .unwrap_or_default()
    }

    pub fn hot_backup(&self) -> super::schema::HotBackup {
        self.config
            .phase4
            .as_ref()
            .and_then(|p| p.hot_backup.clone())
            .unwrap_or_default()
    }

    pub fn placement(&self) -> super::schema::PlacementConfig {
        self.config.placement.clone().unwrap_or_default()
    }

    pub fn optimization(&self) -> super::schema::Optimization {
        self.config
            .phase4
            .as_ref()
            .and_then(|p| p.optimization.clone())
            .unwrap_or_default()
    }

    /// `phase4.optimization.enabled` (true when the section is absent).
    pub fn optimization_enabled(&self) -> bool {
        self.config
            .phase4
            .as_ref()
            .and_then(|p| p.optimization.as_ref())
            .is_none_or(|o| o.enabled)
    }

    /// `phase4.multi_host.load_balance` (true when absent): new VMs are placed by the
    /// engine when no host is named.
    pub fn load_balance(&self) -> bool {
        self.config
            .phase4
            .as_ref()
            .and_then(|p| p.multi_host.as_ref())
            .is_none_or(|m| m.load_balance)
    }

    pub fn settings(&self) -> super::schema::Settings {
        self.config.settings.clone().unwrap_or_default()
    }
}

/// The default config path: `$XDG_CONFIG_HOME/ceso/config.yaml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("ceso").join("config.yaml"))
}

/// Environment lookup, injectable for tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Load in this order: `--config PATH`, `CESO_CONFIG`, then `CESO_URL`/`GOVC_URL` from the
/// environment, then the default file. No source at all is not an error here: commands
/// that need an endpoint say so.
pub fn load(explicit: Option<&Path>, env: &dyn Env) -> Result<LoadedConfig, ConfigError> {
    if let Some(path) = explicit
        .map(Path::to_path_buf)
        .or_else(|| env.var("CESO_CONFIG").map(PathBuf::from))
    {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::plain(
                format!("cannot read config {}: {e}", path.display()),
                Some("check the path given with --config or CESO_CONFIG".into()),
            )
        })?;
        return parse(&path, &text);
    }
    if let Some(endpoint) = env_endpoint(env)? {
        return Ok(LoadedConfig {
            path: None,
            config: Config::default(),
            endpoints: vec![endpoint],
        });
    }
    match default_path() {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::plain(format!("cannot read config {}: {e}", path.display()), None)
            })?;
            parse(&path, &text)
        }
        other => Ok(LoadedConfig {
            path: other,
            ..LoadedConfig::default()
        }),
    }
}

/// Parse and validate a config file's text.
pub fn parse(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let name = path.display().to_string();
    let config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            let offset = e.location().map_or(0, |l| l.index());
            let message = e.to_string();
            // serde_yaml appends " at line X column Y"; miette shows the place itself.
            let message = super::redact::url(message.split(" at line ").next().unwrap_or(&message));
            let help = if message.contains("unknown field") {
                Some(
                    "remove the key or fix its spelling; see the config reference in README.md"
                        .into(),
                )
            } else {
                Some("the config file is YAML; see the example in README.md".into())
            };
            ConfigError::at(
                &name,
                text,
                offset,
                format!("invalid config: {message}"),
                "here",
                help,
            )
        })?
    };
    let endpoints = validate(&config, &name, text)?;
    Ok(LoadedConfig {
        path: Some(path.to_path_buf()),
        config,
        endpoints,
    })
}

fn validate(config: &Config, name: &str, text: &str) -> Result<Vec<EndpointSpec>, ConfigError> {
    let err_at = |needle: &str, message: String, help: &str| {
        let offset = text.find(needle).unwrap_or(0);
        ConfigError::at(name, text, offset, message, "here", Some(help.to_string()))
    };
    let mut endpoints = Vec::new();
    for entry in &config.hosts {
        if entry.name.trim().is_empty() {
            return Err(err_at(
                "name:",
                "a host entry has an empty name".into(),
                "give every host a unique name",
            ));
        }
        if endpoints
            .iter()
            .any(|e: &EndpointSpec| e.name == entry.name)
        {
            let needle = format!("name: {}", entry.name);
            let second = text.match_indices(&needle).nth(1).map_or(0, |(i, _)| i);
            return Err(ConfigError::at(
                name,
                text,
                second,
                format!("host name '{}' is used twice", entry.name),
                "second use",
                Some("host names select endpoints (--host NAME) and must be unique".into()),
            ));
        }
        let endpoint = host_endpoint(entry).map_err(|message| {
            err_at(
                &format!("name: {}", entry.name),
                format!("host '{}': {message}", entry.name),
                "fix this entry",
            )
        })?;
        endpoints.push(endpoint);
    }
    let vcenter = config
        .vcenter
        .as_ref()
        .or_else(|| config.phase4.as_ref()?.vcenter.as_ref());
    if let Some(vc) = vcenter {
        if vc.password.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(err_at(
                "password:",
                "a password in the config file is refused".into(),
                "use password_env: VAR or password_command: \"...\" instead; ceso never stores passwords",
            ));
        }
        if vc.enabled && !vc.host.is_empty() {
            let entry = HostEntry {
                name: vc.name.clone().unwrap_or_else(|| "vcenter".into()),
                host: vc.host.clone(),
                user: vc.user.clone(),
                default: vc.default,
                insecure: vc.insecure,
                thumbprint: vc.thumbprint.clone(),
                ca_file: vc.ca_file.clone(),
                password_env: vc.password_env.clone(),
                password_command: vc.password_command.clone(),
                datacenter: vc.datacenter.clone(),
            };
            let mut endpoint = host_endpoint(&entry).map_err(|m| {
                err_at(
                    "vcenter:",
                    format!("vcenter: {m}"),
                    "fix the vcenter section",
                )
            })?;
            endpoint.cluster = vc.cluster.clone();
            if endpoints.iter().any(|e| e.name == endpoint.name) {
                return Err(err_at(
                    "vcenter:",
                    format!("the vcenter's name '{}' is also a host name", endpoint.name),
                    "set vcenter.name to something unique",
                ));
            }
            endpoints.push(endpoint);
        }
    }
    if endpoints.iter().filter(|e| e.default).count() > 1 {
        let second = text
            .match_indices("default: true")
            .nth(1)
            .map_or(0, |(i, _)| i);
        return Err(ConfigError::at(
            name,
            text,
            second,
            "more than one endpoint is marked default: true",
            "second default",
            Some("keep default: true on one entry only".into()),
        ));
    }
    if config.pci_passthrough.is_some()
        && config
            .phase4
            .as_ref()
            .is_some_and(|p| p.pci_passthrough.is_some())
    {
        return Err(err_at(
            "pci_passthrough:",
            "pci_passthrough is set both at the top level and under phase4".into(),
            "keep one of the two sections",
        ));
    }
    if let Some(over) = config
        .phase4
        .as_ref()
        .and_then(|p| p.optimization.as_ref())
        .and_then(|o| o.overcommit.as_ref())
        && (over.cpu <= 0.0 || over.memory <= 0.0)
    {
        return Err(err_at(
            "overcommit:",
            "overcommit ratios must be greater than 0".into(),
            "1.0 means no overcommit; the spec's defaults are cpu: 2.0, memory: 1.5",
        ));
    }
    if let Some(p) = &config.placement {
        validate_placement(p, &err_at)?;
    }
    Ok(endpoints)
}

/// Host groups hold valid patterns, policies name groups that exist, the cost is sane.
fn validate_placement(
    p: &super::schema::PlacementConfig,
    err_at: &dyn Fn(&str, String, &str) -> ConfigError,
) -> Result<(), ConfigError> {
    let pattern = |text: &str| -> Result<(), String> {
        if text.contains(['*', '?', '[']) {
            glob::Pattern::new(text)
                .map(|_| ())
                .map_err(|e| format!("'{text}' is not a valid pattern: {e}"))
        } else if text.trim().is_empty() {
            Err("an empty name".into())
        } else {
            Ok(())
        }
    };
    for (group, members) in &p.host_groups {
        if members.is_empty() {
            return Err(err_at(
                &format!("{group}:"),
                format!("host group '{group}' has no members"),
                "list host names or globs: prod: [esx1, 'esx-p*']",
            ));
        }
        for m in members {
            pattern(m).map_err(|e| {
                err_at(
                    m,
                    format!("host group '{group}': {e}"),
                    "use host names or globs with * ? [..]",
                )
            })?;
        }
    }
    for (i, policy) in p.policies.iter().enumerate() {
        if !p.host_groups.contains_key(&policy.host_group) {
            let known: Vec<&str> = p.host_groups.keys().map(String::as_str).collect();
            return Err(err_at(
                &format!("host_group: {}", policy.host_group),
                format!(
                    "placement policy {} names host group '{}', which placement.host_groups does not define",
                    i + 1,
                    policy.host_group
                ),
                &if known.is_empty() {
                    "define it under placement.host_groups".to_string()
                } else {
                    format!("defined groups: {}", known.join(", "))
                },
            ));
        }
        let vms = policy.vms.to_vec();
        if vms.is_empty() {
            return Err(err_at(
                "vms:",
                format!("placement policy {} names no VMs", i + 1),
                "vms: 'prod-*' or vms: [db1, db2]",
            ));
        }
        for v in &vms {
            pattern(v).map_err(|e| {
                err_at(
                    v,
                    format!("placement policy {}: {e}", i + 1),
                    "use VM names or globs with * ? [..]",
                )
            })?;
        }
    }
    if let Some(c) = p.migration_cost
        && !(c.is_finite() && c >= 0.0)
    {
        return Err(err_at(
            "migration_cost:",
            "placement.migration_cost must be a number ≥ 0".into(),
            "the default is 0.001 (0.1 percentage point of load standard deviation)",
        ));
    }
    Ok(())
}

fn host_endpoint(entry: &HostEntry) -> Result<EndpointSpec, String> {
    if entry.host.trim().is_empty() {
        return Err("'host' is empty".into());
    }
    let access = entry.access();
    let (url, url_user, url_password) = sdk_url(&entry.host)?;
    let user = entry
        .user
        .clone()
        .or(url_user)
        .ok_or_else(|| "no 'user' given".to_string())?;
    let password = match (&access.password_env, &access.password_command, url_password) {
        (Some(_), Some(_), _) => {
            return Err("set password_env or password_command, not both".into());
        }
        (Some(var), None, _) => PasswordSource::Env(var.clone()),
        (None, Some(cmd), _) => PasswordSource::Command(cmd.clone()),
        (None, None, Some(_)) => {
            return Err("the URL carries a password; use password_env or password_command".into());
        }
        (None, None, None) => PasswordSource::Prompt,
    };
    Ok(EndpointSpec {
        name: entry.name.clone(),
        url,
        user,
        tls: tls_mode(&access)?,
        password,
        default: entry.default,
        datacenter: entry.datacenter.clone(),
        cluster: None,
    })
}

fn tls_mode(access: &Access) -> Result<TlsMode, String> {
    let chosen = [
        access.insecure,
        access.thumbprint.is_some(),
        access.ca_file.is_some(),
    ];
    if chosen.iter().filter(|b| **b).count() > 1 {
        return Err("choose one of insecure, thumbprint and ca_file".into());
    }
    if let Some(t) = &access.thumbprint {
        crate::vim::tls::parse_thumbprint(t).map_err(|e| e.to_string())?;
        return Ok(TlsMode::Pinned(t.clone()));
    }
    if let Some(ca) = &access.ca_file {
        return Ok(TlsMode::VerifyWithCa(expand_home(ca)));
    }
    Ok(if access.insecure {
        TlsMode::Insecure
    } else {
        TlsMode::Verify
    })
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// `host`, `host:port`, or a URL → (SDK URL without credentials, user, password).
/// The scheme defaults to https and the path to `/sdk`, as govc does.
pub fn sdk_url(host: &str) -> Result<(String, Option<String>, Option<Secret>), String> {
    let with_scheme = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    // Messages show the address with its password masked.
    let shown = super::redact::url(host);
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("'{shown}' is not an address or URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{shown}': only http and https URLs are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{shown}' has no host name"));
    }
    let user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
    let password = url.password().map(|p| Secret::new(percent_decode(p)));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/sdk");
    }
    Ok((url.to_string(), user, password))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

/// An endpoint from `CESO_URL` (or govc's `GOVC_URL`), for use without a config file.
fn env_endpoint(env: &dyn Env) -> Result<Option<EndpointSpec>, ConfigError> {
    let (prefix, raw) = match (env.var("CESO_URL"), env.var("GOVC_URL")) {
        (Some(url), _) => ("CESO", url),
        (None, Some(url)) => ("GOVC", url),
        (None, None) => return Ok(None),
    };
    // CESO_ variables first, govc's as a fallback, whichever variable gave the URL:
    // `CESO_URL` with `GOVC_INSECURE=1` is insecure, as the README's table says.
    let var = |suffix: &str| {
        env.var(&format!("CESO_{suffix}"))
            .or_else(|| env.var(&format!("GOVC_{suffix}")))
    };
    let (url, url_user, url_password) = sdk_url(&raw).map_err(|m| {
        ConfigError::plain(
            format!("{prefix}_URL: {m}"),
            Some("expected http[s]://user:pass@host[:port]/sdk".into()),
        )
    })?;
    let user = var("USERNAME").or(url_user).ok_or_else(|| {
        ConfigError::plain(
            format!("{prefix}_URL has no user"),
            Some(format!("set {prefix}_USERNAME or put user@ in the URL")),
        )
    })?;
    let password = match var("PASSWORD").map(Secret::new).or(url_password) {
        Some(secret) => PasswordSource::Given(secret),
        None => PasswordSource::Prompt,
    };
    let insecure = var("INSECURE").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let tls = match var("THUMBPRINT") {
        Some(t) => {
            crate::vim::tls::parse_thumbprint(&t)
                .map_err(|e| ConfigError::plain(format!("{prefix}_THUMBPRINT: {e}"), None))?;
            TlsMode::Pinned(t)
        }
        None if insecure => TlsMode::Insecure,
        None => match var("TLS_CA_CERTS") {
            Some(ca) => TlsMode::VerifyWithCa(expand_home(&ca)),
            None => TlsMode::Verify,
        },
    };
    let name = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "default".into());
    Ok(Some(EndpointSpec {
        name,
        url,
        user,
        tls,
        password,
        default: true,
        datacenter: var("DATACENTER"),
        cluster: var("CLUSTER"),
    }))
}

/// Write the config's text atomically with mode 0600. Passwords are never part of it.
pub fn write_text(path: &Path, text: &str) -> Result<(), ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| ConfigError::plain(format!("cannot create {}: {e}", dir.display()), None))?;
    let tmp = dir.join(format!(".config.yaml.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ConfigError::plain(format!("cannot write {}: {e}", path.display()), None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn parse_text(text: &str) -> Result<LoadedConfig, ConfigError> {
        parse(Path::new("config.yaml"), text)
    }

    #[test]
    fn spec_example_loads() {
        let text = "hosts:\n  - name: esxi1\n    host: 192.168.1.100\n    user: root\n    default: true\n  - name: esxi2\n    host: http://127.0.0.1:8989/sdk\n    user: root\n    password_env: ESXI2_PW\nphase4:\n  pci_passthrough:\n    enabled: true\n    auto_reset: true\n  hot_backup:\n    enabled: true\n    default_quiesce: true\n    cbt_enabled: true\n  optimization:\n    overcommit:\n      cpu: 2.0\n      memory: 1.5\n";
        let loaded = parse_text(text).unwrap();
        assert_eq!(loaded.endpoints.len(), 2);
        assert_eq!(loaded.endpoints[0].url, "https://192.168.1.100/sdk");
        assert_eq!(loaded.endpoints[1].url, "http://127.0.0.1:8989/sdk");
        assert!(
            matches!(loaded.endpoints[1].password, PasswordSource::Env(ref v) if v == "ESXI2_PW")
        );
        assert!(loaded.hot_backup().default_quiesce);
    }

    #[test]
    fn placement_section_is_validated_with_locations() {
        let ok = "placement:\n  host_groups:\n    prod: [esx1, esx2]\n    dev: ['lab-*']\n  policies:\n    - { vms: 'prod-*', host_group: prod, rule: must }\n    - { vms: [a, b], host_group: dev, rule: should_not }\n";
        let loaded = parse_text(ok).unwrap();
        assert_eq!(loaded.placement().policies.len(), 2);
        let bad = "placement:\n  host_groups:\n    prod: [esx1]\n  policies:\n    - { vms: 'prod-*', host_group: prd, rule: must }\n";
        let err = parse_text(bad).unwrap_err();
        assert!(err.message.contains("'prd'"), "{}", err.message);
        assert!(err.help.as_deref().unwrap().contains("prod"));
        let span = err.span.unwrap();
        assert_eq!(&bad[span.offset()..span.offset() + 15], "host_group: prd");
        let bad_rule = "placement:\n  host_groups:\n    prod: [esx1]\n  policies:\n    - { vms: x, host_group: prod, rule: always }\n";
        let err = parse_text(bad_rule).unwrap_err();
        assert!(err.message.contains("always"), "{}", err.message);
        let bad_glob = "placement:\n  host_groups:\n    lab: ['lab-[']\n";
        let err = parse_text(bad_glob).unwrap_err();
        assert!(
            err.message.contains("not a valid pattern"),
            "{}",
            err.message
        );
        assert_eq!(err.span.unwrap().offset(), bad_glob.find("lab-[").unwrap());
    }

    #[test]
    fn unknown_key_points_at_its_line() {
        let text = "hosts:\n  - name: a\n    host: h\n    user: u\n    pasword_env: X\n";
        let err = parse_text(text).unwrap_err();
        assert!(
            err.message.contains("unknown field `pasword_env`"),
            "{}",
            err.message
        );
        let span = err.span.unwrap();
        assert_eq!(&text[span.offset()..span.offset() + 11], "pasword_env");
    }

    #[test]
    fn wrong_type_and_two_defaults_are_errors() {
        assert!(
            parse_text("hosts:\n  - name: a\n    host: h\n    user: u\n    default: maybe\n")
                .is_err()
        );
        let two = "hosts:\n  - {name: a, host: h, user: u, default: true}\n  - {name: b, host: h2, user: u, default: true}\n";
        assert!(
            parse_text(two)
                .unwrap_err()
                .message
                .contains("more than one")
        );
    }

    #[test]
    fn a_password_in_the_file_is_refused() {
        let text = "vcenter:\n  host: vc\n  user: admin\n  password: hunter2\n";
        let err = parse_text(text).unwrap_err();
        assert!(!err.message.contains("hunter2"));
        assert!(err.message.contains("refused"));
    }

    #[test]
    fn govc_environment_is_a_fallback() {
        let env = FakeEnv(HashMap::from([
            ("GOVC_URL", "https://root:s%40cret@esx1.lab"),
            ("GOVC_INSECURE", "1"),
        ]));
        let endpoint = env_endpoint(&env).unwrap().unwrap();
        assert_eq!(endpoint.url, "https://esx1.lab/sdk");
        assert_eq!(endpoint.user, "root");
        assert_eq!(endpoint.tls, TlsMode::Insecure);
        assert!(
            matches!(endpoint.password, PasswordSource::Given(ref s) if s.expose() == "s@cret")
        );
        let ceso_first = FakeEnv(HashMap::from([
            ("GOVC_URL", "https://a"),
            ("CESO_URL", "http://u:p@127.0.0.1:9/sdk"),
        ]));
        assert_eq!(
            env_endpoint(&ceso_first).unwrap().unwrap().name,
            "127.0.0.1:9"
        );
    }
}
