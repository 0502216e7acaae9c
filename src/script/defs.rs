//! `ceso defs DIR`: Rhai definition files (`*.d.rhai`) so editors (the Rhai language
//! server, VS Code) know every function, type and stdlib module of ceso.

use std::path::{Path, PathBuf};

use rhai::{Engine, FnAccess};

use super::stdlib;

/// Write the definitions; the files written.
pub fn write(engine: &Engine, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let definitions = engine
        .definitions()
        .with_headers(true)
        .include_standard_packages(true);
    definitions.write_to_dir(dir)?;
    let mut written: Vec<PathBuf> = definitions
        .iter_files()
        .map(|(name, _)| dir.join(name))
        .collect();
    for (name, text) in stdlib::MODULES {
        let path = dir.join(format!("{name}.d.rhai"));
        std::fs::write(&path, stdlib_definitions(engine, name, text))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// `module NAME;` and one documented signature per public function of a stdlib module.
fn stdlib_definitions(engine: &Engine, name: &str, text: &str) -> String {
    let mut out = format!("module {name};\n");
    let Ok(ast) = engine.compile(text) else {
        return out;
    };
    if !ast.doc().is_empty() {
        out = format!("{out}\n{}\n", ast.doc());
    }
    for f in ast
        .iter_functions()
        .filter(|f| f.access == FnAccess::Public)
    {
        out.push('\n');
        for comment in &f.comments {
            out.push_str(comment);
            out.push('\n');
        }
        out.push_str(&format!("fn {}({});\n", f.name, f.params.join(", ")));
    }
    out
}
