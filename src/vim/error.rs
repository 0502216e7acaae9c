//! Errors of the SOAP client. Faults keep their vSphere name so callers can match on
//! `DuplicateName`, `InvalidPowerState`, … the same way whether they came back from a
//! method call or from a task.

use super::moref::MoRef;
use super::xml::Node;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A vSphere fault, from a method call or a failed task.
    #[error("{}", fault_line(.name, .message))]
    Fault {
        name: String,
        message: String,
        object: Option<MoRef>,
        detail: Box<Node>,
    },
    #[error("cannot connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("TLS certificate of {url} is not trusted: {cause}")]
    Tls {
        url: String,
        cause: String,
        /// The server's SHA-256 thumbprint, so the user can pin it.
        thumbprint: Option<String>,
    },
    #[error("connection to {url} dropped during {method}: {cause}")]
    Dropped {
        url: String,
        method: String,
        cause: String,
    },
    /// The server redirected in a loop, too often, or to another origin (`cause` says
    /// which, with the URLs).
    #[error("{cause}")]
    Redirect { url: String, cause: String },
    #[error("{what} timed out after {secs}s")]
    Timeout { what: String, secs: u64 },
    #[error("HTTP {status}{} from {url}{}", reason(*.status), body_suffix(.body))]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// A login was needed (no session, or the cached one expired) and no password was
    /// given or could be asked for.
    #[error(
        "{url}: a login is needed and no password was given (the cached session is missing or expired)"
    )]
    NoPassword { url: String },
    #[error("{0}")]
    Other(String),
}

fn fault_line(name: &str, message: &str) -> String {
    if message.is_empty() {
        name.to_string()
    } else {
        format!("{name}: {message}")
    }
}

/// " Internal Server Error" for 500: the status in words.
fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl Error {
    /// The vSphere fault name, if this is a fault.
    pub fn fault_name(&self) -> Option<&str> {
        match self {
            Error::Fault { name, .. } => Some(name),
            _ => None,
        }
    }

    pub fn is_fault(&self, fault: &str) -> bool {
        self.fault_name() == Some(fault)
    }

    /// The session is gone (expired, logged out, server restarted): a re-login may help.
    pub fn is_not_authenticated(&self) -> bool {
        self.is_fault("NotAuthenticated") || matches!(self, Error::Http { status: 401, .. })
    }

    /// Build a fault from a `<fault xsi:type="X">` (task error) or a SOAP `<detail>` child.
    pub fn from_fault_node(fault: &Node, message: &str) -> Error {
        let name = fault
            .xsi_type
            .clone()
            .or_else(|| fault.name.strip_suffix("Fault").map(str::to_string))
            .unwrap_or_else(|| "SystemError".to_string());
        let message = if message.is_empty() || message.starts_with("*types.") {
            describe_fault(&name, fault)
        } else {
            message.to_string()
        };
        Error::Fault {
            object: fault.moref_at("obj").or_else(|| fault.moref_at("object")),
            name,
            message,
            detail: Box::new(fault.clone()),
        }
    }
}

/// A readable message for faults that arrive without one (vcsim often sends an empty
/// faultstring or a Go type name).
fn describe_fault(name: &str, fault: &Node) -> String {
    let field = |f: &str| fault.text_of(f).unwrap_or("?").to_string();
    match name {
        "InvalidPowerState" => format!(
            "the VM is {} (requested state: {})",
            field("existingState"),
            field("requestedState")
        ),
        "DuplicateName" => format!("the name '{}' already exists", field("name")),
        "ManagedObjectNotFound" => match fault.moref_at("obj") {
            Some(obj) => format!("{obj} no longer exists"),
            None => "the object no longer exists".into(),
        },
        "NotAuthenticated" => "the session is not authenticated".into(),
        "InvalidLogin" => "wrong user name or password".into(),
        "InvalidArgument" => format!("invalid argument {}", field("invalidProperty")),
        "InvalidState" => "the object is not in a state that allows this operation".into(),
        _ => fault
            .children
            .iter()
            .find(|c| c.name == "faultMessage")
            .and_then(|m| m.text_of("message"))
            .filter(|m| !m.trim().is_empty())
            .unwrap_or("the server gave no message for this fault")
            .to_string(),
    }
}
