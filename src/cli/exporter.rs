//! `ceso exporter`: serves `/metrics` for Prometheus over HTTP (hyper), from one shared
//! collection per interval (ops::exporter). Loopback only unless `--allow-remote`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::exposition::{Family, Format, render};
use crate::ops::exporter::Exporter;
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
}

type Page = Option<Arc<Vec<Family>>>;

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
    ctx.app.block_on(serve(&ctx.app.fleet, addr, every))
}

async fn serve(fleet: &Fleet, addr: SocketAddr, every: Duration) -> OpResult<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| OpError::Io(format!("--listen {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| OpError::Io(format!("--listen {addr}: {e}")))?;
    eprintln!(
        "ceso exporter: serving http://{local}/metrics, collecting every {}s",
        every.as_secs()
    );
    let (tx, rx) = watch::channel::<Page>(None);
    let mut exporter = Exporter::default();
    let collect = async {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let families = exporter.round(fleet).await;
            let _ = tx.send(Some(Arc::new(families)));
        }
    };
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let rx = rx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| respond(req, rx.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
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
    mut rx: watch::Receiver<Page>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, kind: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = kind.parse() {
            r.headers_mut().insert(CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "ceso exporter: the metrics are at /metrics\n".into(),
        );
    }
    let format = Format::from_accept(
        req.headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    // The first scrape waits for the first collection rather than showing an empty page.
    let families = match rx.wait_for(Option::is_some).await {
        Ok(page) => page.clone().unwrap_or_default(),
        Err(_) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "ceso exporter: shutting down\n".into(),
            );
        }
    };
    reply(
        StatusCode::OK,
        format.content_type(),
        render(&families, format),
    )
}
