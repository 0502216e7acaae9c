//! HttpNfcLease: what ImportVApp (OVF import) and ExportVm (export) hand out. The lease
//! becomes `ready` with one URL per disk, must hear HttpNfcLeaseProgress now and then or
//! the server times it out, and ends with HttpNfcLeaseComplete (kept) or
//! HttpNfcLeaseAbort (an import's VM is removed). Disk bytes travel over plain HTTP(S)
//! on the lease's URLs, authenticated by the session cookie.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::client::Client;
use super::envelope::Request;
use super::error::Error;
use super::moref::MoRef;
use super::xml::Node;

/// One `HttpNfcLeaseDeviceUrl`.
#[derive(Debug, Clone, Default)]
pub struct DeviceUrl {
    /// Export: the device (`/vm-42/VirtualLsiLogicController0:0`).
    pub key: String,
    /// Import: the `deviceId` of CreateImportSpec's file item it takes.
    pub import_key: String,
    /// With `*` for the host the client connected to.
    pub url: String,
    pub target_id: String,
    pub disk: bool,
    pub file_size: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct LeaseInfo {
    /// The VM imported or exported.
    pub entity: Option<MoRef>,
    pub devices: Vec<DeviceUrl>,
    pub total_disk_kb: i64,
}

impl LeaseInfo {
    fn decode(info: &Node) -> Self {
        LeaseInfo {
            entity: info.moref_at("entity"),
            devices: info
                .children_named("deviceUrl")
                .map(|d| DeviceUrl {
                    key: d.text_of("key").unwrap_or_default().to_string(),
                    import_key: d.text_of("importKey").unwrap_or_default().to_string(),
                    url: d.text_of("url").unwrap_or_default().to_string(),
                    target_id: d.text_of("targetId").unwrap_or_default().to_string(),
                    disk: d.bool_at("disk").unwrap_or(false),
                    file_size: d.i64_at("fileSize"),
                })
                .collect(),
            total_disk_kb: info.i64_at("totalDiskCapacityInKB").unwrap_or(0),
        }
    }
}

impl Client {
    /// Wait until the lease is `ready` (its URLs known), or its error.
    pub async fn lease_ready(&self, lease: &MoRef, timeout: Duration) -> Result<LeaseInfo, Error> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(25);
        loop {
            let props = self.properties(lease, &["state", "info", "error"]).await?;
            match props.str("state").unwrap_or_default() {
                "ready" => {
                    let info = props
                        .get("info")
                        .ok_or_else(|| Error::Decode(format!("lease {lease} has no info")))?;
                    return Ok(LeaseInfo::decode(info));
                }
                "error" => {
                    let message = props
                        .get("error")
                        .and_then(|e| e.str_at("localizedMessage"))
                        .unwrap_or("the lease failed")
                        .to_string();
                    return Err(match props.get("error").and_then(|e| e.path("fault")) {
                        Some(fault) => Error::from_fault_node(fault, &message),
                        None => Error::Other(message),
                    });
                }
                "done" => return Err(Error::Other(format!("lease {lease} is already done"))),
                _ => {}
            }
            if started.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!("waiting for lease {lease} to become ready"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// HttpNfcLeaseProgress: tells the server the transfer lives (and how far it is).
    pub async fn lease_progress(&self, lease: &MoRef, percent: u64) -> Result<(), Error> {
        let mut req = Request::new("HttpNfcLeaseProgress", lease);
        req.text("percent", percent.min(100));
        self.call(req).await.map(|_| ())
    }

    pub async fn lease_complete(&self, lease: &MoRef) -> Result<(), Error> {
        self.call(Request::new("HttpNfcLeaseComplete", lease))
            .await
            .map(|_| ())
    }

    /// HttpNfcLeaseAbort with the reason (a SystemError), shown in the server's task list.
    pub async fn lease_abort(&self, lease: &MoRef, reason: &str) -> Result<(), Error> {
        let mut req = Request::new("HttpNfcLeaseAbort", lease);
        req.nest("fault", None, |r| {
            r.nest("fault", Some("SystemError"), |r| {
                r.text("reason", reason);
            });
            r.text("localizedMessage", reason);
        });
        self.call(req).await.map(|_| ())
    }

    /// A lease URL with its `*` host replaced by the endpoint's host (and port).
    pub fn lease_url(&self, raw: &str) -> Result<url::Url, Error> {
        let endpoint = url::Url::parse(self.url())
            .map_err(|e| Error::Other(format!("bad endpoint URL {}: {e}", self.url())))?;
        let host = endpoint.host_str().unwrap_or("localhost");
        let text = match raw.split_once("://*") {
            Some((scheme, rest)) => {
                let port = endpoint
                    .port()
                    .filter(|_| scheme == endpoint.scheme())
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                // `*/nfc/…` or `*:443/nfc/…`: the server's port stays when it gives one.
                if rest.starts_with(':') {
                    format!("{scheme}://{host}{rest}")
                } else {
                    format!("{scheme}://{host}{port}{rest}")
                }
            }
            None => raw.to_string(),
        };
        url::Url::parse(&text).map_err(|e| Error::Other(format!("bad lease URL {raw}: {e}")))
    }

    async fn lease_request(
        &self,
        method: reqwest::Method,
        url: &url::Url,
        body: Option<(u64, reqwest::Body)>,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self.http().request(method.clone(), url.clone());
        if let Some(cookie) = self.cookie_header().await {
            request = request.header("Cookie", cookie);
        }
        if let Some((length, body)) = body {
            request = request
                .header("Content-Type", "application/x-vnd.vmware-streamVmdk")
                .header(reqwest::header::CONTENT_LENGTH, length)
                .body(body);
        }
        let response = request.send().await.map_err(|e| Error::Dropped {
            url: url.to_string(),
            method: format!("{method} {}", url.path()),
            cause: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::Http {
                url: url.to_string(),
                status,
                body: body.chars().take(300).collect(),
            });
        }
        Ok(response)
    }

    /// Stream one of an export lease's files.
    pub async fn lease_download(
        &self,
        url: &url::Url,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + use<>, Error> {
        let response = self.lease_request(reqwest::Method::GET, url, None).await?;
        let what = url.to_string();
        Ok(response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| Error::Dropped {
                url: what.clone(),
                method: "GET".into(),
                cause: e.to_string(),
            })
        }))
    }

    /// Send one file of an import: POST for a disk (the server converts it), PUT for
    /// another file (an ISO image), as the lease protocol has it.
    pub async fn lease_upload<S>(
        &self,
        url: &url::Url,
        disk: bool,
        length: u64,
        body: S,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    {
        let method = if disk {
            reqwest::Method::POST
        } else {
            reqwest::Method::PUT
        };
        self.lease_request(
            method,
            url,
            Some((length, reqwest::Body::wrap_stream(body))),
        )
        .await
        .map(|_| ())
    }
}
