//! Datastore file transfer over the `/folder` HTTP interface: streaming downloads with
//! Range (for changed extents) and streaming uploads, authenticated by the session cookie.

use bytes::Bytes;
use futures::Stream;

use super::client::Client;
use super::error::Error;

/// `[datastore] folder/file.vmdk`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatastorePath {
    pub datastore: String,
    pub path: String,
}

impl DatastorePath {
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix('[')?;
        let (ds, path) = rest.split_once(']')?;
        Some(Self {
            datastore: ds.to_string(),
            path: path.trim().to_string(),
        })
    }

    /// The same folder, another file name.
    pub fn sibling(&self, file: &str) -> Self {
        let dir = self.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let path = if dir.is_empty() {
            file.to_string()
        } else {
            format!("{dir}/{file}")
        };
        Self {
            datastore: self.datastore.clone(),
            path,
        }
    }
}

impl std::fmt::Display for DatastorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.datastore, self.path)
    }
}

impl Client {
    pub fn folder_url(&self, datacenter: &str, file: &DatastorePath) -> Result<url::Url, Error> {
        let mut url = url::Url::parse(self.url())
            .map_err(|e| Error::Other(format!("bad endpoint URL {}: {e}", self.url())))?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| Error::Other(format!("bad endpoint URL {}", self.url())))?;
            segments.clear().push("folder");
            for part in file.path.split('/').filter(|p| !p.is_empty()) {
                segments.push(part);
            }
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("dcPath", datacenter)
            .append_pair("dsName", &file.datastore);
        Ok(url)
    }

    async fn folder_request(
        &self,
        method: reqwest::Method,
        datacenter: &str,
        file: &DatastorePath,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, Error> {
        let url = self.folder_url(datacenter, file)?;
        // Two attempts: the second after a re-login when the session expired mid-transfer.
        for attempt in 0..2 {
            let seen = self.cookie_header().await;
            let mut request = self.http().request(method.clone(), url.clone());
            if let Some(cookie) = &seen {
                request = request.header("Cookie", cookie);
            }
            // The wire log shows the exchange (file contents are not SOAP: not logged).
            let what = format!("{method} {file}");
            if super::debug::bodies() {
                let headers: Vec<(&str, String)> =
                    seen.iter().map(|c| ("Cookie", c.clone())).collect();
                super::debug::request(url.as_str(), &what, &headers, "");
            }
            let started = std::time::Instant::now();
            let sent = build(request).send().await;
            super::debug::answer(
                url.as_str(),
                &what,
                sent.as_ref().ok().map(|r| r.status().as_u16()),
                started.elapsed(),
                &[],
                0,
            );
            let response = sent.map_err(|e| Error::Dropped {
                url: url.to_string(),
                method: what,
                cause: e.to_string(),
            })?;
            let status = response.status().as_u16();
            if status == 401 && attempt == 0 {
                let cookie = seen.and_then(|c| c.split_once('=').map(|(_, v)| v.to_string()));
                self.relogin(cookie).await?;
                continue;
            }
            if status == 404 {
                return Err(Error::Fault {
                    name: "FileNotFound".into(),
                    message: format!("{file} does not exist"),
                    object: None,
                    detail: Box::default(),
                });
            }
            if !(200..300).contains(&status) {
                return Err(Error::Http {
                    url: url.to_string(),
                    status,
                    body: String::new(),
                });
            }
            return Ok(response);
        }
        Err(Error::Other(format!(
            "{method} {file}: session could not be renewed"
        )))
    }

    /// Size of a datastore file, or None when it does not exist.
    pub async fn file_size(
        &self,
        datacenter: &str,
        file: &DatastorePath,
    ) -> Result<Option<u64>, Error> {
        match self
            .folder_request(reqwest::Method::HEAD, datacenter, file, &|r| r)
            .await
        {
            Ok(response) => Ok(response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            Err(e) if e.is_fault("FileNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stream a file, or the byte range `[start, end)` of it.
    pub async fn download(
        &self,
        datacenter: &str,
        file: &DatastorePath,
        range: Option<(u64, u64)>,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + use<>, Error> {
        let response = self
            .folder_request(
                reqwest::Method::GET,
                datacenter,
                file,
                &move |r| match range {
                    Some((start, end)) if end > start => {
                        r.header("Range", format!("bytes={start}-{}", end - 1))
                    }
                    _ => r,
                },
            )
            .await?;
        // A server that ignores Range answers 200 with the whole file: reading that as the
        // range would store the wrong bytes at the wrong offsets.
        if let Some((start, end)) = range.filter(|(s, e)| e > s) {
            let partial = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
            let whole = start == 0 && response.content_length() == Some(end);
            if !partial && !whole {
                return Err(Error::Other(format!(
                    "{file}: the server ignored the byte range {start}-{end} (HTTP {})",
                    response.status().as_u16()
                )));
            }
        }
        let url = self.url().to_string();
        let what = file.to_string();
        use futures::StreamExt;
        Ok(response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| Error::Dropped {
                url: url.clone(),
                method: format!("download of {what}"),
                cause: e.to_string(),
            })
        }))
    }

    /// Upload a file from a byte stream (created or replaced).
    pub async fn upload<S>(
        &self,
        datacenter: &str,
        file: &DatastorePath,
        length: u64,
        body: S,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    {
        // A stream body can only be sent once: the upload is not retried after a re-login,
        // so renew the session first when it is about to be needed.
        let body = std::sync::Mutex::new(Some(reqwest::Body::wrap_stream(body)));
        self.folder_request(reqwest::Method::PUT, datacenter, file, &move |r| {
            let body = body.lock().ok().and_then(|mut b| b.take());
            let r = r
                .header("Content-Type", "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, length);
            match body {
                Some(body) => r.body(body),
                None => r,
            }
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_paths_parse_and_print() {
        let p = DatastorePath::parse("[LocalDS_0] vm1/vm1.vmdk").unwrap();
        assert_eq!(p.datastore, "LocalDS_0");
        assert_eq!(p.path, "vm1/vm1.vmdk");
        assert_eq!(
            p.sibling("vm1-flat.vmdk").to_string(),
            "[LocalDS_0] vm1/vm1-flat.vmdk"
        );
        assert!(DatastorePath::parse("vm1.vmdk").is_none());
    }
}
