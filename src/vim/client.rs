//! One authenticated SOAP session with an ESXi host or a vCenter.
//!
//! The client is shared (`Arc`) by every concurrent operation on that endpoint: reqwest
//! pools connections, the session cookie is read per call, and an expired session is
//! re-established once, transparently, by whichever call notices first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, RwLock};

use futures::{StreamExt, TryStreamExt};

use super::debug;
use super::decode::{self, Sink, Split};
use super::envelope::{Envelope, Request};
use super::error::Error;
use super::moref::MoRef;
use super::secret::Secret;
use super::service_content::ServiceContent;
use super::session_cache::{Keep, SessionCache};
use super::tls::{self, TlsMode};
use super::xml::Node;

pub(crate) const SESSION_COOKIE: &str = "vmware_soap_session";

/// What an HTTP error says of an answer without a body.
pub const EMPTY_BODY: &str = "the answer has an empty body";

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The SDK URL, e.g. `https://esxi1.lab/sdk`.
    pub url: String,
    pub user: String,
    pub password: Secret,
    pub tls: TlsMode,
    pub connect_timeout: Duration,
    /// Upper bound for one SOAP round trip.
    pub call_timeout: Duration,
    /// Asked for the password when a login needs one and `password` is empty: a
    /// prompt is put off until a cached session turns out to be missing or expired.
    pub ask_password: Option<AskPassword>,
}

/// Gets a password on demand (e.g. a terminal prompt); None when none was given.
#[derive(Clone)]
pub struct AskPassword(pub std::sync::Arc<dyn Fn() -> Option<Secret> + Send + Sync>);

impl std::fmt::Debug for AskPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AskPassword")
    }
}

pub struct Client {
    http: reqwest::Client,
    opts: ConnectOptions,
    /// What the server is (its ServiceContent) and the SOAPAction of its API version.
    server: std::sync::RwLock<Server>,
    /// `server` came from the session cache: the next login reads it afresh.
    content_cached: AtomicBool,
    /// ContainerViews kept in this session for inventory reads, by what they hold.
    views: std::sync::Mutex<BTreeMap<String, String>>,
    /// Held while a session view is made, so concurrent reads make one.
    view_making: Mutex<()>,
    cookie: RwLock<Option<String>>,
    /// Serialises re-logins so concurrent calls that all see an expired session log in once.
    relogin: Mutex<()>,
    /// The password `ask_password` gave.
    asked: RwLock<Option<Secret>>,
    /// Where the session is kept between commands (None: `--no-session-cache`).
    cache: Option<SessionCache>,
    /// The session lives in the cache: logging out at exit would kill it for the next
    /// command, so it is left to expire on the server (govc does the same).
    persisted: AtomicBool,
}

struct Server {
    content: Arc<ServiceContent>,
    soap_action: String,
}

impl Server {
    fn new(content: ServiceContent) -> Self {
        let soap_action = match content.about.api_version.as_str() {
            "" => "urn:vim25".to_string(),
            version => format!("urn:vim25/{version}"),
        };
        Self {
            content: Arc::new(content),
            soap_action,
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.opts.url)
            .finish()
    }
}

impl Client {
    /// Retrieve the service content and log in.
    pub async fn connect(opts: ConnectOptions) -> Result<Arc<Client>, Error> {
        Self::connect_cached(opts, None, None).await
    }

    /// Reuse the session cached for this URL and user, with the ServiceContent kept with
    /// it, or retrieve the service content and log in (and cache the new session). A
    /// cached session is not checked here: the first call it fails with
    /// NotAuthenticated logs in again (and reads the service content afresh), so a
    /// valid one costs no round trip.
    /// `shared`: the HTTP clients of the other endpoints of this fleet, to reuse one
    /// with the same TLS set-up.
    pub async fn connect_cached(
        opts: ConnectOptions,
        cache: Option<SessionCache>,
        shared: Option<&tls::HttpClients>,
    ) -> Result<Arc<Client>, Error> {
        let plain = reqwest::Url::parse(&opts.url).is_ok_and(|u| u.scheme() == "http");
        let http = match shared {
            Some(clients) => clients.get(&opts.tls, opts.connect_timeout, plain)?,
            None => tls::http_client(&opts.tls, opts.connect_timeout, plain)?,
        };
        let cached = cache.as_ref().and_then(|c| c.load(&opts.url, &opts.user));
        let (cookie, views, cached_content) = match cached {
            Some(c) => (
                Some(c.cookie.expose().to_string()),
                c.views,
                c.content.and_then(ServiceContent::from_node),
            ),
            None => (None, BTreeMap::new(), None),
        };
        let content_cached = cached_content.is_some();
        let client = Client {
            http,
            server: std::sync::RwLock::new(Server::new(
                cached_content.unwrap_or_else(placeholder_content),
            )),
            content_cached: AtomicBool::new(content_cached),
            views: std::sync::Mutex::new(views),
            view_making: Mutex::new(()),
            persisted: AtomicBool::new(cookie.is_some()),
            cookie: RwLock::new(cookie),
            relogin: Mutex::new(()),
            asked: RwLock::new(None),
            cache,
            opts,
        };
        if !content_cached {
            client.read_content().await?;
        }
        if !client.persisted.load(Ordering::Relaxed) {
            client.login().await?;
        } else {
            debug::note(&format!("{}: reusing the cached session", client.opts.url));
            if !content_cached {
                // A file from before contents were kept: keep it from now on.
                client.store_session().await;
            }
        }
        Ok(Arc::new(client))
    }

    /// Ask the server what it is (RetrieveServiceContent, which needs no session).
    async fn read_content(&self) -> Result<(), Error> {
        let service = MoRef::new("ServiceInstance", "ServiceInstance");
        let answer = self
            .send(&Request::new("RetrieveServiceContent", &service).finish())
            .await?;
        let content = answer
            .children
            .into_iter()
            .find(|c| c.name == "returnval")
            .and_then(ServiceContent::from_node)
            .ok_or_else(|| {
                Error::Decode(format!(
                    "{} did not return a vSphere service content; is this an ESXi or vCenter SDK URL?",
                    self.opts.url
                ))
            })?;
        *self.server.write().unwrap_or_else(|p| p.into_inner()) = Server::new(content);
        self.content_cached.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// What the server says it is now (one RetrieveServiceContent), kept for the next
    /// command too: `content()` may be the one kept with a cached session.
    pub async fn read_content_now(&self) -> Result<Arc<ServiceContent>, Error> {
        self.read_content().await?;
        if self.keeps_session() {
            self.store_session().await;
        }
        Ok(self.content())
    }

    /// The server's ServiceContent (as of the session's login).
    pub fn content(&self) -> Arc<ServiceContent> {
        self.server
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .content
            .clone()
    }

    fn soap_action(&self) -> String {
        self.server
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .soap_action
            .clone()
    }

    /// Keep the session (and the ServiceContent of its login) for the next command.
    async fn store_session(&self) {
        let Some(cache) = &self.cache else { return };
        let Some(cookie) = self.cookie.read().await.clone() else {
            return;
        };
        let content = self.content();
        let views = self.views.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let keep = Keep {
            cookie: &cookie,
            content: Some(content.raw()),
            views: &views,
        };
        let stored = cache.store(&self.opts.url, &self.opts.user, keep);
        self.persisted.store(stored, Ordering::Relaxed);
    }

    /// Whether the session outlives this command (kept in the session cache): only then
    /// is a ContainerView worth keeping instead of a one-call traversal.
    pub fn keeps_session(&self) -> bool {
        self.persisted.load(Ordering::Relaxed)
    }

    /// The ContainerView this session keeps for `key`, if any.
    pub(crate) fn session_view(&self, key: &str) -> Option<MoRef> {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map(|id| MoRef::new("ContainerView", id))
    }

    /// Keep `view` as the session's view for `key`, here and in the cache.
    pub(crate) async fn keep_session_view(&self, key: &str, view: &MoRef) {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), view.value.clone());
        if self.keeps_session() {
            self.store_session().await;
        }
    }

    /// Drop `view` as the session's view for `key` (unless another replaced it already).
    /// Only here: the view that replaces it is written to the cache when it is made.
    pub(crate) fn forget_session_view(&self, key: &str, view: &MoRef) {
        let mut views = self.views.lock().unwrap_or_else(|p| p.into_inner());
        if views.get(key) == Some(&view.value) {
            views.remove(key);
        }
    }

    /// Serialises the making of session views (see `view_making`).
    pub(crate) async fn making_view(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.view_making.lock().await
    }

    pub fn url(&self) -> &str {
        &self.opts.url
    }

    pub fn user(&self) -> &str {
        &self.opts.user
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The session cookie header value, for datastore HTTP transfers.
    pub async fn cookie_header(&self) -> Option<String> {
        self.cookie
            .read()
            .await
            .as_ref()
            .map(|c| format!("{SESSION_COOKIE}={c}"))
    }

    async fn login(&self) -> Result<(), Error> {
        let manager = self
            .content()
            .session_manager
            .clone()
            .ok_or_else(|| Error::Decode("the server has no SessionManager".into()))?;
        let password = self.password().await?;
        let mut req = Request::new("Login", &manager);
        req.text("userName", &self.opts.user)
            .text("password", password.expose());
        *self.cookie.write().await = None;
        // The old session's views went with it.
        self.views.lock().unwrap_or_else(|p| p.into_inner()).clear();
        // Whatever happens next, a cached cookie is no longer worth anything.
        self.persisted.store(false, Ordering::Relaxed);
        if let Some(cache) = &self.cache {
            cache.forget(&self.opts.url, &self.opts.user);
        }
        self.send(&req.finish()).await.map_err(|e| match e {
            Error::Fault { name, .. } if name == "InvalidLogin" => Error::Fault {
                message: format!(
                    "login as '{}' refused: wrong user name or password",
                    self.opts.user
                ),
                name,
                object: None,
                detail: Box::default(),
            },
            other => other,
        })?;
        // The content kept with an expired session may predate a restart or an upgrade.
        if self.content_cached.load(Ordering::Relaxed) {
            self.read_content().await?;
        }
        self.store_session().await;
        Ok(())
    }

    /// The password for a login: the one given, else asked for once (and kept for
    /// later re-logins).
    async fn password(&self) -> Result<Secret, Error> {
        if !self.opts.password.expose().is_empty() {
            return Ok(self.opts.password.clone());
        }
        if let Some(known) = self.asked.read().await.clone() {
            return Ok(known);
        }
        let Some(ask) = self.opts.ask_password.clone() else {
            return Ok(self.opts.password.clone());
        };
        let answer = tokio::task::spawn_blocking(move || (ask.0)())
            .await
            .ok()
            .flatten()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| Error::NoPassword {
                url: self.opts.url.clone(),
            })?;
        *self.asked.write().await = Some(answer.clone());
        Ok(answer)
    }

    /// The current session id, to pass to `relogin` after a call saw it expire.
    pub async fn session_id(&self) -> Option<String> {
        self.cookie.read().await.clone()
    }

    /// Log in again unless another call already did since `seen` was read.
    pub async fn relogin(&self, seen: Option<String>) -> Result<(), Error> {
        let _guard = self.relogin.lock().await;
        if *self.cookie.read().await != seen {
            return Ok(());
        }
        debug::note(&format!(
            "session expired on {}; logging in again",
            self.opts.url
        ));
        self.login().await
    }

    /// End the session, unless it is cached for the next command.
    pub async fn logout(&self) -> Result<(), Error> {
        if self.persisted.load(Ordering::Relaxed) {
            return Ok(());
        }
        if let Some(manager) = self.content().session_manager.clone() {
            self.call(Request::new("Logout", &manager)).await?;
        }
        Ok(())
    }

    /// Invoke a method and return its response element (`<XxxResponse>`). A call that fails
    /// with NotAuthenticated is retried once after a fresh login.
    pub async fn call(&self, req: Request) -> Result<Node, Error> {
        self.call_split(req, None, &mut |_| Ok(())).await
    }

    /// `call`, handing each element at `split` to `sink` as soon as it is decoded
    /// instead of keeping it in the returned tree: a big answer (QueryPerf over
    /// thousands of VMs) never exists as one tree.
    pub async fn call_split(
        &self,
        req: Request,
        split: Option<Split>,
        sink: Sink<'_>,
    ) -> Result<Node, Error> {
        let envelope = req.finish();
        let seen = self.cookie.read().await.clone();
        match self.send_split(&envelope, split, sink).await {
            // A fault carries no split elements: the sink has seen nothing of it.
            Err(e) if e.is_not_authenticated() && envelope.method != "Login" => {
                self.relogin(seen).await?;
                self.send_split(&envelope, split, sink).await
            }
            other => other,
        }
    }

    /// `call` and return the `returnval` element (absent for void methods).
    pub async fn call_returnval(&self, req: Request) -> Result<Option<Node>, Error> {
        let mut response = self.call(req).await?;
        let index = response.children.iter().position(|c| c.name == "returnval");
        Ok(index.map(|i| response.children.swap_remove(i)))
    }

    async fn send(&self, envelope: &Envelope) -> Result<Node, Error> {
        self.send_split(envelope, None, &mut |_| Ok(())).await
    }

    /// Send one request and decode the answer while it downloads; elements matching
    /// `split` go to `sink` as they complete instead of into the returned tree. The
    /// whole exchange, body included, is bounded by the call timeout.
    pub(crate) async fn send_split(
        &self,
        envelope: &Envelope,
        split: Option<Split>,
        sink: Sink<'_>,
    ) -> Result<Node, Error> {
        let started = Instant::now();
        let cookie = self.cookie.read().await.clone();
        let soap_action = self.soap_action();
        let mut request = self
            .http
            .post(&self.opts.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", &soap_action)
            .body(envelope.body.clone());
        if debug::bodies() {
            let mut headers = vec![("SOAPAction", soap_action.clone())];
            if cookie.is_some() {
                headers.push(("Cookie", format!("{SESSION_COOKIE}=…")));
            }
            debug::request(&self.opts.url, &envelope.method, &headers, &envelope.body);
        }
        if let Some(cookie) = cookie {
            request = request.header("Cookie", format!("{SESSION_COOKIE}={cookie}"));
        }
        // What the wire log shows of the answer (kept only under --debug, and bounded).
        let seen_status = std::sync::atomic::AtomicU16::new(0);
        let captured = std::sync::Mutex::new(Vec::new());
        let capture = debug::bodies().then(debug::capture_limit);
        let received = AtomicU64::new(0);
        let exchange = async {
            let response = on_worker(request.send()).await.map_err(|e| {
                e.map_or_else(
                    || Failure::Io(Arc::new(lost_exchange())),
                    Failure::Transport,
                )
            })?;
            let status = response.status().as_u16();
            seen_status.store(status, Ordering::Relaxed);
            if let Some(cookie) = session_cookie(response.headers()) {
                debug::note(&format!("{} sets a new session cookie", envelope.method));
                *self.cookie.write().await = Some(cookie);
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            // reqwest is built without decompression and asks for none: a compressed
            // answer would otherwise surface as bytes that are "not valid UTF-8".
            if let Some(encoding) = response
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("identity"))
            {
                return Err(Failure::Answer(Error::Decode(format!(
                    "the answer is compressed (Content-Encoding: {}) although ceso did not \
                     ask for it; a proxy or the server ignores Accept-Encoding",
                    encoding.chars().take(40).collect::<String>()
                ))));
            }
            // SOAP answers are 200, or 500 with a fault; anything else is read only far
            // enough to quote it.
            if content_type.contains("html") || !(status == 200 || status == 500) {
                let start = body_start(response).await.map_err(Failure::Transport)?;
                return Err(Failure::Answer(not_soap(
                    &self.opts.url,
                    status,
                    &content_type,
                    &start,
                )));
            }
            let stream = response
                .bytes_stream()
                .inspect_ok(|chunk| {
                    received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if let Some(limit) = capture
                        && let Ok(mut kept) = captured.lock()
                        && kept.len() < limit
                    {
                        let room = limit - kept.len();
                        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                })
                .map_err(std::io::Error::other);
            let body = tokio_util::io::StreamReader::new(Box::pin(stream));
            let doc = decode::parse_stream(body, &decode::LIMITS, split, sink)
                .await
                .map_err(|e| match e {
                    // An error status whose body is not XML: the status is the news.
                    decode::Failure::Answer(Error::Decode(m)) if status != 200 => {
                        Failure::Answer(Error::Http {
                            url: self.opts.url.clone(),
                            status,
                            body: if received.load(Ordering::Relaxed) == 0 {
                                EMPTY_BODY.to_string()
                            } else {
                                format!("the body is not a SOAP answer: {m}")
                            },
                        })
                    }
                    decode::Failure::Answer(e) => Failure::Answer(e),
                    decode::Failure::Io(io) => Failure::Io(io),
                })?;
            decode_envelope(&self.opts.url, status, doc).map_err(Failure::Answer)
        };
        let result = tokio::time::timeout(self.opts.call_timeout, exchange).await;
        if debug::enabled() {
            let status = seen_status.load(Ordering::Relaxed);
            let body = captured.lock().map(|b| b.clone()).unwrap_or_default();
            debug::answer(
                &self.opts.url,
                &envelope.method,
                (status != 0).then_some(status),
                started.elapsed(),
                &body,
                received.load(Ordering::Relaxed),
            );
        }
        match result {
            Err(_) => Err(Error::Timeout {
                what: format!("{} on {}", envelope.method, self.opts.url),
                secs: self.opts.call_timeout.as_secs(),
            }),
            Ok(Ok(node)) => Ok(node),
            Ok(Err(Failure::Answer(Error::Decode(m)))) => Err(Error::Decode(format!(
                "{m} (in the answer to {})",
                envelope.method
            ))),
            Ok(Err(Failure::Answer(e))) => Err(e),
            Ok(Err(Failure::Transport(e))) => Err(self.transport_error(&envelope.method, &e).await),
            Ok(Err(Failure::Io(io))) => Err(
                match io
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<reqwest::Error>())
                {
                    Some(e) => self.transport_error(&envelope.method, e).await,
                    None => Error::Dropped {
                        url: self.opts.url.clone(),
                        method: envelope.method.clone(),
                        cause: io.to_string(),
                    },
                },
            ),
        }
    }

    async fn transport_error(&self, method: &str, e: &reqwest::Error) -> Error {
        let url = self.opts.url.clone();
        let cause = root_cause(e);
        if e.is_redirect() {
            let cause = match find_source::<tls::CrossOrigin>(e) {
                Some(refused) => format!(
                    "the server redirected the {method} to {}; not followed (ceso sends \
                     requests, and with them passwords and the session cookie, only to {url})",
                    refused.to
                ),
                None => format!("{url} redirects without end: {cause}"),
            };
            return Error::Redirect { url, cause };
        }
        if is_tls_error(e) {
            let cause = find_source::<rustls::Error>(e)
                .map(tls::describe_tls_error)
                .or_else(|| tls::describe_tls_text(&cause))
                .unwrap_or(cause);
            let thumbprint = tls::probe_thumbprint(&url).await;
            return Error::Tls {
                url,
                cause,
                thumbprint,
            };
        }
        if e.is_timeout() {
            return Error::Timeout {
                what: format!("{method} on {url}"),
                secs: self.opts.call_timeout.as_secs(),
            };
        }
        if e.is_connect() {
            return Error::Connect { url, cause };
        }
        Error::Dropped {
            url,
            method: method.to_string(),
            cause,
        }
    }

    /// Keep the session alive during long work that makes no SOAP calls (a long datastore
    /// transfer): vCenter drops idle sessions after 30 minutes by default.
    pub fn spawn_keepalive(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let client = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let service = MoRef::new("ServiceInstance", "ServiceInstance");
                let _ = client.call(Request::new("CurrentTime", &service)).await;
            }
        })
    }
}

fn placeholder_content() -> ServiceContent {
    let node = Node {
        children: vec![
            leaf_moref("rootFolder", "Folder", ""),
            leaf_moref("propertyCollector", "PropertyCollector", ""),
            Node {
                name: "about".into(),
                ..Node::default()
            },
        ],
        ..Node::default()
    };
    // Cannot fail: the node above has every required field.
    ServiceContent::from_node(node).unwrap_or_else(|| unreachable!())
}

fn leaf_moref(name: &str, kind: &str, value: &str) -> Node {
    Node {
        name: name.to_string().into(),
        type_attr: Some(kind.into()),
        text: value.into(),
        ..Node::default()
    }
}

fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?.trim();
            let (name, value) = first.split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.trim_matches('"').to_string())
        })
}

/// How an exchange failed, before transport errors are described.
enum Failure {
    Transport(reqwest::Error),
    Io(std::sync::Arc<std::io::Error>),
    Answer(Error),
}

/// Run the connection and the request on the runtime's workers, as a task of its own.
/// An exchange started in a caller that starts hundreds (one per endpoint) would
/// otherwise wait to be polled again until the caller had started all the others:
/// as a task, its connection is made, and its request sent, as soon as a worker is
/// free, and on both cores at once. Dropping the future (a timeout) ends the task.
/// `None`: the task died (a panic in the HTTP stack).
async fn on_worker<T: Send + 'static>(
    exchange: impl Future<Output = Result<T, reqwest::Error>> + Send + 'static,
) -> Result<T, Option<reqwest::Error>> {
    let mut task = AbortOnDrop(tokio::spawn(exchange));
    match (&mut task.0).await {
        Ok(answer) => answer.map_err(Some),
        Err(_) => Err(None),
    }
}

/// A spawned task that ends when its handle is dropped (the caller gave up on it).
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lost_exchange() -> std::io::Error {
    std::io::Error::other("the HTTP exchange ended without an answer")
}

/// The first few KB of a body that is not SOAP, to quote in the error.
async fn body_start(response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    const QUOTE: usize = 4096;
    let mut start = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        start.extend_from_slice(&chunk?);
        if start.len() >= QUOTE {
            start.truncate(QUOTE);
            break;
        }
    }
    Ok(start)
}

/// An answer that is not SOAP: a web page, or an HTTP error status.
fn not_soap(url: &str, status: u16, content_type: &str, start: &[u8]) -> Error {
    let text = String::from_utf8_lossy(start);
    let quote = readable_text(&text);
    if status == 200 {
        return Error::Decode(format!(
            "{url} answered with a web page ({}), not SOAP{}",
            if content_type.is_empty() {
                "no content type"
            } else {
                content_type
            },
            if quote.is_empty() {
                String::new()
            } else {
                format!(": \"{quote}\"")
            }
        ));
    }
    Error::Http {
        url: url.to_string(),
        status,
        body: if start.is_empty() {
            EMPTY_BODY.to_string()
        } else {
            quote
        },
    }
}

/// The visible text of an HTML or plain page, whitespace collapsed, at most 200 chars.
fn readable_text(page: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in page.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    words.join(" ").chars().take(200).collect()
}

/// Turn an HTTP answer held in memory into the response element or a typed error.
pub fn decode_response(url: &str, status: u16, body: impl AsRef<[u8]>) -> Result<Node, Error> {
    let body = body.as_ref();
    match decode::parse_bytes(body, &decode::LIMITS, None, &mut |_| Ok(())) {
        Ok(doc) => decode_envelope(url, status, doc),
        Err(e) if status == 200 => Err(e),
        Err(_) => Err(not_soap(url, status, "", body)),
    }
}

/// The response element of a SOAP envelope, or its fault as an error.
pub fn decode_envelope(url: &str, status: u16, doc: Node) -> Result<Node, Error> {
    if doc.name != "Envelope" {
        return Err(Error::Decode(format!(
            "the answer is XML but not a SOAP envelope (its root element is <{}>)",
            doc.name.chars().take(60).collect::<String>()
        )));
    }
    let body = doc
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or_else(|| Error::Decode("SOAP envelope without a Body".into()))?;
    let first = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| Error::Decode("empty SOAP Body".into()))?;
    if first.name == "Fault" {
        let message = first.text_of("faultstring").unwrap_or_default().trim();
        return Err(
            match first.child("detail").and_then(|d| d.children.first()) {
                Some(fault) => Error::from_fault_node(fault, message),
                None => Error::Fault {
                    name: first
                        .text_of("faultcode")
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .unwrap_or("SystemError")
                        .to_string(),
                    message: if message.is_empty() {
                        "the server reported a fault without a message or details".to_string()
                    } else {
                        message.to_string()
                    },
                    object: None,
                    detail: Box::new(first.clone()),
                },
            },
        );
    }
    if status != 200 {
        return Err(Error::Http {
            url: url.to_string(),
            status,
            body: "a SOAP answer that is not a fault".into(),
        });
    }
    Ok(first)
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.is_empty() { e.to_string() } else { text }
}

/// The first error of type T in `e`'s chain, looking inside io::Errors too
/// (their `source()` skips the error they wrap, which is where rustls puts its own).
fn find_source<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(found) = unwrap_as::<T>(c) {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

/// `e` as a T, through any io::Errors around it.
fn unwrap_as<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    if let Some(found) = e.downcast_ref::<T>() {
        return Some(found);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    unwrap_as::<T>(inner)
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        let text = c.to_string();
        if text.contains("certificate") || text.contains("InvalidCertificate") {
            return true;
        }
        cause = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_is_read_from_set_cookie() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::SET_COOKIE,
            "vmware_soap_session=\"abc\"; Path=/; HttpOnly"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
    }

    #[test]
    fn non_xml_error_page_is_an_http_error() {
        let err = decode_response("u", 503, "<html>busy").unwrap_err();
        assert!(matches!(err, Error::Http { status: 503, .. }));
    }
}
