//! Datastore path syntax: `[datastore1] dir/file` (vSphere's) and `datastore1:dir/file`
//! (govc's). A pure parser.

use crate::ops::error::{OpError, OpResult};
use crate::vim::DatastorePath;

pub fn parse_path(text: &str) -> OpResult<DatastorePath> {
    let text = text.trim();
    let parsed = if text.starts_with('[') {
        DatastorePath::parse(text)
    } else {
        text.split_once(':').map(|(ds, path)| DatastorePath {
            datastore: ds.trim().to_string(),
            path: path.trim().to_string(),
        })
    };
    match parsed {
        Some(mut p) if !p.datastore.is_empty() => {
            p.path = normalize(&p.path);
            if p.path.split('/').any(|part| part == "..") {
                return Err(OpError::Invalid {
                    message: format!("'{text}': '..' is not allowed in a datastore path"),
                    hint: Some("name the folder from the datastore's root".into()),
                });
            }
            Ok(p)
        }
        _ => Err(OpError::Invalid {
            message: format!("'{text}' is not a datastore path"),
            hint: Some("write [datastore1] dir/file or datastore1:dir/file".into()),
        }),
    }
}

/// No leading, trailing or doubled slashes.
fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// (folder, last component) of a normalized path; the root is ("", "").
pub fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Whether a path component is a glob pattern.
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_syntaxes_parse_to_the_same_path() {
        let a = parse_path("[LocalDS_0] dir//sub/file.iso").unwrap();
        let b = parse_path("LocalDS_0:/dir/sub/file.iso").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.path, "dir/sub/file.iso");
        assert_eq!(parse_path("LocalDS_0:").unwrap().path, "");
        assert!(parse_path("file.iso").is_err());
        assert!(parse_path(":x").is_err());
        assert!(parse_path("ds:a/../b").is_err());
        assert_eq!(split("a/b/c"), ("a/b", "c"));
        assert_eq!(split("c"), ("", "c"));
        assert!(is_glob("*.iso") && !is_glob("a.iso"));
    }
}
