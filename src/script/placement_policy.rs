//! Placement policy plugins: a `.rhai` file defining `filter(vm, host)` and/or
//! `score(vm, host)`, run by the placement engine for every candidate host. `vm` and
//! `host` are maps with the fields of the inventory JSON (docs/placement.md).
//!
//! - `filter` returns `true` (allowed), `false` (refused) or `[false, "reason"]`.
//! - `score` returns a number added to the built-in score.
//!
//! Each call runs under the script limits with at most [`POLICY_MAX_OPERATIONS`]
//! operations, so a runaway policy ends with an error naming its file, line and
//! column, not a hang.

use std::path::{Path, PathBuf};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Position, Scope};

use crate::placement::model::{Host, Vm};
use crate::placement::{PlacementError, Policy};

use super::engine::Limits;

/// Operations one call of `filter` or `score` may use (a loop over a thousand items
/// is a few ten thousand operations).
pub const POLICY_MAX_OPERATIONS: u64 = 1_000_000;

pub struct RhaiPolicy {
    path: PathBuf,
    engine: Engine,
    ast: AST,
    has_filter: bool,
    has_score: bool,
}

impl RhaiPolicy {
    pub fn load(path: &Path, limits: Limits) -> Result<Self, PlacementError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlacementError::Policy(format!("policy {name}: cannot read: {e}")))?;
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations.clamp(1, POLICY_MAX_OPERATIONS))
            .set_max_call_levels(limits.max_call_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_array_size)
            .set_max_expr_depths(128, 64);
        engine.set_fail_on_invalid_map_property(false);
        engine.on_print(|text| eprintln!("{text}"));
        let ast = engine.compile(&text).map_err(|e| {
            PlacementError::Policy(format!("{}: {}", at(&name, e.position()), e.err_type()))
        })?;
        let defines = |f: &str| {
            ast.iter_functions()
                .any(|d| d.name == f && d.params.len() == 2)
        };
        let (has_filter, has_score) = (defines("filter"), defines("score"));
        if !has_filter && !has_score {
            return Err(PlacementError::Policy(format!(
                "policy {name}: defines neither filter(vm, host) nor score(vm, host)"
            )));
        }
        // Top-level statements run once (constants the functions read are in the AST).
        engine
            .run_ast(&ast)
            .map_err(|e| PlacementError::Policy(runtime(&name, "top level", &e)))?;
        Ok(Self {
            path: path.to_path_buf(),
            engine,
            ast,
            has_filter,
            has_score,
        })
    }

    fn call(&self, f: &str, vm: &Vm, host: &Host) -> Result<Dynamic, PlacementError> {
        let name = self.path.display().to_string();
        let conv = |e: Box<EvalAltResult>| PlacementError::Policy(runtime(&name, f, &e));
        let v = rhai::serde::to_dynamic(vm).map_err(conv)?;
        let h = rhai::serde::to_dynamic(host).map_err(conv)?;
        self.engine
            .call_fn::<Dynamic>(&mut Scope::new(), &self.ast, f, (v, h))
            .map_err(|e| PlacementError::Policy(runtime(&name, f, &e)))
    }
}

fn at(name: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("policy {name}:{l}:{c}"),
        (Some(l), None) => format!("policy {name}:{l}"),
        _ => format!("policy {name}"),
    }
}

fn runtime(name: &str, f: &str, e: &EvalAltResult) -> String {
    let inner = match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => inner.as_ref(),
        other => other,
    };
    let mut msg = format!("{}: in {f}(): {inner}", at(name, inner.position()));
    if matches!(inner, EvalAltResult::ErrorTooManyOperations(_)) {
        msg.push_str(&format!(
            " (a policy call may use at most {POLICY_MAX_OPERATIONS} operations: a loop that never ends?)"
        ));
    }
    // Rhai appends " (line L, position C)" itself; the location is in front already.
    match msg.rfind(" (line ") {
        Some(i) if msg.ends_with(')') && !msg.ends_with("?)") => msg.truncate(i),
        _ => {}
    }
    msg
}

/// The config's `placement.plugins` (relative to the config file) and `extra` files,
/// with the config's script limits.
pub fn load_policies(
    config: &crate::config::LoadedConfig,
    extra: &[PathBuf],
) -> Result<Vec<RhaiPolicy>, PlacementError> {
    let base = config
        .path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let limits = Limits::from_config(config.settings().scripting.as_ref());
    let mut files: Vec<PathBuf> = config
        .placement()
        .plugins
        .iter()
        .map(|p| base.join(p))
        .collect();
    files.extend(extra.iter().cloned());
    files.iter().map(|f| RhaiPolicy::load(f, limits)).collect()
}

impl Policy for RhaiPolicy {
    fn filter(&self, vm: &Vm, host: &Host) -> Result<Option<String>, PlacementError> {
        if !self.has_filter {
            return Ok(None);
        }
        let out = self.call("filter", vm, host)?;
        let name = self.path.display();
        let refused = |reason: String| Ok(Some(format!("policy {name}: {reason}")));
        if let Some(ok) = out.clone().try_cast::<bool>() {
            return if ok {
                Ok(None)
            } else {
                refused("filter() said no".into())
            };
        }
        if let Some(arr) = out.clone().try_cast::<rhai::Array>()
            && let Some(ok) = arr.first().and_then(|b| b.clone().try_cast::<bool>())
        {
            let reason = arr.get(1).map(|r| r.to_string()).unwrap_or_default();
            return if ok { Ok(None) } else { refused(reason) };
        }
        Err(PlacementError::Policy(format!(
            "policy {name}: filter() returned {} ({}); return true, false or [false, \"reason\"]",
            out,
            out.type_name()
        )))
    }

    fn score(&self, vm: &Vm, host: &Host) -> Result<f64, PlacementError> {
        if !self.has_score {
            return Ok(0.0);
        }
        let out = self.call("score", vm, host)?;
        if let Some(f) = out.clone().try_cast::<f64>() {
            return Ok(f);
        }
        if let Some(i) = out.clone().try_cast::<i64>() {
            return Ok(i as f64);
        }
        Err(PlacementError::Policy(format!(
            "policy {}: score() returned {} ({}); return a number",
            self.path.display(),
            out,
            out.type_name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::{Inventory, NoPolicy, State, find_optimal_host};

    fn policy(text: &str) -> Result<RhaiPolicy, PlacementError> {
        let dir = std::env::temp_dir().join(format!("ceso-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("p{}.rhai", text.len()));
        std::fs::write(&path, text).unwrap();
        RhaiPolicy::load(&path, Limits::default())
    }

    fn inv() -> Inventory {
        serde_json::from_str(
            r#"{"hosts":[
                {"name":"gpu1","cpu_mhz":10000,"memory_mb":10000,"tags":{"rack":"r1"},"free_devices":["10de:20b5"]},
                {"name":"cpu1","cpu_mhz":10000,"memory_mb":10000,"tags":{"rack":"r2"}}],
              "vms":[]}"#,
        )
        .unwrap()
    }

    fn vm(name: &str) -> Vm {
        Vm {
            name: name.into(),
            memory_mb: 100,
            vcpus: 1,
            powered_on: true,
            ..Default::default()
        }
    }

    #[test]
    fn filter_with_reason_and_score() {
        let p = policy(
            "fn filter(vm, host) { if vm.name.starts_with(\"gpu\") || host.free_devices.is_empty() { true } else { [false, \"GPU hosts are for GPU VMs\"] } }\n\
             fn score(vm, host) { if host.tags.rack == \"r2\" { 7 } else { 0.5 } }",
        )
        .unwrap();
        let inv = inv();
        let st = State::new(&inv).unwrap();
        let out = find_optimal_host(&st, &vm("web"), &p).unwrap();
        assert_eq!(out.rejected.len(), 1);
        assert!(
            out.rejected[0].reasons[0]
                .message
                .contains("GPU hosts are for GPU VMs")
        );
        assert_eq!(out.ranked[0].policy_score, 7.0);
        let out = find_optimal_host(&st, &vm("gpu-train"), &p).unwrap();
        assert_eq!(out.ranked.len(), 2);
        let plain = find_optimal_host(&st, &vm("gpu-train"), &NoPolicy).unwrap();
        assert_eq!(plain.ranked[0].policy_score, 0.0);
    }

    #[test]
    fn example_policies_load_and_run() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
        let inv = inv();
        let st = State::new(&inv).unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let p = RhaiPolicy::load(&path, Limits::default()).unwrap();
            for name in ["web", "ora-db"] {
                find_optimal_host(&st, &vm(name), &p)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            seen += 1;
        }
        assert_eq!(seen, 3);
        let gpu = RhaiPolicy::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/policies/gpu-hosts-for-gpu-vms.rhai"),
            Limits::default(),
        )
        .unwrap();
        let out = find_optimal_host(&st, &vm("web"), &gpu).unwrap();
        assert_eq!(out.rejected[0].host, "gpu1");
    }

    #[test]
    fn runaway_policy_stops_with_location() {
        let p = policy("fn score(vm, host) {\n  let n = 0;\n  loop { n += 1; }\n}\n").unwrap();
        let inv = inv();
        let st = State::new(&inv).unwrap();
        let e = find_optimal_host(&st, &vm("x"), &p)
            .err()
            .unwrap()
            .to_string();
        // Rhai reports no position for the operations limit: the file and function.
        assert!(e.contains(".rhai: in score(): Too many operations"), "{e}");
        assert!(e.contains("at most 1000000 operations"), "{e}");
    }

    #[test]
    fn errors_name_file_line_column() {
        let e = policy("fn filter(vm, host) {\n  vm.name ==\n}\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(".rhai:3:1"), "{e}");
        let e = policy("fn other() { 1 }").err().unwrap().to_string();
        assert!(e.contains("defines neither"), "{e}");
        let p = policy("fn filter(vm, host) {\n  vm.nope.x > 1\n}").unwrap();
        let inv = inv();
        let st = State::new(&inv).unwrap();
        let e = find_optimal_host(&st, &vm("x"), &p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(".rhai:2:"), "{e}");
        let p = policy("fn score(vm, host) { \"high\" }").unwrap();
        let e = find_optimal_host(&st, &vm("x"), &p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("return a number"), "{e}");
    }
}
