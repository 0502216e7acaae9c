//! A small, xsi:type-aware XML tree for SOAP responses.
//!
//! vSphere answers with deeply nested data objects whose concrete type travels in an
//! `xsi:type` attribute under whatever prefix the server chose (vcsim uses
//! `XMLSchema-instance:type`). We decode into a generic tree and let typed readers in
//! `ops` pick what they need: it keeps the decoder independent of the WSDL and makes
//! raw property access (`collect`, `vm.prop`) free.

use super::decode;
use super::error::Error;
use super::moref::MoRef;

/// One XML element: its local name, `xsi:type` (prefix stripped), the plain `type`
/// attribute (set on managed object references), text and child elements in order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    pub name: std::borrow::Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xsi_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_attr: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

impl Node {
    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name (vSphere arrays are repeated elements).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follow a dotted path of child names: `node.path("summary.config.name")`.
    pub fn path(&self, dotted: &str) -> Option<&Node> {
        dotted.split('.').try_fold(self, |n, part| n.child(part))
    }

    /// Text of a child element.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    pub fn str_at(&self, dotted: &str) -> Option<&str> {
        self.path(dotted).map(|n| n.text.as_str())
    }

    pub fn i64_at(&self, dotted: &str) -> Option<i64> {
        self.path(dotted).and_then(Node::as_i64)
    }

    pub fn bool_at(&self, dotted: &str) -> Option<bool> {
        self.path(dotted).and_then(Node::as_bool)
    }

    pub fn moref_at(&self, dotted: &str) -> Option<MoRef> {
        self.path(dotted).and_then(Node::as_moref)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.text.trim().parse().ok()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.text.trim().parse().ok()
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// A managed object reference is an element with a `type` attribute and the id as text.
    pub fn as_moref(&self) -> Option<MoRef> {
        self.type_attr
            .as_ref()
            .map(|ty| MoRef::new(ty.clone(), self.text.clone()))
    }

    /// Items of an `ArrayOfXxx` value, or the node itself as a one-element list otherwise.
    pub fn items(&self) -> Vec<&Node> {
        if self.is_array() {
            self.children.iter().collect()
        } else {
            vec![self]
        }
    }

    pub fn is_array(&self) -> bool {
        self.xsi_type
            .as_deref()
            .is_some_and(|t| t.starts_with("ArrayOf"))
    }

    /// Raw value as JSON, for the escape hatches. Scalars are typed from `xsi:type`
    /// where the server gave one; repeated child names become arrays.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        if self.is_array() {
            return J::Array(self.children.iter().map(Node::to_json).collect());
        }
        if let Some(moref) = self.as_moref() {
            return J::String(moref.to_string());
        }
        if self.children.is_empty() {
            return scalar_json(self.xsi_type.as_deref(), &self.text);
        }
        let mut map = serde_json::Map::new();
        if let Some(ty) = &self.xsi_type {
            map.insert("_type".into(), J::String(ty.clone()));
        }
        for child in &self.children {
            let value = child.to_json();
            match map.get_mut(&*child.name) {
                Some(J::Array(list)) if self.children_named(&child.name).count() > 1 => {
                    list.push(value)
                }
                Some(existing) => {
                    let first = existing.take();
                    *existing = J::Array(vec![first, value]);
                }
                None => {
                    map.insert(child.name.to_string(), value);
                }
            }
        }
        J::Object(map)
    }
}

fn scalar_json(xsi_type: Option<&str>, text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match xsi_type {
        Some("xsd:int" | "xsd:long" | "xsd:short" | "xsd:byte") => text
            .trim()
            .parse::<i64>()
            .map(J::from)
            .unwrap_or_else(|_| J::String(text.into())),
        Some("xsd:boolean") => match text.trim() {
            "true" => J::Bool(true),
            "false" => J::Bool(false),
            _ => J::String(text.into()),
        },
        Some("xsd:double" | "xsd:float") => text
            .trim()
            .parse::<f64>()
            .map(J::from)
            .unwrap_or_else(|_| J::String(text.into())),
        _ => J::String(text.into()),
    }
}

/// Parse a whole document into its root element, within the decoder's limits.
pub fn parse(xml: &str) -> Result<Node, Error> {
    decode::parse_bytes(xml.as_bytes(), &decode::LIMITS, None, &mut |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsi_type_under_any_prefix() {
        let xml = r#"<a xmlns:X="http://www.w3.org/2001/XMLSchema-instance"><v X:type="xsd:int">4</v><m X:type="ManagedObjectReference" type="HostSystem">host-1</m></a>"#;
        let root = parse(xml).unwrap();
        assert_eq!(
            root.child("v").unwrap().xsi_type.as_deref(),
            Some("xsd:int")
        );
        assert_eq!(root.i64_at("v"), Some(4));
        let m = root.moref_at("m").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.value.as_str()),
            ("HostSystem", "host-1")
        );
    }

    #[test]
    fn entities_and_char_refs_are_decoded() {
        let root = parse("<a>no vmomi type &#39;X&#39; &amp; &lt;y&gt;</a>").unwrap();
        assert_eq!(root.text, "no vmomi type 'X' & <y>");
    }

    #[test]
    fn truncated_document_is_an_error_not_a_panic() {
        assert!(parse("<a><b>").is_err());
        assert!(parse("<a></b>").is_err());
        assert!(parse("").is_err());
    }
}
