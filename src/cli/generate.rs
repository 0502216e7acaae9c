//! `ceso completions SHELL` and `ceso man`: generated from the clap definitions, so they
//! never drift from the commands.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::ops::{OpError, OpResult};

use super::args::Cli;

pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "ceso", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// ceso.1 to stdout, or ceso.1 and one page per subcommand (ceso-vm-list.1…) into DIR.
pub fn man(dir: Option<&Path>) -> OpResult<()> {
    let cmd = Cli::command();
    let io = |what: &str, e: std::io::Error| OpError::Io(format!("{what}: {e}"));
    match dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| io("cannot write the man page", e)),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| io(&format!("cannot create {}", dir.display()), e))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| io(&format!("cannot write into {}", dir.display()), e))?;
            eprintln!("man pages written to {}", dir.display());
            Ok(())
        }
    }
}
