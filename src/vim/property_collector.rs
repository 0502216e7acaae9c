//! Bulk property reads: one RetrievePropertiesEx over a ContainerView with explicit
//! paths, following continuation tokens. Never one round trip per object.

use std::collections::HashMap;

use super::client::Client;
use super::decode;
use super::envelope::{Envelope, Request};
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
#[derive(Debug, Clone, Copy)]
pub struct PropertySpec<'a> {
    pub kind: &'a str,
    pub paths: &'a [&'a str],
}

/// References to follow from listed objects, and what they may be, to read their names
/// in the same call (`Client::collect_named`).
#[derive(Debug, Clone, Copy)]
pub struct NamesVia<'a> {
    /// Properties of the listed objects that hold references (one or a list).
    pub paths: &'a [&'a str],
    /// The types those references have; a supertype (ComputeResource, Network) also
    /// matches its subtypes.
    pub kinds: &'a [&'a str],
}

/// A `name` read of each of these types.
fn name_specs<'a>(kinds: &[&'a str]) -> Vec<PropertySpec<'a>> {
    kinds
        .iter()
        .map(|kind| PropertySpec {
            kind,
            paths: &["name"],
        })
        .collect()
}

/// Moref → `name` of objects read with a `name` path.
pub fn name_map(objects: Vec<ObjectContent>) -> HashMap<MoRef, String> {
    objects
        .into_iter()
        .map(|o| {
            let name = o.str("name").unwrap_or_default().to_string();
            (o.obj, name)
        })
        .collect()
}

/// Objects per page asked of the server (`RetrieveOptions.maxObjects`). Pages are decoded
/// as they stream, so this bounds the server's work and each answer's size, not ceso's
/// memory; large enough that round trips stay few on a slow link.
pub const PAGE_OBJECTS: usize = 1000;

impl Client {
    /// Read `paths` of every object of the given types below `root` (recursive), via a
    /// ContainerView that is destroyed afterwards, whatever happened.
    pub async fn collect_view(
        &self,
        root: &MoRef,
        specs: &[PropertySpec<'_>],
    ) -> Result<Vec<ObjectContent>, Error> {
        self.collect_view_with(root, specs, Vec::new, Vec::push)
            .await
    }

    /// `collect_view`, handing each object to `add` as soon as it is decoded, so the
    /// caller keeps only what it needs. `init` makes the accumulator (again if the
    /// session expired mid-way and the read starts over).
    pub async fn collect_view_with<T: Send>(
        &self,
        root: &MoRef,
        specs: &[PropertySpec<'_>],
        init: impl Fn() -> T + Send + Sync,
        add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        if *root == self.content().root_folder {
            return self.collect_inventory(specs, init, add).await;
        }
        self.container_view_with(root, specs, init, add).await
    }

    /// `collect_view` through a ContainerView even below the root folder: the server
    /// then checks the types (CreateContainerView refuses an unknown one), which a
    /// traversal would silently match with nothing. For types a user typed.
    pub async fn collect_checked(
        &self,
        root: &MoRef,
        specs: &[PropertySpec<'_>],
    ) -> Result<Vec<ObjectContent>, Error> {
        self.container_view_with(root, specs, Vec::new, Vec::push)
            .await
    }

    async fn container_view_with<T: Send>(
        &self,
        root: &MoRef,
        specs: &[PropertySpec<'_>],
        init: impl Fn() -> T + Send + Sync,
        add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        let view = self.create_view(root, specs).await?;
        let result = self
            .retrieve_pages(self.view_read(&view, specs), init, add)
            .await;
        let _ = self.call(Request::new("DestroyView", &view)).await;
        result
    }

    /// A recursive ContainerView of `root` holding the types of `specs`.
    async fn create_view(&self, root: &MoRef, specs: &[PropertySpec<'_>]) -> Result<MoRef, Error> {
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
        self.call_returnval(req)
            .await?
            .and_then(|n| n.as_moref())
            .ok_or_else(|| Error::Decode("CreateContainerView returned no view".into()))
    }

    /// RetrievePropertiesEx of `specs` over every object of a ContainerView.
    fn view_read(&self, view: &MoRef, specs: &[PropertySpec<'_>]) -> Request {
        self.view_read_via(view, specs, "", &[])
    }

    /// `view_read`, also stepping from each object of `kind` in the view along `paths`
    /// (`specs` then say what to read of the objects reached).
    fn view_read_via(
        &self,
        view: &MoRef,
        specs: &[PropertySpec<'_>],
        kind: &str,
        paths: &[&str],
    ) -> Request {
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
                        for path in paths {
                            r.nest("selectSet", Some("TraversalSpec"), |r| {
                                r.text("name", format!("{kind}.{path}"))
                                    .text("type", kind)
                                    .text("path", path)
                                    .text("skip", false);
                            });
                        }
                    },
                );
            });
        });
        write_options(&mut req);
        req
    }

    /// The whole inventory in one round trip: a traversal from the root folder reaches
    /// every managed entity a recursive ContainerView of it would hold, without the
    /// CreateContainerView and DestroyView calls (2 of a listing's 3 round trips). Reads
    /// of VMs, hosts, compute resources and datacenters take a lean walk (see
    /// `VM_HOST_TRAVERSAL`).
    async fn collect_inventory<T: Send>(
        &self,
        specs: &[PropertySpec<'_>],
        init: impl Fn() -> T + Send + Sync,
        add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        if self.reads_session_views(specs) {
            return self.collect_in_session_view(specs, init, add).await;
        }
        let root = self.content().root_folder.clone();
        let mut req = Request::new("RetrievePropertiesEx", &self.content().property_collector);
        req.nest("specSet", None, |r| {
            write_prop_specs(r, specs);
            r.nest("objectSet", None, |r| {
                r.moref("obj", &root).text("skip", true);
                write_traversal(r, traversal_for(specs));
            });
        });
        write_options(&mut req);
        self.retrieve_pages(req, init, add).await
    }

    /// The whole inventory through a ContainerView of the root folder that the cached
    /// session keeps: one call per read once it exists, and the server reads a view it
    /// maintains instead of walking the inventory (vCenter's recommended way; stock
    /// vcsim also walks traversals slowly). The view is made on the first read of a
    /// session and lives as long as the session; a view that is gone (the session was
    /// renewed, or someone destroyed it) is made again, once.
    async fn collect_in_session_view<T: Send>(
        &self,
        specs: &[PropertySpec<'_>],
        init: impl Fn() -> T + Send + Sync,
        add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        self.read_session_view(specs, |view| self.view_read(view, specs), init, add)
            .await
    }

    /// `read(view)` over the session's view holding the types of `specs`.
    async fn read_session_view<T: Send>(
        &self,
        specs: &[PropertySpec<'_>],
        read: impl Fn(&MoRef) -> Request + Send,
        init: impl Fn() -> T + Send + Sync,
        mut add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        let key = view_key(specs);
        let (view, made) = self.session_view_for(&key, specs).await?;
        match self.retrieve_pages(read(&view), &init, &mut add).await {
            Err(e) if !made && e.fault_name() == Some("ManagedObjectNotFound") => {
                super::debug::note(&format!(
                    "the session's view {view} is gone; making it again"
                ));
                self.forget_session_view(&key, &view);
                let (view, _) = self.session_view_for(&key, specs).await?;
                self.retrieve_pages(read(&view), &init, &mut add).await
            }
            other => other,
        }
    }

    /// Every object of `spec.kind` in the inventory, and the `name` of each object that
    /// their `via.paths` refer to (a host's cluster, datastores and networks), in one
    /// call: on the session's view, a traversal step along each path brings the named
    /// objects with the listed ones. Without a kept view (no session cache, or types a
    /// view does not keep), the names are a second call.
    pub async fn collect_named(
        &self,
        spec: PropertySpec<'_>,
        via: NamesVia<'_>,
    ) -> Result<(Vec<ObjectContent>, HashMap<MoRef, String>), Error> {
        if !self.reads_session_views(std::slice::from_ref(&spec)) {
            let root = self.content().root_folder.clone();
            let objects = self.collect_view(&root, &[spec]).await?;
            let refs: Vec<MoRef> = objects
                .iter()
                .flat_map(|o| via.paths.iter().flat_map(|p| o.morefs(p)))
                .collect();
            let names = self.names_of(&refs).await?;
            return Ok((objects, names));
        }
        let mut all = vec![spec];
        all.extend(name_specs(via.kinds));
        let (listed, named) = self
            .read_session_view(
                std::slice::from_ref(&spec),
                |view| self.view_read_via(view, &all, spec.kind, via.paths),
                || (Vec::new(), Vec::new()),
                |(listed, named): &mut (Vec<ObjectContent>, Vec<ObjectContent>), o| {
                    if o.obj.kind == spec.kind {
                        listed.push(o);
                    } else {
                        named.push(o);
                    }
                },
            )
            .await?;
        Ok((listed, name_map(named)))
    }

    /// Whether reads of `specs` over the whole inventory go through a view the session
    /// keeps (see `collect_in_session_view`).
    fn reads_session_views(&self, specs: &[PropertySpec<'_>]) -> bool {
        self.keeps_session()
            && self.content().view_manager.is_some()
            && specs.iter().all(|s| VIEW_KINDS.contains(&s.kind))
    }

    /// The session's view for `key`, made and kept if it has none (true: made now).
    /// Concurrent reads wait for one another's making instead of each making one.
    async fn session_view_for(
        &self,
        key: &str,
        specs: &[PropertySpec<'_>],
    ) -> Result<(MoRef, bool), Error> {
        if let Some(view) = self.session_view(key) {
            return Ok((view, false));
        }
        let _making = self.making_view().await;
        if let Some(view) = self.session_view(key) {
            return Ok((view, false));
        }
        let root = self.content().root_folder.clone();
        let view = self.create_view(&root, specs).await?;
        self.keep_session_view(key, &view).await;
        Ok((view, true))
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
        write_options(&mut req);
        self.retrieve_pages(req, Vec::new, Vec::push).await
    }

    /// `name` of each object (mixed kinds allowed), in one RetrievePropertiesEx.
    pub async fn names_of(&self, objects: &[MoRef]) -> Result<HashMap<MoRef, String>, Error> {
        let mut kinds: Vec<&str> = objects.iter().map(|m| m.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let specs = name_specs(&kinds);
        let mut unique = objects.to_vec();
        unique.sort();
        unique.dedup();
        Ok(name_map(self.retrieve(&unique, &specs).await?))
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
    /// vCenter pages large results (vcsim only with the test bed's -page-size or
    /// maxObjects). An expired session, as a fault or as `missingSet` NotAuthenticated
    /// (some servers report it per property), is renewed and the read starts over once.
    async fn retrieve_pages<T: Send>(
        &self,
        first: Request,
        init: impl Fn() -> T + Send + Sync,
        mut add: impl FnMut(&mut T, ObjectContent) + Send,
    ) -> Result<T, Error> {
        let first = first.finish();
        let seen = self.session_id().await;
        match self.retrieve_pages_once(&first, &init, &mut add).await {
            Err(e) if e.is_not_authenticated() => {
                self.relogin(seen).await?;
                self.retrieve_pages_once(&first, &init, &mut add).await
            }
            other => other,
        }
    }

    async fn retrieve_pages_once<T: Send>(
        &self,
        first: &Envelope,
        init: &(impl Fn() -> T + Send + Sync),
        add: &mut (impl FnMut(&mut T, ObjectContent) + Send),
    ) -> Result<T, Error> {
        let mut acc = init();
        let mut next: Option<Envelope> = None;
        let mut objects = 0usize;
        loop {
            let envelope = next.as_ref().unwrap_or(first);
            let mut sink = |node: Node| -> Result<(), Error> {
                objects += 1;
                if objects > MAX_OBJECTS {
                    return Err(too_many_objects());
                }
                if let Some(object) = object_content(node) {
                    check_numbers(&object)?;
                    if object
                        .missing
                        .iter()
                        .any(|(_, fault)| fault == "NotAuthenticated")
                    {
                        return Err(Error::Fault {
                            name: "NotAuthenticated".into(),
                            message: "the session is not authenticated".into(),
                            object: Some(object.obj),
                            detail: Box::default(),
                        });
                    }
                    add(&mut acc, object);
                }
                Ok(())
            };
            let response = self
                .send_split(envelope, Some(decode::PROPERTY_PAGE), &mut sink)
                .await?;
            let token = response
                .child("returnval")
                .and_then(|r| r.text_of("token"))
                .filter(|t| !t.is_empty());
            match token {
                Some(token) => {
                    let mut req = Request::new(
                        "ContinueRetrievePropertiesEx",
                        &self.content().property_collector,
                    );
                    req.text("token", token);
                    next = Some(req.finish());
                }
                None => return Ok(acc),
            }
        }
    }
}

/// Objects one property read may return, all pages together. What a caller keeps per
/// object (a few hundred bytes for a `vm list` row) is what grows with a server that
/// streams minimal objects: the byte limit alone let 256 MiB of them become ~370 MB.
/// Far above an honest answer: vCenter holds at most about 45,000 registered VMs.
pub const MAX_OBJECTS: usize = 100_000;

fn too_many_objects() -> Error {
    Error::Decode(format!(
        "the server sent more than {MAX_OBJECTS} objects for one property read, ceso's limit \
         (vCenter holds at most about 45,000 VMs; is this a real vSphere SDK?)"
    ))
}

/// A value the server typed as an XML Schema number or boolean must be one that fits
/// the type: read later through `Node::as_i64`, a bad one would silently become None
/// (and a caller's default, e.g. 0 CPUs). Missing properties stay missing.
pub fn check_numbers(object: &ObjectContent) -> Result<(), Error> {
    for (path, value) in &object.props {
        if let Some((ty, text)) = misfit(value) {
            return Err(Error::Decode(format!(
                "{} property {path}: '{}' is not a valid {ty}",
                object.obj,
                text.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// The first scalar in `node` whose text does not fit its xsi:type (depth is bounded by
/// the decoder, so recursion is too).
fn misfit(node: &Node) -> Option<(&str, &str)> {
    let text = node.text.trim();
    let fits = match node.xsi_type.as_deref() {
        Some("xsd:byte") => text.parse::<i8>().is_ok(),
        Some("xsd:short") => text.parse::<i16>().is_ok(),
        Some("xsd:int") => text.parse::<i32>().is_ok(),
        Some("xsd:long") => text.parse::<i64>().is_ok(),
        Some("xsd:float" | "xsd:double") => text.parse::<f64>().is_ok(),
        Some("xsd:boolean") => node.as_bool().is_some(),
        _ => true,
    };
    if !fits {
        return node.xsi_type.as_deref().map(|ty| (ty, text));
    }
    node.children.iter().find_map(misfit)
}

/// One TraversalSpec: (name, type, path, the specs followed from what it reaches).
type Step = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// Inventory traversal. Folders hold datacenters, folders, VMs, vApps, compute
/// resources, datastores and networks; datacenters their four folders; compute resources
/// their hosts and root pool; pools (vApps are pools) their child pools and VMs.
const INVENTORY_TRAVERSAL: &[Step] = &[
    (
        "folder",
        "Folder",
        "childEntity",
        &[
            "folder", "dcVm", "dcHost", "dcDs", "dcNet", "crHost", "crRp", "rpRp", "rpVm",
        ],
    ),
    ("dcVm", "Datacenter", "vmFolder", &["folder"]),
    ("dcHost", "Datacenter", "hostFolder", &["folder"]),
    ("dcDs", "Datacenter", "datastoreFolder", &["folder"]),
    ("dcNet", "Datacenter", "networkFolder", &["folder"]),
    ("crHost", "ComputeResource", "host", &[]),
    ("crRp", "ComputeResource", "resourcePool", &["rpRp", "rpVm"]),
    ("rpRp", "ResourcePool", "resourcePool", &["rpRp", "rpVm"]),
    ("rpVm", "ResourcePool", "vm", &[]),
];

/// VMs and hosts only, in a walk that stays linear on servers that ignore
/// `TraversalSpec.type` (stock vcsim follows every step from every object: there the
/// full traversal's pool step, path `resourcePool`, also leaves each VM for its pool and
/// the pool's every VM again, which is quadratic: 113 s at 2,500 VMs on a loaded test
/// machine, where this took 1.2 s). No path below is also a field of a type it would
/// wrongly reach: VMs come from the VM folders (templates too), from hosts' `vm` (VMs of
/// nested vApps, every VM a host runs) and from vApps' `vm`; hosts from compute
/// resources. Real vCenter applies each step by type and serves the same objects (each
/// once) as a ContainerView.
const VM_HOST_TRAVERSAL: &[Step] = &[
    (
        "folder",
        "Folder",
        "childEntity",
        &["folder", "dcVm", "dcHost", "crHost", "vappVm"],
    ),
    ("dcVm", "Datacenter", "vmFolder", &["folder"]),
    ("dcHost", "Datacenter", "hostFolder", &["folder"]),
    ("crHost", "ComputeResource", "host", &["hostVm"]),
    ("hostVm", "HostSystem", "vm", &[]),
    ("vappVm", "VirtualApp", "vm", &[]),
];

/// Hosts, compute resources, datacenters: `VM_HOST_TRAVERSAL` without the steps to VMs
/// (the server would walk them all to return none).
const HOST_TRAVERSAL: &[Step] = &[
    (
        "folder",
        "Folder",
        "childEntity",
        &["folder", "dcHost", "crHost"],
    ),
    ("dcHost", "Datacenter", "hostFolder", &["folder"]),
    ("crHost", "ComputeResource", "host", &[]),
];

/// What the lean walks reach whole besides VMs: every datacenter, compute resource and
/// host (not every folder: they skip the datastore and network folders).
const LEAN_KINDS: &[&str] = &[
    "VirtualMachine",
    "HostSystem",
    "ComputeResource",
    "ClusterComputeResource",
    "Datacenter",
];

/// A lean walk when only what it reaches is read, else the whole inventory's.
fn traversal_for(specs: &[PropertySpec<'_>]) -> &'static [Step] {
    if !specs.iter().all(|s| LEAN_KINDS.contains(&s.kind)) {
        INVENTORY_TRAVERSAL
    } else if specs.iter().any(|s| s.kind == "VirtualMachine") {
        VM_HOST_TRAVERSAL
    } else {
        HOST_TRAVERSAL
    }
}

fn write_traversal(r: &mut Request, steps: &[Step]) {
    for (name, kind, path, next) in steps {
        r.nest("selectSet", Some("TraversalSpec"), |r| {
            r.text("name", name)
                .text("type", kind)
                .text("path", path)
                .text("skip", false);
            for spec in *next {
                r.nest("selectSet", Some("SelectionSpec"), |r| {
                    r.text("name", spec);
                });
            }
        });
    }
}

/// Types read through a view the session keeps. vCenter keeps every view current; stock
/// vcsim 0.24.2 adds a new object to existing views only if its parent already lists it
/// when the object is registered, which holds for VMs and hosts (folders) but not for
/// resource pools, so other types keep the traversal: a kept view must never miss an
/// object a command just made.
const VIEW_KINDS: &[&str] = &["VirtualMachine", "HostSystem"];

/// What a session view holds: its types, in a stable order.
fn view_key(specs: &[PropertySpec<'_>]) -> String {
    let mut kinds: Vec<&str> = specs.iter().map(|s| s.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds.join(",")
}

fn write_options(req: &mut Request) {
    req.nest("options", None, |r| {
        r.text("maxObjects", PAGE_OBJECTS);
    });
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
    out.extend(
        result
            .children
            .into_iter()
            .filter(|c| c.name == "objects")
            .filter_map(object_content),
    );
}

/// One `objects` element (ObjectContent) as sent; None without an `obj`.
pub fn object_content(object: Node) -> Option<ObjectContent> {
    let mut obj = None;
    let mut props = Vec::new();
    let mut missing = Vec::new();
    for part in object.children {
        match &*part.name {
            "obj" => obj = part.as_moref(),
            "propSet" => {
                let mut name = String::new();
                let mut val = Node::default();
                for field in part.children {
                    match &*field.name {
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
    Some(ObjectContent {
        obj: obj?,
        props,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(val: &str) -> ObjectContent {
        let xml = format!(
            r#"<objects xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><obj type="VirtualMachine">vm-1</obj><propSet><name>p</name>{val}</propSet></objects>"#
        );
        object_content(crate::vim::xml::parse(&xml).unwrap()).unwrap()
    }

    #[test]
    fn vm_and_host_reads_take_the_walk_that_stays_linear_on_stock_vcsim() {
        let walk = |kinds: &[&'static str]| {
            let specs: Vec<_> = kinds
                .iter()
                .map(|&kind| PropertySpec { kind, paths: &[] })
                .collect();
            traversal_for(&specs)
        };
        assert_eq!(walk(&["VirtualMachine", "HostSystem"]), VM_HOST_TRAVERSAL);
        assert_eq!(walk(&["VirtualMachine"]), VM_HOST_TRAVERSAL);
        assert_eq!(walk(&["HostSystem"]), HOST_TRAVERSAL);
        assert_eq!(
            walk(&["ClusterComputeResource", "HostSystem", "VirtualMachine"]),
            VM_HOST_TRAVERSAL
        );
        assert_eq!(walk(&["Datacenter"]), HOST_TRAVERSAL);
        assert_eq!(walk(&["Folder", "ResourcePool"]), INVENTORY_TRAVERSAL);
        assert_eq!(walk(&["VirtualMachine", "Datastore"]), INVENTORY_TRAVERSAL);
        // A SelectionSpec naming no step of its traversal is InvalidArgument on vCenter.
        for steps in [VM_HOST_TRAVERSAL, HOST_TRAVERSAL, INVENTORY_TRAVERSAL] {
            for (_, _, _, next) in steps {
                for name in *next {
                    assert!(steps.iter().any(|s| s.0 == *name), "{name}");
                }
            }
        }
    }

    #[test]
    fn typed_numbers_must_fit_their_type() {
        let fits = [
            r#"<val xsi:type="xsd:int">2147483647</val>"#,
            r#"<val xsi:type="xsd:long"> -9223372036854775808 </val>"#,
            r#"<val xsi:type="xsd:boolean">true</val>"#,
            r#"<val xsi:type="xsd:string">99999999999999999999</val>"#,
            r#"<val xsi:type="VirtualHardware"><numCPU>x</numCPU></val>"#,
        ];
        for val in fits {
            assert!(check_numbers(&object(val)).is_ok(), "{val}");
        }
        let misfits = [
            (
                r#"<val xsi:type="xsd:int">99999999999999999999</val>"#,
                "xsd:int",
            ),
            (r#"<val xsi:type="xsd:int">2147483648</val>"#, "xsd:int"),
            (r#"<val xsi:type="xsd:short">70000</val>"#, "xsd:short"),
            (r#"<val xsi:type="xsd:long">1e3</val>"#, "xsd:long"),
            (r#"<val xsi:type="xsd:boolean">yes</val>"#, "xsd:boolean"),
            (
                r#"<val xsi:type="ArrayOfInt"><int xsi:type="xsd:int">1</int><int xsi:type="xsd:int">-</int></val>"#,
                "xsd:int",
            ),
        ];
        for (val, ty) in misfits {
            let err = check_numbers(&object(val)).unwrap_err().to_string();
            assert!(
                err.contains("VirtualMachine:vm-1 property p:") && err.contains(ty),
                "{err}"
            );
        }
    }
}
