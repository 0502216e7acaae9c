//! The shell's script thread: it owns the engine and the session (variables, functions,
//! imports) and evaluates one entry at a time while the terminal thread edits lines.

use std::sync::mpsc::{Receiver, Sender, channel};

use rhai::Engine;

use crate::script::ScriptCtx;
use crate::script::render::{Look, render};
use crate::script::run::STACK_SIZE;
use crate::script::session::{Outcome, Session};

/// What one entry produced.
pub struct Reply {
    /// The value, rendered (empty for unit).
    pub output: String,
    /// A rendered error.
    pub error: Option<String>,
    /// `exit(n)` was called.
    pub exit: Option<u8>,
    /// Variables now in scope, with their type names (for completion).
    pub variables: Vec<(String, String)>,
}

pub struct Worker {
    requests: Sender<String>,
    replies: Receiver<Reply>,
}

impl Worker {
    pub fn start(engine: Engine, ctx: ScriptCtx) -> std::io::Result<Self> {
        let (requests, inbox) = channel::<String>();
        let (outbox, replies) = channel();
        std::thread::Builder::new()
            .name("ceso-shell".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let mut session = Session::new(engine, ctx.clone());
                crate::script::run::push_constants(
                    &mut session,
                    "<shell>",
                    &[],
                    ctx.policy().dry_run,
                );
                let mut entry = 0;
                for text in inbox {
                    entry += 1;
                    ctx.cancel().reset();
                    let name = format!("<shell:{entry}>");
                    let reply = match session.eval(&name, &text, true) {
                        Outcome::Value(value) => Reply {
                            output: render(&ctx, &value, Look::for_stdout()),
                            error: None,
                            exit: None,
                            variables: Vec::new(),
                        },
                        Outcome::Exit(code) => Reply {
                            output: String::new(),
                            error: None,
                            exit: Some(code),
                            variables: Vec::new(),
                        },
                        Outcome::Failed(failure) => Reply {
                            output: String::new(),
                            error: Some(failure.render()),
                            exit: None,
                            variables: Vec::new(),
                        },
                    };
                    let variables = session
                        .scope
                        .iter_raw()
                        .map(|(name, _, value)| {
                            (
                                name.to_string(),
                                session.engine.map_type_name(value.type_name()).to_string(),
                            )
                        })
                        .collect();
                    if outbox.send(Reply { variables, ..reply }).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self { requests, replies })
    }

    /// Evaluate one entry and wait for it (Ctrl-C meanwhile cancels it).
    pub fn eval(&self, text: &str) -> Option<Reply> {
        self.requests.send(text.to_string()).ok()?;
        self.replies.recv().ok()
    }
}
