//! Where `import "name" as m;` looks: the embedded stdlib, then the importing script's
//! folder, then ~/.config/ceso/scripts. Modules are compiled once per run and their text
//! kept for diagnostics; an import cycle is an error, not a stack overflow.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rhai::module_resolvers::ModuleResolver;
use rhai::{Engine, EvalAltResult, Module, Position, Scope, Shared};

use super::sources::{Sources, without_shebang};
use super::stdlib;

pub struct Resolver {
    sources: Sources,
    /// Folder of the main script (the current directory for the REPL and `-c`).
    base_dir: PathBuf,
    user_dir: Option<PathBuf>,
    cache: Mutex<HashMap<String, Shared<Module>>>,
    loading: Mutex<Vec<String>>,
}

/// The per-user module folder.
pub fn user_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("ceso").join("scripts"))
}

impl Resolver {
    pub fn new(sources: Sources, base_dir: PathBuf) -> Self {
        Self {
            sources,
            base_dir,
            user_dir: user_dir(),
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(Vec::new()),
        }
    }

    /// (source name, text) of the module `path` imported from the module named `from`.
    fn locate(&self, from: Option<&str>, path: &str) -> Option<(String, String)> {
        if let Some(text) = stdlib::get(path) {
            return Some((stdlib::source_name(path), text.to_string()));
        }
        let file = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        let importer_dir = from
            .map(Path::new)
            .filter(|p| p.is_absolute())
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.base_dir.clone());
        let candidates = std::iter::once(importer_dir).chain(self.user_dir.clone());
        for dir in candidates {
            let candidate = dir.join(&file);
            if let Ok(text) = std::fs::read_to_string(&candidate) {
                let name = candidate
                    .canonicalize()
                    .unwrap_or(candidate)
                    .display()
                    .to_string();
                return Some((name, text));
            }
        }
        None
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let (name, text) = self
            .locate(source, path)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos)))?;
        if let Some(module) = self.cache.lock().ok().and_then(|c| c.get(&name).cloned()) {
            return Ok(module);
        }
        {
            let mut loading = self.loading.lock().map_err(|_| poisoned(pos))?;
            if loading.contains(&name) {
                let chain = loading
                    .iter()
                    .chain(std::iter::once(&name))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" → ");
                return Err(Box::new(EvalAltResult::ErrorInModule(
                    name.clone(),
                    Box::new(EvalAltResult::ErrorRuntime(
                        format!("import cycle: {chain}").into(),
                        Position::NONE,
                    )),
                    pos,
                )));
            }
            loading.push(name.clone());
        }
        self.sources.add(&name, &text);
        let result = compile_module(engine, &name, &text)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.clone(), e, pos)));
        if let Ok(mut loading) = self.loading.lock() {
            loading.retain(|n| n != &name);
        }
        let module: Shared<Module> = result?.into();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name, module.clone());
        }
        Ok(module)
    }
}

fn compile_module(engine: &Engine, name: &str, text: &str) -> Result<Module, Box<EvalAltResult>> {
    let mut ast = engine.compile(without_shebang(text).as_ref())?;
    ast.set_source(name);
    Module::eval_ast_as_new(Scope::new(), &ast, engine)
}

fn poisoned(pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        "module loader state is corrupted".into(),
        pos,
    ))
}
