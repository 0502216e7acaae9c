//! Bulk property reads: one RetrievePropertiesEx over a ContainerView with explicit
//! paths, following continuation tokens. Never one round trip per object.

use super::client::Client;
use super::envelope::Request;
use super::error::Error;
use super::moref::MoRef;
use super::xml::Node;

/// The properties of one object, as the server sent them.
#[derive(Debug, Clone)]
pub struct ObjectContent {
    pub obj: MoRef,
    pub props: Vec<(String, Node)>,
    /// Paths the server could not read (`missingSet`), with the fault name.
    pub missing: Vec<(String, String)>,
}

impl ObjectContent {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.props.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    pub fn str(&self, path: &str) -> Option<&str> {
        self.get(path).map(|n| n.text.as_str())
    }

    pub fn i64(&self, path: &str) -> Option<i64> {
        self.get(path).and_then(Node::as_i64)
    }

    pub fn bool(&self, path: &str) -> Option<bool> {
        self.get(path).and_then(Node::as_bool)
    }

    pub fn moref(&self, path: &str) -> Option<MoRef> {
        self.get(path).and_then(Node::as_moref)
    }

    /// An `ArrayOfManagedObjectReference` property as a list.
    pub fn morefs(&self, path: &str) -> Vec<MoRef> {
        self.get(path)
            .map(|n| n.items().into_iter().filter_map(Node::as_moref).collect())
            .unwrap_or_default()
    }
}

/// What to read for one managed object type.
pub struct PropertySpec<'a> {
    pub kind: &'a str,
    pub paths: &'a [&'a str],
}

impl Client {
    /// Read `paths` of every object of the given types below `root` (recursive), via a
    /// ContainerView that is destroyed afterwards, whatever happened.
    pub async fn collect_view(
        &self,
        root: &MoRef,
        specs: &[PropertySpec<'_>],
    ) -> Result<Vec<ObjectContent>, Error> {
        let view_manager = self
            .content()
            .view_manager
            .clone()
            .ok_or_else(|| Error::Other("this endpoint has no ViewManager".into()))?;
        let mut req = Request::new("CreateContainerView", &view_manager);
        req.moref("container", root);
        for spec in specs {
            req.text("type", spec.kind);
        }
        req.text("recursive", true);
        let view = self
            .call_returnval(req)
            .await?
            .and_then(|n| n.as_moref())
            .ok_or_else(|| Error::Decode("CreateContainerView returned no view".into()))?;
        let result = self.retrieve_view(&view, specs).await;
        let _ = self.call(Request::new("DestroyView", &view)).await;
        result
    }

    async fn retrieve_view(
        &self,
        view: &MoRef,
        specs: &[PropertySpec<'_>],
    ) -> Result<Vec<ObjectContent>, Error> {
        let mut req = Request::new("RetrievePropertiesEx", &self.content().property_collector);
        req.nest("specSet", None, |r| {
            write_prop_specs(r, specs);
            r.nest("objectSet", None, |r| {
                r.moref("obj", view).text("skip", true).nest(
                    "selectSet",
                    Some("TraversalSpec"),
                    |r| {
                        r.text("name", "traverseView")
                            .text("type", "ContainerView")
                            .text("path", "view")
                            .text("skip", false);
                    },
                );
            });
        });
        req.nest("options", None, |_| {});
        self.retrieve_pages(req).await
    }

    /// Read `paths` of specific objects (all of one type per spec).
    pub async fn retrieve(
        &self,
        objects: &[MoRef],
        specs: &[PropertySpec<'_>],
    ) -> Result<Vec<ObjectContent>, Error> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut req = Request::new("RetrievePropertiesEx", &self.content().property_collector);
        req.nest("specSet", None, |r| {
            write_prop_specs(r, specs);
            for obj in objects {
                r.nest("objectSet", None, |r| {
                    r.moref("obj", obj).text("skip", false);
                });
            }
        });
        req.nest("options", None, |_| {});
        self.retrieve_pages(req).await
    }

    /// Read some properties of one object. A vanished object is a ManagedObjectNotFound fault.
    pub async fn properties(&self, obj: &MoRef, paths: &[&str]) -> Result<ObjectContent, Error> {
        let spec = PropertySpec {
            kind: &obj.kind,
            paths,
        };
        self.retrieve(std::slice::from_ref(obj), &[spec])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Fault {
                name: "ManagedObjectNotFound".into(),
                message: format!("{obj} no longer exists"),
                object: Some(obj.clone()),
                detail: Box::default(),
            })
    }

    /// Send a RetrievePropertiesEx and follow ContinueRetrievePropertiesEx tokens: real
    /// vCenter pages large results (vcsim never does). Some servers report an expired
    /// session per property (`missingSet` NotAuthenticated) instead of as a fault: that
    /// is renewed and retried once too.
    async fn retrieve_pages(&self, first: Request) -> Result<Vec<ObjectContent>, Error> {
        let seen = self.session_id().await;
        match self.retrieve_pages_once(first.clone()).await {
            Err(e) if e.is_not_authenticated() => {
                self.relogin(seen).await?;
                self.retrieve_pages_once(first).await
            }
            other => other,
        }
    }

    async fn retrieve_pages_once(&self, first: Request) -> Result<Vec<ObjectContent>, Error> {
        let mut out = Vec::new();
        let mut page = self.call_returnval(first).await?;
        while let Some(result) = page {
            let token = result.text_of("token").map(str::to_string);
            decode_objects(result, &mut out);
            if let Some(object) = out.iter().find(|o| {
                o.missing
                    .iter()
                    .any(|(_, fault)| fault == "NotAuthenticated")
            }) {
                return Err(Error::Fault {
                    name: "NotAuthenticated".into(),
                    message: "the session is not authenticated".into(),
                    object: Some(object.obj.clone()),
                    detail: Box::default(),
                });
            }
            page = match token {
                Some(token) => {
                    let mut req = Request::new(
                        "ContinueRetrievePropertiesEx",
                        &self.content().property_collector,
                    );
                    req.text("token", token);
                    self.call_returnval(req).await?
                }
                None => None,
            };
        }
        Ok(out)
    }
}

fn write_prop_specs(r: &mut Request, specs: &[PropertySpec<'_>]) {
    for spec in specs {
        r.nest("propSet", None, |r| {
            r.text("type", spec.kind);
            r.text("all", false);
            for path in spec.paths {
                r.text("pathSet", path);
            }
        });
    }
}

/// Move `objects` out of a RetrieveResult (no copies: results can be megabytes).
pub fn decode_objects(result: Node, out: &mut Vec<ObjectContent>) {
    for object in result.children.into_iter().filter(|c| c.name == "objects") {
        let mut obj = None;
        let mut props = Vec::new();
        let mut missing = Vec::new();
        for part in object.children {
            match part.name.as_str() {
                "obj" => obj = part.as_moref(),
                "propSet" => {
                    let mut name = String::new();
                    let mut val = Node::default();
                    for field in part.children {
                        match field.name.as_str() {
                            "name" => name = field.text,
                            "val" => val = field,
                            _ => {}
                        }
                    }
                    props.push((name, val));
                }
                "missingSet" => {
                    let path = part.text_of("path").unwrap_or_default().to_string();
                    let fault = part
                        .path("fault.fault")
                        .and_then(|f| f.xsi_type.clone())
                        .unwrap_or_default();
                    missing.push((path, fault));
                }
                _ => {}
            }
        }
        if let Some(obj) = obj {
            out.push(ObjectContent {
                obj,
                props,
                missing,
            });
        }
    }
}
