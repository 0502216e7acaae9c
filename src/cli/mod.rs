//! The command-line surface: parse, call ops, render. No behaviour of its own.

pub mod args;
pub mod backup;
pub mod capacity;
mod capacity_page;
pub mod charts;
pub mod cluster;
pub mod confirm;
pub mod datastore;
pub mod datastore_files;
pub mod drs;
pub mod dvs;
pub mod evacuate;
pub mod exporter;
pub mod generate;
pub mod host;
pub mod migrate;
pub mod monitor;
pub mod network;
pub mod network_args;
pub mod nic;
pub mod numbers;
pub mod pci;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod render;
pub mod report;
pub mod rp;
pub mod script;
pub mod snapshot;
pub mod sriov;
pub mod stats;
pub mod tasks;
pub mod version;
pub mod vm;
pub mod vm_clone;
pub mod vm_ovf;
pub mod vm_update;
pub mod vswitch;

use std::process::ExitCode;

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
    /// `-k`/`--insecure` (also what `host add` records).
    pub insecure: bool,
}

impl Ctx<'_> {
    /// Whether output covers several endpoints (and so must name the endpoint in each
    /// result): `--all-hosts` with more than one configured.
    pub fn many_endpoints(&self, scope: &Scope) -> bool {
        *scope == Scope::All && self.app.fleet.endpoints().len() > 1
    }

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
    let parsed = numbers::negative_values(<Cli as clap::CommandFactory>::command())
        .try_get_matches()
        .and_then(|mut m| <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut m));
    let mut cli = match parsed {
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
    if cli.script.dry_run
        && let Some(flag) = cli.command.as_mut().and_then(Command::dry_run_flag)
    {
        *flag = true;
    }
    let scope = match &cli.command {
        Some(Command::Run(run)) if scope_of(&run.scope) != Scope::Default => scope_of(&run.scope),
        _ => scope_of(&cli.scope),
    };
    // Commands that need neither a config nor a connection.
    match &cli.command {
        Some(Command::Completions { shell }) => return generate::completions(*shell),
        Some(Command::Man { dir }) => return finish(generate::man(dir.as_deref())),
        _ => {}
    }
    if let Err(e) = install_debug(&cli) {
        eprintln!("{:?}", report::report(e));
        return ExitCode::from(report::exit::USAGE);
    }
    let app = match App::new(AppOptions {
        config: cli.config.clone(),
        scope: scope.clone(),
        no_session_cache: cli.no_session_cache,
        insecure: cli.insecure,
        datacenter: cli.datacenter.clone(),
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
        insecure: cli.insecure,
    };
    let done = match (cli.command, cli.eval) {
        (None, Some(text)) => Done::Script(script::eval(&app, text, &cli.script, cli.json)),
        (None, None) => Done::Script(script::shell_or_stdin(&app, &cli.script, cli.json)),
        (Some(Command::Run(args)), _) => {
            Done::Script(script::run_file(&app, args, &cli.script, cli.json))
        }
        (Some(Command::Defs { dir }), _) => Done::Script(script::defs(&app, &dir)),
        (Some(Command::Version), _) => Done::Command(version::run(&ctx)),
        // Answered before the config was read.
        (Some(Command::Completions { .. } | Command::Man { .. }), _) => Done::Command(Ok(())),
        (Some(Command::Host(cmd)), _) => Done::Command(host::run(&ctx, cmd)),
        (Some(Command::Vm(cmd)), _) => Done::Command(vm::run(&ctx, cmd)),
        (Some(Command::Snapshot(cmd)), _) => Done::Command(snapshot::run(&ctx, cmd)),
        (Some(Command::Backup(cmd)), _) => Done::Command(backup::run(&ctx, cmd)),
        (Some(Command::Pci(cmd)), _) => Done::Command(pci::run(&ctx, cmd)),
        (Some(Command::Gpu(cmd)), _) => Done::Command(pci::run_gpu(&ctx, cmd)),
        (Some(Command::Datastore(cmd)), _) => Done::Command(datastore::run(&ctx, cmd)),
        (Some(Command::Task(cmd)), _) => Done::Command(tasks::run(&ctx, cmd)),
        (Some(Command::Events(args)), _) => Done::Command(tasks::events(&ctx, args)),
        (Some(Command::Rp(cmd)), _) => Done::Command(rp::run(&ctx, cmd)),
        (Some(Command::Cluster(cmd)), _) => Done::Command(cluster::run(&ctx, cmd)),
        (Some(Command::Drs(cmd)), _) => Done::Command(drs::run(&ctx, cmd)),
        (Some(Command::Network(cmd)), _) => Done::Script(network::run(&ctx, cmd)),
        (Some(Command::Vswitch(cmd)), _) => Done::Command(vswitch::run(&ctx, cmd)),
        (Some(Command::Dvs(cmd)), _) => Done::Command(dvs::run(&ctx, cmd)),
        (Some(Command::Stats(args)), _) => Done::Command(stats::run(&ctx, args)),
        (Some(Command::Capacity(cmd)), _) => Done::Command(capacity::run(&ctx, cmd)),
        (Some(Command::Monitor(args)), _) => Done::Command(monitor::run(&ctx, args)),
        (Some(Command::Exporter(args)), _) => Done::Command(exporter::run(&ctx, args)),
        (Some(Command::Place(args)), _) => Done::Command(placement::place(&ctx, args)),
        (Some(Command::Optimize(cmd)), _) => Done::Command(placement::optimize(&ctx, cmd)),
        (Some(Command::Inventory(cmd)), _) => Done::Command(placement::dump(&ctx, cmd)),
    };
    app.close();
    match done {
        Done::Command(result) => finish(result),
        Done::Script(code) => ExitCode::from(code),
    }
}

/// `--debug`, `--debug-file`, `CESO_DEBUG`, and the older `CESO_TRACE` (one line per
/// call) configure the wire log in src/vim before any connection is made.
fn install_debug(cli: &Cli) -> Result<(), OpError> {
    use crate::vim::debug::{self, DebugOptions, Level};
    let level = if cli.debug || cli.debug_file.is_some() {
        Level::Bodies
    } else if std::env::var_os("CESO_TRACE").is_some() {
        Level::Calls
    } else {
        Level::Off
    };
    debug::install(DebugOptions {
        level,
        file: cli.debug_file.clone(),
        max_body: cli.debug_max_body,
    })
    .map_err(|e| {
        OpError::invalid(format!(
            "cannot write the debug log to {}: {e}",
            cli.debug_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))
    })
}

/// How a command ended: commands return errors for us to report; scripts report their
/// own and choose their exit code.
enum Done {
    Command(Result<(), OpError>),
    Script(u8),
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

/// Resolves on Ctrl-C or SIGTERM. Commands that hold something to undo (a backup's
/// snapshot, a half-restored VM) race their work against it and clean up first.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                result = tokio::signal::ctrl_c() => {
                    if result.is_err() {
                        term.recv().await;
                    }
                }
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No way to be told: never resolve (an error here must not read as Ctrl-C).
        std::future::pending::<()>().await;
    }
}
