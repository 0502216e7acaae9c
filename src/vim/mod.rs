//! The vSphere SOAP client. Knows nothing of the CLI or scripts.

pub mod client;
pub mod datastore_files;
pub mod debug;
pub mod decode;
pub mod envelope;
pub mod error;
pub mod moref;
pub mod nfc_lease;
pub mod property_collector;
pub mod secret;
pub mod service_content;
pub mod session_cache;
pub mod task;
pub mod tls;
pub mod xml;

pub use client::{AskPassword, Client, ConnectOptions};
pub use datastore_files::DatastorePath;
pub use envelope::Request;
pub use error::Error;
pub use moref::MoRef;
pub use property_collector::{NamesVia, ObjectContent, PropertySpec};
pub use secret::Secret;
pub use session_cache::SessionCache;
pub use task::{ProgressFn, TaskProgress, no_progress};
pub use tls::TlsMode;
pub use xml::Node;
