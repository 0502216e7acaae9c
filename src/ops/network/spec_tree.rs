//! Editing vSphere data objects as decoded trees, and writing them back.
//!
//! Network changes are read-merge-send: the current spec is read, only the settings a
//! command names are replaced, and the whole object goes back. Working on the decoded
//! tree (not a typed copy) keeps every field ceso does not model — LACP, offload,
//! vendor settings — exactly as the server had it. Element order matters to ESXi (it
//! validates against the WSDL sequence), so insertions follow each type's field order.

use crate::vim::{Node, Request};

/// A leaf element with text.
pub fn leaf(name: &str, value: impl ToString) -> Node {
    Node {
        name: name.to_string().into(),
        text: value.to_string(),
        ..Node::default()
    }
}

/// An element with children (and an xsi:type where the slot is polymorphic).
pub fn object(name: &str, xsi_type: Option<&str>, children: Vec<Node>) -> Node {
    Node {
        name: name.to_string().into(),
        xsi_type: xsi_type.map(str::to_string),
        children,
        ..Node::default()
    }
}

/// Replace the child called `child.name` (all of them, for arrays) or insert it where
/// `order` (the type's WSDL field order) puts it.
pub fn put(node: &mut Node, order: &[&str], child: Node) {
    put_all(node, order, &child.name.clone(), vec![child]);
}

/// Replace every child called `name` by `values` (an array field), in WSDL position.
pub fn put_all(node: &mut Node, order: &[&str], name: &str, values: Vec<Node>) {
    let at = node
        .children
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| insertion_point(node, order, name));
    node.children.retain(|c| c.name != name);
    let at = at.min(node.children.len());
    node.children.splice(at..at, values);
}

fn insertion_point(node: &Node, order: &[&str], name: &str) -> usize {
    let rank = |n: &str| order.iter().position(|o| *o == n).unwrap_or(usize::MAX);
    let want = rank(name);
    node.children
        .iter()
        .position(|c| rank(&c.name) > want)
        .unwrap_or(node.children.len())
}

pub fn remove(node: &mut Node, name: &str) {
    node.children.retain(|c| c.name != name);
}

/// The child called `name`, created empty (in WSDL position) when missing.
pub fn child_mut<'a>(
    node: &'a mut Node,
    order: &[&str],
    name: &str,
    xsi_type: Option<&str>,
) -> &'a mut Node {
    if node.child(name).is_none() {
        put(node, order, object(name, xsi_type, Vec::new()));
    }
    let at = node
        .children
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_default();
    &mut node.children[at]
}

/// Write `node` into a request under `name` (its own name is ignored), children as
/// they are. `xsi_type` overrides the node's own type (a ConfigInfo sent as a ConfigSpec).
pub fn write(req: &mut Request, name: &str, xsi_type: Option<&str>, node: &Node) {
    let ty = xsi_type.or(node.xsi_type.as_deref());
    if let Some(moref) = node.as_moref() {
        req.moref(name, &moref);
    } else if node.children.is_empty() && ty.is_none_or(|t| t.starts_with("xsd:")) {
        match ty {
            Some(t) => req.typed_text(name, t, &node.text),
            None => req.text(name, &node.text),
        };
    } else {
        req.nest(name, ty, |r| {
            for c in &node.children {
                write(r, &c.name, None, c);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_and_inserts_in_wsdl_order() {
        let order = ["a", "b", "c", "d"];
        let mut n = object("x", None, vec![leaf("a", 1), leaf("c", 3)]);
        put(&mut n, &order, leaf("d", 4));
        put(&mut n, &order, leaf("b", 2));
        put(&mut n, &order, leaf("a", 9));
        let names: Vec<_> = n
            .children
            .iter()
            .map(|c| (&*c.name, c.text.as_str()))
            .collect();
        assert_eq!(names, [("a", "9"), ("b", "2"), ("c", "3"), ("d", "4")]);
    }

    #[test]
    fn put_all_replaces_an_array_field() {
        let order = ["activeNic", "standbyNic"];
        let mut n = object(
            "nicOrder",
            None,
            vec![
                leaf("activeNic", "vmnic0"),
                leaf("activeNic", "vmnic1"),
                leaf("standbyNic", "vmnic2"),
            ],
        );
        put_all(
            &mut n,
            &order,
            "activeNic",
            vec![leaf("activeNic", "vmnic3")],
        );
        let names: Vec<_> = n.children.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(names, ["vmnic3", "vmnic2"]);
        put_all(&mut n, &order, "standbyNic", vec![]);
        assert_eq!(n.children.len(), 1);
    }
}
