//! vSphere objects as script values (`Vm`, `Host`, …). A type implements `ScriptObject`
//! and is registered with `register_object`; it then prints, converts to a map and to
//! JSON, shows as a table row in the REPL, and answers `prop(path)` / `props(paths)`.

use rhai::{Array, Dynamic, Engine, FuncRegistration, Map};

use crate::ops::raw;
use crate::vim::MoRef;

use super::ctx::ScriptCtx;

pub trait ScriptObject: Clone + Send + Sync + 'static {
    /// The type name scripts see.
    const TYPE: &'static str;

    /// Fields in display order (JSON, `to_map`, a single object shown as fields).
    fn fields(&self) -> Vec<(&'static str, Dynamic)>;

    /// The fields a table of these shows (all when empty).
    const COLUMNS: &'static [&'static str] = &[];

    /// One line for `print(x)` and `"${x}"`.
    fn display(&self) -> String;

    /// The server object behind this value, as (endpoint name, moref), for raw reads.
    fn managed(&self) -> Option<(String, MoRef)> {
        None
    }
}

/// How the renderer and the JSON writer see any registered object.
pub struct ObjectView {
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, Dynamic)>,
    pub columns: &'static [&'static str],
}

pub type ViewFn = fn(&Dynamic) -> Option<ObjectView>;

fn view_of<T: ScriptObject>(value: &Dynamic) -> Option<ObjectView> {
    let object = value.read_lock::<T>()?;
    Some(ObjectView {
        type_name: T::TYPE,
        fields: object.fields(),
        columns: T::COLUMNS,
    })
}

/// Register `T` with its printing, `to_map`, `prop` and `props`.
pub fn register_object<T: ScriptObject>(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_type_with_name::<T>(T::TYPE);
    ctx.add_view(view_of::<T>);
    engine.register_fn("to_string", |o: &mut T| o.display());
    engine.register_fn("to_debug", |o: &mut T| o.display());
    FuncRegistration::new("to_map")
        .with_comments([format!("/// The fields of this {} as a map.", T::TYPE)])
        .with_params_info([format!("object: {}", T::TYPE), "Map".into()])
        .register_into_engine(engine, |o: &mut T| -> Map {
            o.fields().into_iter().map(|(k, v)| (k.into(), v)).collect()
        });
    let c = ctx.clone();
    FuncRegistration::new("prop")
        .with_comments([
            "/// Read any property of the server object by its vSphere path, e.g.\n/// `vm.prop(\"config.hardware.numCPU\")`. () when the object has no value there.",
        ])
        .with_params_info([format!("object: {}", T::TYPE), "path: String".into(), "Dynamic".into()])
        .register_into_engine(engine, move |o: &mut T, path: &str| -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            let mut values = read_props(&c, o, &[path])?;
            Ok(values.remove(path).unwrap_or(Dynamic::UNIT))
        });
    let c = ctx.clone();
    FuncRegistration::new("props")
        .with_comments([
            "/// Read several property paths at once (one round trip); a map of path to value.",
        ])
        .with_params_info([
            format!("object: {}", T::TYPE),
            "paths: Array".into(),
            "Map".into(),
        ])
        .register_into_engine(
            engine,
            move |o: &mut T, paths: Array| -> Result<Map, Box<rhai::EvalAltResult>> {
                let paths = super::convert::strings(paths, "props")?;
                let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                read_props(&c, o, &refs)
            },
        );
}

fn read_props<T: ScriptObject>(
    ctx: &ScriptCtx,
    o: &T,
    paths: &[&str],
) -> Result<Map, Box<rhai::EvalAltResult>> {
    let (endpoint_name, moref) = o.managed().ok_or_else(|| {
        super::fault::script_error(format!("a {} has no server-side properties", T::TYPE))
    })?;
    let endpoint = ctx.endpoint(&endpoint_name)?;
    let values = ctx.run(async move { raw::properties(&endpoint, &moref, paths).await })?;
    Ok(values
        .into_iter()
        .map(|(k, v)| (k.into(), super::convert::from_json(&v)))
        .collect())
}
