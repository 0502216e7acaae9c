//! Where passwords come from: an environment variable or a command's output, read
//! when a session opens. Never stored, never shown: errors name the source only.

use crate::vim::Secret;

use super::error::{OpError, OpResult};

/// The password in the environment variable `var` (for endpoint `name`).
pub fn from_env(name: &str, var: &str) -> OpResult<Secret> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .ok_or_else(|| OpError::Invalid {
            message: format!("{name}: the password variable {var} is not set"),
            hint: Some(format!("export {var}=... before running ceso")),
        })
}

/// The password a `host add` checks the connection with: from a variable or a command,
/// or None when neither was given (the surface may then ask).
pub async fn for_new_host(
    name: &str,
    env: Option<&str>,
    command: Option<&str>,
) -> OpResult<Option<Secret>> {
    match (env, command) {
        (Some(var), _) => from_env(name, var).map(Some),
        (None, Some(command)) => from_command(name, command).await.map(Some),
        (None, None) => Ok(None),
    }
}

pub fn no_password(name: &str) -> OpError {
    OpError::Invalid {
        message: format!("{name}: no password available"),
        hint: Some(
            "set password_env or password_command for this host in the config, or CESO_PASSWORD; or run ceso on a terminal to be asked"
                .into(),
        ),
    }
}

pub async fn from_command(name: &str, command: &str) -> OpResult<Secret> {
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| OpError::invalid(format!("{name}: cannot run password_command: {e}")))?;
    if !output.status.success() {
        // The command's output is never shown: it may hold the secret.
        return Err(OpError::Invalid {
            message: format!("{name}: password_command failed ({})", output.status),
            hint: Some("run the command yourself to see why".into()),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(OpError::invalid(format!(
            "{name}: password_command printed nothing"
        )));
    }
    Ok(Secret::new(first))
}
