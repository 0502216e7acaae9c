//! One engine and its state across evaluations: the variables, functions and imports a
//! REPL line leaves behind are there for the next line. `ceso run` uses one evaluation.

use std::collections::HashMap;

use rhai::{AST, Dynamic, Engine, Expr, Scope, Stmt};

use super::ctx::ScriptCtx;
use super::diagnostic::{self, Failure};
use super::sources::without_shebang;

/// How an evaluation ended.
pub enum Outcome {
    Value(Dynamic),
    /// `exit(n)` was called.
    Exit(u8),
    Failed(Box<Failure>),
}

pub struct Session {
    pub engine: Engine,
    pub ctx: ScriptCtx,
    pub scope: Scope<'static>,
    /// Functions defined so far (REPL).
    functions: AST,
    /// Every function name, for "did you mean".
    known_functions: Vec<String>,
    /// The entry each kept function was defined in (REPL): errors inside a function
    /// point at its body there.
    defined_in: HashMap<String, String>,
}

impl Session {
    pub fn new(engine: Engine, ctx: ScriptCtx) -> Self {
        let known_functions = function_names(&engine);
        Self {
            engine,
            ctx,
            scope: Scope::new(),
            functions: AST::empty(),
            known_functions,
            defined_in: HashMap::new(),
        }
    }

    /// Evaluate `text`, known in diagnostics as `name`. With `keep`, its functions and
    /// imports stay for later evaluations.
    pub fn eval(&mut self, name: &str, text: &str, keep: bool) -> Outcome {
        self.ctx.sources().add(name, text);
        let ast = match self
            .engine
            .compile_with_scope(&self.scope, without_shebang(text).as_ref())
        {
            Ok(ast) => ast,
            Err(e) => {
                return Outcome::Failed(Box::new(diagnostic::syntax(self.ctx.sources(), name, &e)));
            }
        };
        let mut combined = self.functions.merge(&ast);
        combined.set_source(name);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &combined);
        if keep {
            let mut functions = ast.clone_functions_only();
            functions.set_source(name);
            for f in functions.iter_functions() {
                self.defined_in.insert(f.name.to_string(), name.to_string());
            }
            self.functions = self.functions.merge(&functions);
            self.keep_imports(name, &ast);
        }
        match result {
            Ok(value) => Outcome::Value(value),
            Err(e) => match *e {
                ref exit if super::system::exit_code_of(exit).is_some() => {
                    Outcome::Exit(super::system::exit_code_of(exit).unwrap_or(0))
                }
                other => Outcome::Failed(Box::new(diagnostic::runtime(
                    self.ctx.sources(),
                    name,
                    &other,
                    &self.known_functions,
                    &self.defined_in,
                ))),
            },
        }
    }

    /// Top-level `import "x" as m;` of a REPL line: make `m::` available from now on.
    fn keep_imports(&mut self, name: &str, ast: &AST) {
        for stmt in ast.statements() {
            let Stmt::Import(import, pos) = stmt else {
                continue;
            };
            let (Expr::StringConstant(path, _), alias) = (&import.0, &import.1) else {
                continue;
            };
            if alias.name.is_empty() {
                continue;
            }
            if let Ok(module) =
                self.engine
                    .module_resolver()
                    .resolve(&self.engine, Some(name), path, *pos)
            {
                self.engine
                    .register_static_module(alias.name.as_str(), module);
            }
        }
    }

    pub fn known_functions(&self) -> &[String] {
        &self.known_functions
    }
}

/// Names of every function the engine knows (registered and built in).
pub fn function_names(engine: &Engine) -> Vec<String> {
    // ceso's own functions only (not Rhai's packages): a typo is suggested ceso's
    // names, never a Rhai internal (`get_fn_metadata_list`) or a constant (`PI`).
    let mut names: Vec<String> = engine
        .gen_fn_signatures(false)
        .iter()
        .filter_map(|sig| sig.split('(').next())
        .map(|n| n.rsplit("::").next().unwrap_or(n).to_string())
        .filter(|n| !n.starts_with("get$") && !n.starts_with("set$") && !n.starts_with("index$"))
        .filter(|n| n.chars().any(|c| c.is_ascii_lowercase()))
        .collect();
    names.sort();
    names.dedup();
    names
}
