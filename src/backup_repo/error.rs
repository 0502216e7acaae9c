//! Error type of the backup repository engine.

use std::io;
use std::path::PathBuf;

use super::chunker::ChunkHash;

/// Result alias used throughout the repository engine.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// Everything that can go wrong in the repository engine.
///
/// Messages name the file involved and what is wrong with it, so they can be
/// shown to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// An I/O operation on a repository file failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The directory is not a ceso backup repository.
    #[error("{} is not a ceso backup repository: {reason}", path.display())]
    NotARepository { path: PathBuf, reason: String },

    /// The repository (or one of its files) uses a format this build cannot read.
    #[error(
        "{} has format version {found}, this version of ceso supports up to {supported}",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The repository uses an older format this build no longer reads.
    #[error(
        "{} has repository format version {found}; this version of ceso only reads version {supported} \
         (chunks in pack files). Back up into a new repository, or use the ceso release that \
         created this one to restore from it",
        path.display()
    )]
    OutdatedRepository {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// Another process holds the repository lock.
    #[error(
        "repository is locked by another operation ({}); {what} needs {mode} access, try again when it is finished",
        path.display()
    )]
    Locked {
        path: PathBuf,
        what: &'static str,
        mode: &'static str,
    },

    /// A stored chunk does not decode, or its content does not match its id.
    #[error("chunk {hash} is corrupt ({}): {reason}", path.display())]
    CorruptChunk {
        hash: ChunkHash,
        path: PathBuf,
        reason: String,
    },

    /// A chunk referenced by a manifest is in no (readable) pack.
    #[error("chunk {hash} is missing (in no readable pack under {})", path.display())]
    MissingChunk { hash: ChunkHash, path: PathBuf },

    /// A manifest or the repository marker cannot be parsed or is inconsistent.
    #[error("invalid {}: {reason}", path.display())]
    InvalidFile { path: PathBuf, reason: String },

    /// No backup has this id (or id prefix).
    #[error("no backup matches {id:?}")]
    BackupNotFound { id: String },

    /// An id prefix matches more than one backup.
    #[error("backup id prefix {prefix:?} is ambiguous, it matches: {}", candidates.join(", "))]
    AmbiguousId {
        prefix: String,
        candidates: Vec<String>,
    },

    /// A backup has no disk with this device key.
    #[error("backup {id} has no disk with device key {key}")]
    DiskNotFound { id: String, key: i32 },

    /// A backup has no stored file with this name.
    #[error("backup {id} has no stored file named {name:?}")]
    FileNotFound { id: String, name: String },

    /// The backup writer was used incorrectly (overlapping ranges, data past the
    /// announced length, ranges that do not line up with the parent's chunks…).
    #[error("invalid backup write: {0}")]
    InvalidWrite(String),

    /// A retention policy that would keep nothing.
    #[error(
        "retention policy keeps nothing: give at least one of keep-last, keep-daily, keep-weekly, keep-monthly"
    )]
    EmptyPolicy,

    /// Garbage collection refuses to run while some manifest cannot be read,
    /// because it cannot know which chunks that manifest needs.
    #[error(
        "refusing to remove chunks: {} manifest(s) cannot be read ({}); fix or delete them first",
        broken.len(), broken.join("; ")
    )]
    UnreadableManifests { broken: Vec<String> },
}

impl RepoError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        RepoError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        RepoError::InvalidFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
