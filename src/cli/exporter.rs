//! `ceso exporter`: serves `/metrics` for Prometheus over HTTP (hyper), from one shared
//! collection per interval (ops::exporter). Loopback only unless `--allow-remote`;
//! HTTPS and basic auth from a Prometheus web-config file (`--web-config`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::exposition::{Format, Page};
use crate::ops::exporter::Exporter;
use crate::ops::exporter::web_config::WebConfig;
use crate::ops::fleet::Fleet;
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::stats::secs;

#[derive(Debug, Args)]
pub struct ExporterArgs {
    /// Address and port to serve /metrics on (port 0 picks a free one, printed on stderr)
    #[arg(long, default_value = "127.0.0.1:9272", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Time between collections (every scrape is served from the latest)
    #[arg(long, default_value = "20s")]
    pub interval: String,
    /// Allow --listen on an address other than loopback (the page names every VM and host)
    #[arg(long)]
    pub allow_remote: bool,
    /// Prometheus web-config file: `tls_server_config` (cert_file, key_file) serves
    /// HTTPS, `basic_auth_users` (user: bcrypt hash) asks for a password
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Backup repository whose newest backup per VM gives ceso_vm_backup_age_seconds
    /// (default: the one `ceso backup` uses)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

/// A TLS handshake slower than this is dropped (a client that connects and says nothing
/// must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Shared = Option<Arc<Page>>;

/// A response body handed over in the page's pieces (no copy of the page per scrape).
struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn one(body: Bytes) -> Chunks {
        Chunks(VecDeque::from([body]))
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

pub fn run(ctx: &Ctx, args: ExporterArgs) -> OpResult<()> {
    let every = Duration::from_secs(secs("--interval", &args.interval)? as u64);
    let addr: SocketAddr = args.listen.parse().map_err(|e| OpError::Invalid {
        message: format!("--listen {:?}: {e}", args.listen),
        hint: Some("give an address and port, e.g. 127.0.0.1:9272".into()),
    })?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(OpError::Invalid {
            message: format!("--listen {addr} is not a loopback address"),
            hint: Some(
                "the page lists every VM, host and datastore: add --allow-remote to serve it beyond this machine"
                    .into(),
            ),
        });
    }
    let web = match &args.web_config {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::none(),
    };
    // Backup ages come from the repository `ceso backup` writes to, if there is one.
    let repo = crate::ops::backup::repo::location(args.repo.as_deref(), &ctx.app.fleet.config).ok();
    ctx.app.block_on(serve(
        &ctx.app.fleet,
        addr,
        every,
        Arc::new(web),
        Exporter::new(repo),
    ))
}

async fn serve(
    fleet: &Fleet,
    addr: SocketAddr,
    every: Duration,
    web: Arc<WebConfig>,
    mut exporter: Exporter,
) -> OpResult<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| OpError::Io(format!("--listen {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| OpError::Io(format!("--listen {addr}: {e}")))?;
    eprintln!(
        "ceso exporter: serving {}://{local}/metrics{}, collecting every {}s",
        if web.tls.is_some() { "https" } else { "http" },
        if web.needs_auth() {
            " (basic auth)"
        } else {
            ""
        },
        every.as_secs()
    );
    let tls = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let (tx, rx) = watch::channel::<Shared>(None);
    let collect = async {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let families = exporter.round(fleet).await;
            // Rendering is CPU work: off the threads that answer scrapes.
            if let Ok(page) = tokio::task::spawn_blocking(move || Page::new(&families)).await {
                let _ = tx.send(Some(Arc::new(page)));
            }
        }
    };
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let rx = rx.clone();
            let web = web.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => connection(stream, rx, web).await,
                    Some(tls) => {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
                        {
                            connection(stream, rx, web).await;
                        }
                    }
                }
            });
        }
    };
    tokio::select! {
        () = collect => {}
        () = accept => {}
        () = shutdown() => eprintln!("ceso exporter: stopping"),
    }
    fleet.close().await;
    Ok(())
}

/// One HTTP/1.1 connection, plain or TLS.
async fn connection<S>(stream: S, rx: watch::Receiver<Shared>, web: Arc<WebConfig>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| respond(req, rx.clone(), web.clone()));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// SIGTERM (a service manager) or Ctrl-C.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn respond(
    req: Request<Incoming>,
    mut rx: watch::Receiver<Shared>,
    web: Arc<WebConfig>,
) -> Result<Response<Chunks>, Infallible> {
    let reply = |status: StatusCode, kind: &'static str, body: Chunks| {
        let mut r = Response::new(body);
        *r.status_mut() = status;
        if let Ok(v) = kind.parse() {
            r.headers_mut().insert(CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if web.needs_auth() {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        // bcrypt is slow on purpose: off the threads that serve other connections.
        let allowed = tokio::task::spawn_blocking(move || web.allows(header.as_deref()))
            .await
            .unwrap_or(false);
        if !allowed {
            let mut r = reply(
                StatusCode::UNAUTHORIZED,
                "text/plain; charset=utf-8",
                Chunks::one(Bytes::from_static(
                    b"ceso exporter: a user and password are needed\n",
                )),
            )?;
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Basic realm=\"ceso exporter\""),
            );
            return Ok(r);
        }
    }
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Chunks::one(Bytes::from_static(
                b"ceso exporter: the metrics are at /metrics\n",
            )),
        );
    }
    let format = Format::from_accept(
        req.headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    // The first scrape waits for the first collection rather than showing an empty page.
    // `wait_for` returns only once there is a page, or when the collector has gone.
    match rx
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|p| p.clone())
    {
        Some(page) => reply(
            StatusCode::OK,
            format.content_type(),
            Chunks(page.chunks(format).into()),
        ),
        None => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            Chunks::one(Bytes::from_static(b"ceso exporter: shutting down\n")),
        ),
    }
}
