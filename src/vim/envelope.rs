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
