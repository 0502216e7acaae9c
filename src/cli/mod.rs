//! The command-line surface: parse, call ops, render. No behaviour of its own.

pub mod args;
pub mod confirm;
pub mod host;
pub mod pci;
pub mod progress;
pub mod render;
pub mod report;
pub mod vm;

use std::process::ExitCode;

use clap::Parser;

use crate::app::{App, AppOptions};
use crate::ops::{OpError, Scope};

use args::{Cli, Command, ScopeArgs};
use render::Output;

/// Context handed to every command handler.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub out: Output,
    pub yes: bool,
    /// `--host`/`--all-hosts` given before the subcommand.
    pub scope: Scope,
}

impl Ctx<'_> {
    /// The subcommand's own `--host`/`--all-hosts` win over the global ones.
    pub fn scope(&self, local: &ScopeArgs) -> Scope {
        match scope_of(local) {
            Scope::Default => self.scope.clone(),
            other => other,
        }
    }
}

fn scope_of(args: &ScopeArgs) -> Scope {
    if args.all_hosts {
        Scope::All
    } else if let Some(name) = &args.host {
        Scope::Named(name.clone())
    } else {
        Scope::Default
    }
}

pub fn main() -> ExitCode {
    install_error_style();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                report::exit::USAGE
            } else {
                0
            });
        }
    };
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    let scope = scope_of(&cli.scope);
    let app = match App::new(AppOptions {
        config: cli.config.clone(),
        scope: scope.clone(),
    }) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(report::exit::USAGE);
        }
    };
    let ctx = Ctx {
        app: &app,
        out: Output::new(cli.json),
        yes: cli.yes,
        scope,
    };
    let result = match command {
        Command::Host(cmd) => host::run(&ctx, cmd),
        Command::Vm(cmd) => vm::run(&ctx, cmd),
        Command::Pci(cmd) => pci::run(&ctx, cmd),
        Command::Gpu(cmd) => pci::run_gpu(&ctx, cmd),
    };
    app.close();
    finish(result)
}

pub fn finish(result: Result<(), OpError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = report::exit_code(&e);
            eprintln!("{:?}", report::report(e));
            ExitCode::from(code)
        }
    }
}

/// On a terminal, miette wraps to its width; elsewhere (logs, pipes, CI) one error stays
/// on one line so it can be grepped.
fn install_error_style() {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        let mut opts = miette::MietteHandlerOpts::new();
        if !terminal {
            opts = opts.wrap_lines(false).color(false).unicode(false);
        }
        Box::new(opts.build())
    }));
}
