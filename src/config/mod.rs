//! Configuration: the YAML file, the environment, and the endpoints they name.

pub mod edit;
pub mod error;
pub mod load;
pub mod redact;
pub mod schema;

pub use error::ConfigError;
pub use load::{EndpointSpec, LoadedConfig, PasswordSource};
pub use schema::Config;
