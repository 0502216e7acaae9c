//! The interactive shell.

use crate::app::App;
use crate::script::{Limits, Policy};

pub fn run(_app: &App, _limits: Limits, _policy: Policy) -> u8 {
    eprintln!("the interactive shell is not built yet; use `ceso run FILE` or `ceso -c EXPR`");
    2
}
