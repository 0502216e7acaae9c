//! Values between Rhai and the rest of ceso: JSON both ways, option maps, string lists.

use rhai::{Array, Dynamic, Map};

use super::ctx::{RhaiResultOf, ScriptCtx};
use super::fault::script_error;

/// A JSON value as a script value (objects become maps, integers stay integers).
pub fn from_json(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value as J;
    match value {
        J::Null => Dynamic::UNIT,
        J::Bool(b) => (*b).into(),
        J::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        J::String(s) => s.clone().into(),
        J::Array(items) => items.iter().map(from_json).collect::<Array>().into(),
        J::Object(map) => map
            .iter()
            .map(|(k, v)| (k.as_str().into(), from_json(v)))
            .collect::<Map>()
            .into(),
    }
}

/// A script value as JSON. Registered objects (`Vm`, `Host`…) become objects of their
/// fields; functions and other opaque values become their printed form.
pub fn to_json(ctx: &ScriptCtx, value: &Dynamic) -> serde_json::Value {
    use serde_json::Value as J;
    if value.is_unit() {
        return J::Null;
    }
    if let Ok(b) = value.as_bool() {
        return J::Bool(b);
    }
    if let Ok(i) = value.as_int() {
        return J::from(i);
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f).map_or(J::Null, J::Number);
    }
    if value.is_string() || value.is_char() {
        return J::String(value.to_string());
    }
    if let Some(array) = value.read_lock::<Array>() {
        return J::Array(array.iter().map(|v| to_json(ctx, v)).collect());
    }
    if let Some(map) = value.read_lock::<Map>() {
        return J::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(ctx, v)))
                .collect(),
        );
    }
    if let Some(view) = ctx.view(value) {
        return J::Object(
            view.fields
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(ctx, v)))
                .collect(),
        );
    }
    J::String(value.to_string())
}

/// Serialize an ops result (any `Serialize`) into a script value.
pub fn from_serialize<T: serde::Serialize>(value: &T) -> Dynamic {
    serde_json::to_value(value)
        .map(|v| from_json(&v))
        .unwrap_or(Dynamic::UNIT)
}

/// An array that must hold only strings (names, paths).
pub fn strings(items: Array, function: &str) -> RhaiResultOf<Vec<String>> {
    items
        .into_iter()
        .map(|item| {
            item.into_string().map_err(|ty| {
                script_error(format!(
                    "{function}: expected an array of strings, found a {ty} in it"
                ))
            })
        })
        .collect()
}

/// Options passed as a map (`#{dry_run: true, force: true}`), checked against the names a
/// function knows so that a typo is an error rather than silently ignored.
pub struct Opts {
    function: &'static str,
    map: Map,
}

impl Opts {
    pub fn new(function: &'static str, map: Map, known: &[&str]) -> RhaiResultOf<Self> {
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(script_error(format!(
                "{function}: unknown option '{unknown}' (known options: {})",
                known.join(", ")
            )));
        }
        Ok(Self { function, map })
    }

    pub fn none(function: &'static str) -> Self {
        Self {
            function,
            map: Map::new(),
        }
    }

    /// The value as given (None when absent or unit), for options of several shapes.
    pub fn raw(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    pub fn flag(&self, key: &str) -> RhaiResultOf<bool> {
        match self.map.get(key) {
            None => Ok(false),
            Some(v) if v.is_unit() => Ok(false),
            Some(v) => v
                .as_bool()
                .map_err(|ty| self.wrong(key, "true or false", ty)),
        }
    }

    /// true, false, or not given (None): for options that leave things as they are.
    pub fn opt_flag(&self, key: &str) -> RhaiResultOf<Option<bool>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(_) => self.flag(key).map(Some),
        }
    }

    pub fn int(&self, key: &str) -> RhaiResultOf<Option<i64>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .map_err(|ty| self.wrong(key, "an integer", ty)),
        }
    }

    pub fn string(&self, key: &str) -> RhaiResultOf<Option<String>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .clone()
                .into_string()
                .map(Some)
                .map_err(|ty| self.wrong(key, "a string", ty)),
        }
    }

    /// A string, or a number or true/false as its text (`cpu_limit: 2000`, `failback: true`),
    /// for options the CLI takes as text.
    pub fn text(&self, key: &str) -> RhaiResultOf<Option<String>> {
        match self.map.get(key) {
            Some(v) if v.is_int() || v.is_bool() => Ok(Some(v.to_string())),
            _ => self.string(key),
        }
    }

    /// A string or an array of strings (`gpu: "a100"` or `gpu: ["a100", "a100"]`).
    pub fn list(&self, key: &str) -> RhaiResultOf<Vec<String>> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(v) if v.is_unit() => Ok(Vec::new()),
            Some(v) if v.is_string() => Ok(vec![v.to_string()]),
            Some(v) => match v.clone().try_cast::<Array>() {
                Some(items) => strings(items, self.function),
                None => Err(self.wrong(key, "a string or an array of strings", v.type_name())),
            },
        }
    }

    fn wrong(&self, key: &str, expected: &str, found: &str) -> Box<rhai::EvalAltResult> {
        script_error(format!(
            "{}: option '{key}' must be {expected}, not a {found}",
            self.function
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_integers_and_nesting() {
        let value = serde_json::json!({"a": 1, "b": [true, "x", 1.5], "c": null});
        let d = from_json(&value);
        let map = d.read_lock::<Map>().expect("a map");
        assert_eq!(map["a"].as_int(), Ok(1));
        assert!(map["c"].is_unit());
    }

    #[test]
    fn unknown_options_are_named() {
        let mut map = Map::new();
        map.insert("dryrun".into(), true.into());
        let err = Opts::new("power_off", map, &["dry_run", "force"])
            .err()
            .expect("an error");
        assert!(err.to_string().contains("unknown option 'dryrun'"), "{err}");
    }
}
