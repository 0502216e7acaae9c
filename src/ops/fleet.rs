//! The endpoints a command can reach, connected lazily and in parallel.
//!
//! A `Fleet` is built once per process (CLI) or per shell (REPL, scripts). Each endpoint
//! opens its session on first use and keeps it; commands over several endpoints run
//! concurrently with a bound, so sixteen hosts take about as long as one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::config::{EndpointSpec, LoadedConfig, PasswordSource};
use crate::vim::tls::HttpClients;
use crate::vim::{self, Client, ConnectOptions, Secret, SessionCache};

use super::error::{OpError, OpResult, close_names};
use super::password::{self, no_password};

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub call: Duration,
    pub task: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            call: Duration::from_secs(60),
            task: Duration::from_secs(3600),
        }
    }
}

/// Asks the user for a password; None when no one can answer (not a terminal).
pub type PasswordPrompt = Arc<dyn Fn(&str) -> Option<Secret> + Send + Sync>;

pub struct Endpoint {
    pub spec: EndpointSpec,
    timeouts: Timeouts,
    prompt: Option<PasswordPrompt>,
    client: OnceCell<Arc<Client>>,
    session_cache: Option<SessionCache>,
    /// HTTP clients shared by the fleet's endpoints.
    http: Arc<HttpClients>,
}

impl Endpoint {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The session, opened on first use. A failed attempt is not cached: the next call
    /// tries again.
    pub async fn client(&self) -> OpResult<Arc<Client>> {
        self.client
            .get_or_try_init(|| async {
                // A cached session needs no password: the prompt waits until a login
                // does (the session expired, or the server forgot it).
                let cached = matches!(self.spec.password, PasswordSource::Prompt)
                    && self
                        .session_cache
                        .as_ref()
                        .is_some_and(|c| c.load(&self.spec.url, &self.spec.user).is_some());
                let (password, ask_password) = if cached {
                    (Secret::new(String::new()), self.ask_password())
                } else {
                    (self.password().await?, None)
                };
                let options = ConnectOptions {
                    url: self.spec.url.clone(),
                    user: self.spec.user.clone(),
                    password,
                    tls: self.spec.tls.clone(),
                    connect_timeout: self.timeouts.connect,
                    call_timeout: self.timeouts.call,
                    ask_password,
                };
                Client::connect_cached(options, self.session_cache.clone(), Some(&self.http))
                    .await
                    .map_err(|e| OpError::vim(&self.spec.name, e))
            })
            .await
            .cloned()
    }

    /// The session if it is already open (no connection attempt).
    pub fn connected(&self) -> Option<Arc<Client>> {
        self.client.get().cloned()
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The terminal prompt as the client's on-demand password.
    fn ask_password(&self) -> Option<vim::AskPassword> {
        let prompt = self.prompt.clone()?;
        let label = format!("Password for {}@{}: ", self.spec.user, self.spec.name);
        Some(vim::AskPassword(Arc::new(move || prompt(&label))))
    }

    async fn password(&self) -> OpResult<Secret> {
        let name = &self.spec.name;
        match &self.spec.password {
            PasswordSource::Given(secret) => Ok(secret.clone()),
            PasswordSource::Env(var) => password::from_env(name, var),
            PasswordSource::Command(command) => password::from_command(name, command).await,
            PasswordSource::Prompt => {
                let prompt = self.prompt.clone().ok_or_else(|| no_password(name))?;
                let label = format!("Password for {}@{}: ", self.spec.user, name);
                tokio::task::spawn_blocking(move || prompt(&label))
                    .await
                    .ok()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| no_password(name))
            }
        }
    }
}

/// Which endpoints (and which ESXi host inside them) a command acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// The endpoint marked default, or the only one.
    #[default]
    Default,
    /// `--host NAME`: an endpoint by config name, or an ESXi host by name in a vCenter.
    Named(String),
    /// `--all-hosts`
    All,
}

/// One place a command runs: an endpoint, optionally narrowed to one ESXi host in it.
#[derive(Clone)]
pub struct Target {
    pub endpoint: Arc<Endpoint>,
    pub host: Option<String>,
}

pub struct Fleet {
    pub config: LoadedConfig,
    endpoints: Vec<Arc<Endpoint>>,
    pub timeouts: Timeouts,
    pub concurrency: usize,
    /// How many endpoints are worked on at once (`settings.endpoint_concurrency`).
    pub endpoint_concurrency: usize,
}

/// Endpoints are separate servers: 256 at once answers a fleet of a few hundred hosts in
/// one round (200 simulated endpoints: 103 ms at once against 230 ms at 64), at one
/// socket and some 100 KB each, well inside the usual limit of 1,024 open files.
pub const DEFAULT_ENDPOINT_CONCURRENCY: usize = 256;

impl Fleet {
    pub fn new(config: LoadedConfig, prompt: Option<PasswordPrompt>) -> Self {
        let settings = config.settings();
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: settings
                .connect_timeout
                .map_or(defaults.connect, Duration::from_secs),
            call: settings.timeout.map_or(defaults.call, Duration::from_secs),
            task: settings
                .task_timeout
                .map_or(defaults.task, Duration::from_secs),
        };
        let concurrency = settings.concurrency.unwrap_or(16).max(1);
        let endpoint_concurrency = settings
            .endpoint_concurrency
            .or_else(|| {
                config
                    .config
                    .phase4
                    .as_ref()?
                    .multi_host
                    .as_ref()?
                    .concurrency
            })
            .unwrap_or(DEFAULT_ENDPOINT_CONCURRENCY)
            .max(1);
        let session_cache = settings
            .session_cache
            .unwrap_or(true)
            .then(SessionCache::default_dir)
            .flatten()
            .map(SessionCache::new);
        let http = Arc::new(HttpClients::default());
        let endpoints = config
            .endpoints
            .iter()
            .map(|spec| {
                Arc::new(Endpoint {
                    spec: spec.clone(),
                    timeouts,
                    prompt: prompt.clone(),
                    client: OnceCell::new(),
                    session_cache: session_cache.clone(),
                    http: http.clone(),
                })
            })
            .collect();
        Self {
            config,
            endpoints,
            timeouts,
            concurrency,
            endpoint_concurrency,
        }
    }

    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }

    pub fn endpoint(&self, name: &str) -> Option<&Arc<Endpoint>> {
        self.endpoints.iter().find(|e| e.name() == name)
    }

    fn no_endpoint(&self) -> OpError {
        OpError::Invalid {
            message: "no vSphere endpoint is configured".into(),
            hint: Some(format!(
                "set CESO_URL=https://user@host/sdk (or GOVC_URL), or add hosts to {} (`ceso host add NAME --host ADDR --user USER`)",
                crate::config::load::default_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "~/.config/ceso/config.yaml".into())
            )),
        }
    }

    /// The endpoint a command without `--host` acts on.
    pub fn default_endpoint(&self) -> OpResult<Arc<Endpoint>> {
        if let Some(e) = self.endpoints.iter().find(|e| e.spec.default) {
            return Ok(e.clone());
        }
        match self.endpoints.as_slice() {
            [] => Err(self.no_endpoint()),
            [only] => Ok(only.clone()),
            many => Err(OpError::Invalid {
                message: format!(
                    "{} endpoints are configured and none is marked default",
                    many.len()
                ),
                hint: Some(format!(
                    "choose one with --host ({}), use --all-hosts, or mark one `default: true`",
                    many.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
                )),
            }),
        }
    }

    /// The one place a command that creates something runs: the scope's first target.
    pub async fn target(&self, scope: &Scope) -> OpResult<Target> {
        self.targets(scope)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| OpError::invalid("no target"))
    }

    /// Resolve a scope to targets. `--host NAME` first matches endpoint names; otherwise
    /// it looks for an ESXi host of that name inside every endpoint (a vCenter manages many).
    pub async fn targets(&self, scope: &Scope) -> OpResult<Vec<Target>> {
        match scope {
            Scope::Default => Ok(vec![Target {
                endpoint: self.default_endpoint()?,
                host: None,
            }]),
            Scope::All => {
                if self.endpoints.is_empty() {
                    return Err(self.no_endpoint());
                }
                Ok(self
                    .endpoints
                    .iter()
                    .map(|e| Target {
                        endpoint: e.clone(),
                        host: None,
                    })
                    .collect())
            }
            Scope::Named(name) => {
                if let Some(e) = self.endpoint(name) {
                    return Ok(vec![Target {
                        endpoint: e.clone(),
                        host: None,
                    }]);
                }
                if self.endpoints.is_empty() {
                    return Err(self.no_endpoint());
                }
                let found = self
                    .each_endpoint(self.endpoints.to_vec(), |endpoint| async move {
                        let client = endpoint.client().await?;
                        let hosts = super::inventory::host_names(&client)
                            .await
                            .map_err(|e| OpError::vim(endpoint.name(), e))?;
                        Ok(hosts.into_values().collect::<Vec<_>>())
                    })
                    .await;
                let mut targets = Vec::new();
                let mut known: Vec<String> = self
                    .endpoints
                    .iter()
                    .map(|e| e.name().to_string())
                    .collect();
                let mut first_error = None;
                for (endpoint, result) in self.endpoints.iter().zip(found) {
                    match result {
                        Ok(hosts) => {
                            if hosts.iter().any(|h| h == name) {
                                targets.push(Target {
                                    endpoint: endpoint.clone(),
                                    host: Some(name.clone()),
                                });
                            }
                            known.extend(hosts);
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                if targets.is_empty() {
                    if let Some(e) = first_error {
                        return Err(e);
                    }
                    return Err(OpError::NotFound {
                        kind: "host",
                        name: name.clone(),
                        suggestions: close_names(name, known.iter().map(String::as_str)),
                    });
                }
                Ok(targets)
            }
        }
    }

    /// Run `per_target` on every target of `scope` concurrently and put the results in
    /// one list (target order); the first failing target's error wins.
    pub async fn gather<T, F, Fut>(&self, scope: &Scope, per_target: F) -> OpResult<Vec<T>>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = OpResult<Vec<T>>>,
    {
        self.gather_each(scope, per_target).await?.strict()
    }

    /// Like `gather`, but keep the results of the targets that answered beside the
    /// error of each one that did not (one dead endpoint must not hide the others).
    pub async fn gather_each<T, F, Fut>(
        &self,
        scope: &Scope,
        per_target: F,
    ) -> OpResult<Gathered<T>>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = OpResult<Vec<T>>>,
    {
        let targets = self.targets(scope).await?;
        let names: Vec<String> = targets
            .iter()
            .map(|t| t.endpoint.name().to_string())
            .collect();
        let mut all = Gathered::default();
        let results = self.each_endpoint(targets, per_target).await;
        for (endpoint, result) in names.into_iter().zip(results) {
            match result {
                Ok(items) => {
                    all.answered += 1;
                    all.items.extend(items);
                }
                Err(error) => all.errors.push(EndpointError { endpoint, error }),
            }
        }
        Ok(all)
    }

    /// Run `f` over items with the fleet's concurrency bound; results in input order.
    pub async fn each<I, T, F, Fut>(&self, items: Vec<I>, f: F) -> Vec<OpResult<T>>
    where
        F: Fn(I) -> Fut,
        Fut: Future<Output = OpResult<T>>,
    {
        bounded(items, f, self.concurrency).await
    }

    /// Like `each`, over endpoints (or one item per endpoint): bounded by
    /// `endpoint_concurrency`, since separate servers share no load.
    pub async fn each_endpoint<I, T, F, Fut>(&self, items: Vec<I>, f: F) -> Vec<OpResult<T>>
    where
        F: Fn(I) -> Fut,
        Fut: Future<Output = OpResult<T>>,
    {
        bounded(items, f, self.endpoint_concurrency).await
    }

    /// Log out of every open session that is not cached (best effort).
    pub async fn close(&self) {
        let open: Vec<_> = self
            .endpoints
            .iter()
            .filter_map(|e| e.connected())
            .collect();
        futures::future::join_all(open.iter().map(|c| c.logout())).await;
    }
}

/// An endpoint that did not answer, and why.
#[derive(Debug)]
pub struct EndpointError {
    pub endpoint: String,
    pub error: OpError,
}

/// What the endpoints of a scope answered: the items of those that did, the error of
/// each that did not.
#[derive(Debug)]
pub struct Gathered<T> {
    pub items: Vec<T>,
    pub errors: Vec<EndpointError>,
    /// How many targets answered.
    pub answered: usize,
}

impl<T> Default for Gathered<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            errors: Vec::new(),
            answered: 0,
        }
    }
}

impl<T> Gathered<T> {
    /// All or nothing: the first error when any target failed.
    pub fn strict(self) -> OpResult<Vec<T>> {
        match self.errors.into_iter().next() {
            Some(e) => Err(e.error),
            None => Ok(self.items),
        }
    }

    /// The answer, unless no target answered at all (then the first error).
    pub fn unless_all_failed(mut self) -> OpResult<Self> {
        if self.answered == 0 && !self.errors.is_empty() {
            return Err(self.errors.remove(0).error);
        }
        Ok(self)
    }

    pub fn map_items<U>(self, f: impl FnOnce(Vec<T>) -> Vec<U>) -> Gathered<U> {
        Gathered {
            items: f(self.items),
            errors: self.errors,
            answered: self.answered,
        }
    }
}

/// Attach the endpoint name to a client error.
pub trait WithEndpoint<T> {
    fn at(self, endpoint: &str) -> OpResult<T>;
}

impl<T> WithEndpoint<T> for Result<T, vim::Error> {
    fn at(self, endpoint: &str) -> OpResult<T> {
        self.map_err(|e| OpError::vim(endpoint, e))
    }
}

/// `f` over `items`, at most `limit` at once; results in input order.
async fn bounded<I, T, F, Fut>(items: Vec<I>, f: F, limit: usize) -> Vec<OpResult<T>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = OpResult<T>>,
{
    futures::stream::iter(items.into_iter().map(f))
        .buffered(limit)
        .collect()
        .await
}
