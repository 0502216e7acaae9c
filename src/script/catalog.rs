//! What the engine knows, for people: every function with its parameters and docs, the
//! namespaces (`vm::`), the value types and their properties and methods, and the stdlib
//! modules. Feeds `help`, completion in the REPL and "did you mean".

use std::collections::BTreeSet;

use rhai::{Engine, FnAccess};
use serde::Deserialize;

use super::stdlib;

#[derive(Debug, Clone)]
pub struct FnDoc {
    /// `vm` for `vm::create`; None for global functions.
    pub namespace: Option<String>,
    pub name: String,
    /// (name, type) of each parameter; either may be empty.
    pub params: Vec<(String, String)>,
    pub returns: String,
    pub doc: String,
    /// Part of Rhai's standard library rather than ceso's.
    pub standard: bool,
}

impl FnDoc {
    /// `vm::create(name: String, options: Map) -> Dynamic`
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| match (n.is_empty(), t.is_empty()) {
                (false, false) => format!("{n}: {t}"),
                (true, false) => t.clone(),
                (false, true) => n.clone(),
                (true, true) => "_".into(),
            })
            .collect();
        let prefix = self
            .namespace
            .as_ref()
            .map(|n| format!("{n}::"))
            .unwrap_or_default();
        let name = self.property().map_or(self.name.as_str(), |p| p);
        let returns = if self.returns.is_empty() || self.returns == "()" {
            String::new()
        } else {
            format!(" -> {}", self.returns)
        };
        if self.property().is_some() {
            return format!("{}.{name}{returns}", self.this_type().unwrap_or_default());
        }
        format!("{prefix}{name}({}){returns}", params.join(", "))
    }

    /// The property name, for a getter (`get$name`).
    pub fn property(&self) -> Option<&str> {
        self.name.strip_prefix("get$")
    }

    /// The type of the first parameter (what a method is called on).
    pub fn this_type(&self) -> Option<&str> {
        self.params
            .first()
            .map(|(_, t)| clean_type(t))
            .filter(|t| !t.is_empty())
    }

    /// A plain operator or internal function nobody calls by name.
    fn is_internal(&self) -> bool {
        let n = self.name.as_str();
        n.starts_with("set$")
            || n.starts_with("index$")
            || n.starts_with("anon$")
            || !n
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
    }
}

/// The first sentence of a line of documentation (`help` shows one line per function).
/// The first sentence of a doc comment, whichever line it ends on (a listing line is
/// never cut mid-sentence where the comment happened to wrap).
pub fn first_sentence(doc: &str) -> String {
    let paragraph: Vec<&str> = doc
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_string(),
        None => text,
    }
}

/// `&mut Vm` → `Vm`, `ceso::script::vm::Vm` → `Vm`.
fn clean_type(t: &str) -> &str {
    let t = t
        .trim()
        .trim_start_matches("&mut ")
        .trim_start_matches('&')
        .trim();
    t.rsplit("::").next().unwrap_or(t)
}

/// One area's part of `help`.
pub struct AreaFunctions<'a> {
    pub area: &'static str,
    /// (name, first line of its documentation).
    pub functions: Vec<(String, String)>,
    pub types: Vec<&'a str>,
}

#[derive(Debug, Clone)]
pub struct StdlibModule {
    pub name: &'static str,
    pub doc: String,
    pub functions: Vec<FnDoc>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub functions: Vec<FnDoc>,
    pub types: Vec<String>,
    pub stdlib: Vec<StdlibModule>,
    /// Each binding area (vm, host, …) with the signatures it registered, in order.
    pub areas: Vec<(&'static str, BTreeSet<String>)>,
}

/// Records, while the engine is built, which area registered which functions.
#[derive(Default)]
pub struct AreaRecorder {
    seen: BTreeSet<String>,
    areas: Vec<(&'static str, BTreeSet<String>)>,
}

impl AreaRecorder {
    /// Call after registering `area` (see `engine::build_noting`).
    pub fn note(&mut self, area: &'static str, engine: &Engine) {
        let now: BTreeSet<String> = read(engine, false).iter().map(FnDoc::signature).collect();
        let new: BTreeSet<String> = now.difference(&self.seen).cloned().collect();
        self.seen = now;
        self.areas.push((area, new));
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonModule {
    #[serde(default)]
    modules: std::collections::BTreeMap<String, JsonModule>,
    #[serde(default)]
    functions: Vec<JsonFn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonFn {
    name: String,
    #[serde(default)]
    params: Vec<JsonParam>,
    #[serde(default)]
    return_type: String,
    #[serde(default)]
    doc_comments: Vec<String>,
}

#[derive(Deserialize)]
struct JsonParam {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    typ: Option<String>,
}

/// `/// text` comments → plain text.
fn doc_text(comments: &[String]) -> String {
    comments
        .iter()
        .flat_map(|c| c.lines())
        .map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("///")
                .or_else(|| l.strip_prefix("//!"))
                .unwrap_or(l);
            l.strip_prefix(' ').unwrap_or(l).trim_end()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn read(engine: &Engine, standard: bool) -> Vec<FnDoc> {
    let Ok(json) = engine.gen_fn_metadata_to_json(standard) else {
        return Vec::new();
    };
    let Ok(root) = serde_json::from_str::<JsonModule>(&json) else {
        return Vec::new();
    };
    let convert = |namespace: Option<&str>, f: &JsonFn| FnDoc {
        namespace: namespace.map(str::to_string),
        name: f.name.clone(),
        params: f
            .params
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.typ
                        .clone()
                        .map(|t| clean_type(&t).to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        returns: clean_type(&f.return_type).to_string(),
        doc: doc_text(&f.doc_comments),
        standard: false,
    };
    let mut out: Vec<FnDoc> = root.functions.iter().map(|f| convert(None, f)).collect();
    for (name, module) in &root.modules {
        out.extend(module.functions.iter().map(|f| convert(Some(name), f)));
    }
    out.retain(|f| !f.is_internal());
    out
}

impl Catalog {
    pub fn build(engine: &Engine) -> Self {
        let mine = read(engine, false);
        let ours: BTreeSet<String> = mine.iter().map(FnDoc::signature).collect();
        let mut functions = mine;
        functions.extend(
            read(engine, true)
                .into_iter()
                .filter(|f| !ours.contains(&f.signature()))
                .map(|mut f| {
                    f.standard = true;
                    f
                }),
        );
        let types: BTreeSet<String> = functions
            .iter()
            .filter(|f| !f.standard && f.property().is_some())
            .filter_map(|f| f.this_type().map(str::to_string))
            .collect();
        let stdlib = stdlib::MODULES
            .iter()
            .map(|(name, text)| {
                let ast = engine.compile(*text).ok();
                StdlibModule {
                    name,
                    doc: ast
                        .as_ref()
                        .map(|a| doc_text(&a.doc().lines().map(str::to_string).collect::<Vec<_>>()))
                        .unwrap_or_default(),
                    functions: ast
                        .as_ref()
                        .map(|a| {
                            a.iter_functions()
                                .filter(|f| f.access == FnAccess::Public)
                                .map(|f| FnDoc {
                                    namespace: Some(name.to_string()),
                                    name: f.name.to_string(),
                                    params: f
                                        .params
                                        .iter()
                                        .map(|p| (p.to_string(), String::new()))
                                        .collect(),
                                    returns: String::new(),
                                    doc: doc_text(
                                        &f.comments
                                            .iter()
                                            .map(|c| c.to_string())
                                            .collect::<Vec<_>>(),
                                    ),
                                    standard: false,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        Self {
            functions,
            types: types.into_iter().collect(),
            stdlib,
            areas: Vec::new(),
        }
    }

    pub fn with_areas(mut self, recorder: AreaRecorder) -> Self {
        self.areas = recorder.areas;
        self
    }

    /// A method or property of one of ceso's types (`Vm.start()`), rather than a
    /// function called by name.
    pub fn is_method(&self, f: &FnDoc) -> bool {
        f.property().is_some()
            || f.this_type()
                .is_some_and(|t| self.types.iter().any(|x| x == t))
    }

    /// The name `help` and completion use: `vm::create`, `vms`.
    pub fn key(f: &FnDoc) -> String {
        match &f.namespace {
            Some(ns) => format!("{ns}::{}", f.name),
            None => f.name.clone(),
        }
    }

    /// Functions of each area (not methods), with one line of documentation each, and
    /// the types whose methods the area registered.
    pub fn by_area(&self) -> Vec<AreaFunctions<'_>> {
        self.areas
            .iter()
            .map(|(area, signatures)| {
                let mine: Vec<&FnDoc> = self
                    .functions
                    .iter()
                    .filter(|f| !f.standard && signatures.contains(&f.signature()))
                    .collect();
                let mut functions: Vec<(String, String)> = Vec::new();
                for f in mine.iter().filter(|f| !self.is_method(f)) {
                    let key = Self::key(f);
                    if functions.iter().any(|(k, _)| *k == key) {
                        continue;
                    }
                    let line = first_sentence(&f.doc);
                    functions.push((key, line));
                }
                // Globals first, then namespaces (`vms` before `vm::create`).
                functions
                    .sort_by(|a, b| (a.0.contains("::"), &a.0).cmp(&(b.0.contains("::"), &b.0)));
                let types: BTreeSet<&str> = mine
                    .iter()
                    .filter(|f| self.is_method(f))
                    .filter_map(|f| f.this_type())
                    .collect();
                AreaFunctions {
                    area,
                    functions,
                    types: types.into_iter().collect(),
                }
            })
            .filter(|a| !a.functions.is_empty() || !a.types.is_empty())
            .collect()
    }

    /// Global function names (not methods' properties), sorted, once each.
    pub fn global_names(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .functions
            .iter()
            .filter(|f| f.namespace.is_none() && f.property().is_none())
            .map(|f| f.name.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// Namespaces (`vm`, `host`).
    pub fn namespaces(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .functions
            .iter()
            .filter_map(|f| f.namespace.as_deref())
            .collect();
        set.into_iter().collect()
    }

    /// Functions of a namespace (static module or stdlib module).
    pub fn members(&self, namespace: &str) -> Vec<&str> {
        let mut set: BTreeSet<&str> = self
            .functions
            .iter()
            .filter(|f| f.namespace.as_deref() == Some(namespace))
            .map(|f| f.name.as_str())
            .collect();
        if let Some(m) = self.stdlib.iter().find(|m| m.name == namespace) {
            set.extend(m.functions.iter().map(|f| f.name.as_str()));
        }
        set.into_iter().collect()
    }

    /// Properties and methods callable on a value of `type_name` (all when unknown):
    /// ceso's own first, then Rhai's standard ones, each group sorted, once each.
    pub fn methods(&self, type_name: Option<&str>) -> Vec<&str> {
        let group = |standard: bool| -> BTreeSet<&str> {
            self.functions
                .iter()
                .filter(|f| f.namespace.is_none() && f.standard == standard)
                .filter(|f| match (type_name, f.this_type()) {
                    (Some(wanted), Some(t)) => t == wanted,
                    (None, Some(_)) => true,
                    _ => false,
                })
                .map(|f| f.property().unwrap_or(&f.name))
                .collect()
        };
        let mine = group(false);
        let standard: Vec<&str> = group(true)
            .into_iter()
            .filter(|n| !mine.contains(n))
            .collect();
        mine.into_iter().chain(standard).collect()
    }

    /// The type a global function (`vm`) or namespace function (`vm::info`) returns,
    /// when all its overloads agree.
    pub fn returns(&self, name: &str) -> Option<String> {
        let (namespace, base) = match name.rsplit_once("::") {
            Some((ns, base)) => (Some(ns), base),
            None => (None, name),
        };
        let types: BTreeSet<&str> = self
            .functions
            .iter()
            .filter(|f| f.namespace.as_deref() == namespace && f.name == base && !f.standard)
            .map(|f| f.returns.as_str())
            .collect();
        match types.into_iter().collect::<Vec<_>>().as_slice() {
            [one] if !one.is_empty() => Some((*one).to_string()),
            _ => None,
        }
    }

    /// Everything documented under `name`: a function (`vms`, `vm::create`), a type
    /// (`Vm`: its properties and methods) or a stdlib module (`fmt`).
    pub fn lookup(&self, name: &str) -> Vec<&FnDoc> {
        let (namespace, base) = match name.rsplit_once("::") {
            Some((ns, base)) => (Some(ns), base),
            None => (None, name),
        };
        let mut found: Vec<&FnDoc> = self
            .functions
            .iter()
            .filter(|f| {
                f.namespace.as_deref() == namespace
                    && (f.name == base || f.property() == Some(base))
            })
            .collect();
        if found.is_empty() && namespace.is_none() {
            found = self
                .functions
                .iter()
                .filter(|f| !f.standard && f.this_type() == Some(name))
                .collect();
        }
        if found.is_empty() {
            let module = namespace.unwrap_or(base);
            if let Some(m) = self.stdlib.iter().find(|m| m.name == module) {
                found = m
                    .functions
                    .iter()
                    .filter(|f| namespace.is_none() || f.name == base)
                    .collect();
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Thing;

    fn catalog() -> Catalog {
        let mut engine = Engine::new();
        engine
            .register_type_with_name::<Thing>("Thing")
            .register_get("label", |_: &mut Thing| "x".to_string())
            .register_fn("zap", |_: &mut Thing| 1_i64)
            .register_fn("thing", || Thing);
        Catalog::build(&engine)
    }

    #[test]
    fn a_listing_line_is_a_whole_sentence() {
        let doc = "Move VMs (names or globs) into a resource pool, like\n`ceso vm move`. Options: dry_run.";
        assert_eq!(
            first_sentence(doc),
            "Move VMs (names or globs) into a resource pool, like `ceso vm move`."
        );
        assert_eq!(first_sentence("One line\n\nMore."), "One line");
    }

    #[test]
    fn methods_rank_ceso_own_first_and_a_call_types_its_receiver() {
        let c = catalog();
        let all = c.methods(None);
        assert_eq!(&all[..2], ["label", "zap"], "{all:?}");
        assert!(all.len() > 50, "Rhai's own methods follow");
        assert_eq!(c.methods(Some("Thing")), ["label", "zap"]);
        assert_eq!(c.returns("thing").as_deref(), Some("Thing"));
        assert_eq!(c.returns("nosuch"), None);
    }
}
