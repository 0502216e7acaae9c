//! SOAP request writer. Element order matters to real ESXi (it validates against the
//! WSDL sequence), so callers write fields in WSDL order; the writer only handles
//! namespaces, escaping and nesting.

use std::fmt::{Display, Write};

use quick_xml::escape::escape;

use super::moref::MoRef;

#[derive(Clone)]
pub struct Request {
    method: String,
    body: String,
    open: Vec<String>,
}

impl Request {
    /// Start `<method><_this type=..>..</_this>` for a call on `this`.
    pub fn new(method: &str, this: &MoRef) -> Self {
        let mut body = String::with_capacity(512);
        body.push_str(concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
            r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
            r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
            "<soapenv:Body>"
        ));
        let _ = write!(body, r#"<{method} xmlns="urn:vim25">"#);
        let mut req = Self {
            method: method.to_string(),
            body,
            open: Vec::new(),
        };
        req.moref("_this", this);
        req
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    /// A leaf element with text content.
    pub fn text(&mut self, name: &str, value: impl Display) -> &mut Self {
        let value = value.to_string();
        let _ = write!(self.body, "<{name}>{}</{name}>", escape(value.as_str()));
        self
    }

    /// A leaf element only when there is a value (unset properties are left out).
    pub fn opt_text<T: Display>(&mut self, name: &str, value: Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.text(name, value);
        }
        self
    }

    /// A leaf with an explicit xsi:type, for `xsd:anyType` slots (option values, etc.).
    pub fn typed_text(&mut self, name: &str, xsi_type: &str, value: impl Display) -> &mut Self {
        let value = value.to_string();
        let _ = write!(
            self.body,
            r#"<{name} xsi:type="{xsi_type}">{}</{name}>"#,
            escape(value.as_str())
        );
        self
    }

    pub fn moref(&mut self, name: &str, moref: &MoRef) -> &mut Self {
        let _ = write!(
            self.body,
            r#"<{name} type="{}">{}</{name}>"#,
            escape(moref.kind.as_str()),
            escape(moref.value.as_str())
        );
        self
    }

    /// A nested data object; `xsi_type` names the concrete subtype where the slot is
    /// polymorphic (device specs, backings, selection specs).
    pub fn nest(
        &mut self,
        name: &str,
        xsi_type: Option<&str>,
        fill: impl FnOnce(&mut Self),
    ) -> &mut Self {
        match xsi_type {
            Some(ty) => {
                let _ = write!(self.body, r#"<{name} xsi:type="{ty}">"#);
            }
            None => {
                let _ = write!(self.body, "<{name}>");
            }
        }
        self.open.push(name.to_string());
        fill(self);
        if let Some(name) = self.open.pop() {
            let _ = write!(self.body, "</{name}>");
        }
        self
    }

    /// Write a decoded data object back as it came (e.g. the import spec that
    /// CreateImportSpec returned, for ImportVApp): xsi:types and moref `type`s kept.
    pub fn node(&mut self, name: &str, node: &super::xml::Node) -> &mut Self {
        let _ = write!(self.body, "<{name}");
        if let Some(ty) = &node.xsi_type {
            // Scalars are XML Schema types; everything else is a vim25 type.
            const XSD: &[&str] = &[
                "string",
                "int",
                "long",
                "short",
                "byte",
                "boolean",
                "double",
                "float",
                "dateTime",
                "base64Binary",
                "anyURI",
            ];
            let local = ty.rsplit(':').next().unwrap_or(ty);
            let ty = if XSD.contains(&local) {
                format!("xsd:{local}")
            } else {
                local.to_string()
            };
            let _ = write!(self.body, r#" xsi:type="{}""#, escape(ty.as_str()));
        }
        if let Some(kind) = &node.type_attr {
            let _ = write!(self.body, r#" type="{}""#, escape(kind.as_str()));
        }
        self.body.push('>');
        if node.children.is_empty() {
            self.body.push_str(&escape(node.text.as_str()));
        } else {
            for child in &node.children {
                self.node(&child.name, child);
            }
        }
        let _ = write!(self.body, "</{name}>");
        self
    }

    pub fn finish(mut self) -> Envelope {
        let _ = write!(
            self.body,
            "</{}></soapenv:Body></soapenv:Envelope>",
            self.method
        );
        Envelope {
            method: self.method,
            body: self.body,
        }
    }
}

/// A finished request, kept whole so a call can be sent again after a re-login.
#[derive(Clone)]
pub struct Envelope {
    pub method: String,
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vim::xml;

    #[test]
    fn request_round_trips_through_the_decoder() {
        let mut req = Request::new("Login", &MoRef::new("SessionManager", "SessionManager"));
        req.text("userName", "root").text("password", "p<&>\"'");
        let doc = xml::parse(&req.finish().body).unwrap();
        let call = doc.path("Body.Login").unwrap();
        assert_eq!(call.moref_at("_this").unwrap().value, "SessionManager");
        assert_eq!(call.str_at("password"), Some("p<&>\"'"));
    }
}
