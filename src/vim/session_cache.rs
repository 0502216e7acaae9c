//! Sessions kept between commands, as govc keeps them: one file per SDK URL and user
//! under `$XDG_CACHE_HOME/ceso/sessions` (`~/.cache/ceso/sessions`), mode 0600 in a
//! 0700 directory. A file holds the session cookie and what it is for, never the
//! password. A command reuses the cookie until the server answers NotAuthenticated
//! (expired, terminated, server restarted); then it logs in again and stores the new one.
//! The file also keeps the server's ServiceContent of that login, so that a command on a
//! cached session starts with its real call (one round trip fewer); a new login
//! (which an upgraded or restarted server forces) reads it afresh. It also keeps the
//! ContainerViews made in that session for inventory reads (a view lives as long as its
//! session), so that a listing on a cached session is one call.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::secret::Secret;
use super::xml::Node;

/// The cache directory (one per user); operations on it never fail a command: a cache
/// that cannot be read or written only costs a login.
#[derive(Debug, Clone)]
pub struct SessionCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    url: String,
    user: String,
    cookie: String,
    /// The ServiceContent the server gave at that login (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<Node>,
    /// ContainerViews of this session, by what they hold (see `Client::session_view`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    views: BTreeMap<String, String>,
}

/// A session kept by an earlier command.
pub struct Cached {
    pub cookie: Secret,
    /// The server's ServiceContent when the session was made, if it was kept.
    pub content: Option<Node>,
    /// The session's ContainerViews (their managed object ids) by what they hold.
    pub views: BTreeMap<String, String>,
}

/// What is kept of one session.
pub struct Keep<'a> {
    pub cookie: &'a str,
    pub content: Option<&'a Node>,
    pub views: &'a BTreeMap<String, String>,
}

impl SessionCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$XDG_CACHE_HOME/ceso/sessions`, or `~/.cache/ceso/sessions`.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("ceso").join("sessions"))
    }

    /// The file for one URL and user: a hash, so names are safe and say nothing.
    pub fn file(&self, url: &str, user: &str) -> PathBuf {
        let digest = Sha256::digest(format!("{user}\n{url}").as_bytes());
        self.dir.join(hex::encode(digest))
    }

    /// The cached session, if one was stored for exactly this URL and user.
    pub fn load(&self, url: &str, user: &str) -> Option<Cached> {
        let text = std::fs::read_to_string(self.file(url, user)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        (entry.url == url && entry.user == user && !entry.cookie.is_empty()).then(|| Cached {
            cookie: Secret::new(entry.cookie),
            content: entry.content,
            views: entry.views,
        })
    }

    /// Store a cookie (best effort): written to a private temp file, then renamed, so
    /// a concurrent reader sees the old or the new cookie, never half of one. False when
    /// it could not be written.
    pub fn store(&self, url: &str, user: &str, keep: Keep<'_>) -> bool {
        let entry = Entry {
            url: url.to_string(),
            user: user.to_string(),
            cookie: keep.cookie.to_string(),
            content: keep.content.cloned(),
            views: keep.views.clone(),
        };
        let Ok(text) = serde_json::to_string(&entry) else {
            return false;
        };
        let path = self.file(url, user);
        match write_private(&self.dir, &path, text.as_bytes()) {
            Ok(()) => true,
            Err(e) => {
                super::debug::note(&format!(
                    "cannot cache the session in {}: {e}",
                    path.display()
                ));
                false
            }
        }
    }

    /// Drop the cached cookie (the server refused it, or it was logged out).
    pub fn forget(&self, url: &str, user: &str) {
        let _ = std::fs::remove_file(self.file(url, user));
    }
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // A directory made by someone else stays theirs; ours is kept private.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("session"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stores_per_url_and_user_privately() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SessionCache::new(dir.path().join("sessions"));
        let content = Node {
            name: "returnval".into(),
            children: vec![Node {
                name: "rootFolder".into(),
                type_attr: Some("Folder".into()),
                text: "ha-folder-root".into(),
                ..Node::default()
            }],
            ..Node::default()
        };
        let views = BTreeMap::from([("VirtualMachine".to_string(), "session[1]2".to_string())]);
        cache.store(
            "https://a/sdk",
            "root",
            Keep {
                cookie: "cookie-1",
                content: Some(&content),
                views: &views,
            },
        );
        let cached = cache.load("https://a/sdk", "root").unwrap();
        assert_eq!(cached.cookie.expose(), "cookie-1");
        assert_eq!(cached.content, Some(content));
        assert_eq!(cached.views, views);
        assert!(cache.load("https://a/sdk", "admin").is_none());
        assert!(cache.load("https://b/sdk", "root").is_none());
        let file = cache.file("https://a/sdk", "root");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(dir.path().join("sessions"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        cache.forget("https://a/sdk", "root");
        assert!(cache.load("https://a/sdk", "root").is_none());
    }

    #[test]
    fn a_file_without_content_is_still_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SessionCache::new(dir.path());
        std::fs::write(
            cache.file("u", "x"),
            r#"{"url":"u","user":"x","cookie":"c"}"#,
        )
        .unwrap();
        let cached = cache.load("u", "x").unwrap();
        assert_eq!(cached.cookie.expose(), "c");
        assert!(cached.content.is_none());
    }

    #[test]
    fn a_damaged_file_is_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SessionCache::new(dir.path());
        std::fs::write(cache.file("u", "x"), "{not json").unwrap();
        assert!(cache.load("u", "x").is_none());
    }
}
