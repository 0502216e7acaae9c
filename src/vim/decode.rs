//! Bounded XML decoding of SOAP answers, from a byte slice or while the body downloads.
//!
//! A broken or hostile server must not make ceso use unbounded memory: every answer is
//! decoded under [`Limits`] (nesting depth, size of one XML token, elements and text kept
//! in one tree, size of the whole body), and a DOCTYPE is refused outright (SOAP forbids
//! DTDs; entity expansion is the classic XML bomb). Property-collector pages are cut at
//! [`PROPERTY_PAGE`]: each `objects` element goes to a sink as soon as it is complete, so
//! a page of 50,000 VMs is never held whole, neither as text nor as a tree.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use quick_xml::errors::SyntaxError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};
use quick_xml::reader::NsReader;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, ReadBuf};

use super::error::Error;
use super::xml::Node;

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const MIB: usize = 1024 * 1024;

/// What one SOAP answer may cost. The defaults are far above anything vSphere sends
/// (its data objects nest about 20 deep; a paged RetrievePropertiesEx answer is a few MB)
/// and keep a hostile answer within a few tens of MB of memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Elements open at once.
    pub max_depth: usize,
    /// Bytes of one XML token (a tag or a run of text): bounds the reader's buffer.
    pub max_token: usize,
    /// Elements kept in one tree: a whole answer, or one object of a property page.
    pub max_nodes: usize,
    /// Bytes of text kept in one tree.
    pub max_text: usize,
    /// Bytes of one whole answer, streamed or not.
    pub max_body: u64,
}

pub const LIMITS: Limits = Limits {
    max_depth: 256,
    max_token: 16 * MIB,
    max_nodes: 250_000,
    max_text: 32 * MIB,
    max_body: 256 * MIB as u64,
};

/// Where a streamed answer is cut: elements `name` under `parent` at `depth` (root 0).
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub depth: usize,
    pub parent: &'static str,
    pub name: &'static str,
}

/// `Envelope > Body > RetrievePropertiesExResponse > returnval > objects`.
pub const PROPERTY_PAGE: Split = Split {
    depth: 4,
    parent: "returnval",
    name: "objects",
};

/// `Envelope > Body > QueryPerfResponse > returnval`: one object's statistics.
pub const PERF_ENTITY: Split = Split {
    depth: 3,
    parent: "QueryPerfResponse",
    name: "returnval",
};

/// Receives the split-off elements, in document order.
pub type Sink<'a> = &'a mut (dyn FnMut(Node) -> Result<(), Error> + Send);

/// Why a streamed decode stopped.
#[derive(Debug)]
pub enum Failure {
    /// The answer is not acceptable XML (or the sink refused an element).
    Answer(Error),
    /// Reading the body failed (the transport's error is inside).
    Io(Arc<io::Error>),
}

/// Decode a whole document held in memory (tests, samples, small answers).
pub fn parse_bytes(
    xml: &[u8],
    limits: &Limits,
    split: Option<Split>,
    sink: Sink<'_>,
) -> Result<Node, Error> {
    if xml.len() as u64 > limits.max_body {
        return Err(too_large_body(limits));
    }
    if xml.starts_with(GZIP_MAGIC) {
        return Err(gzip_body());
    }
    let mut reader = NsReader::from_reader(xml);
    let mut builder = Builder::new(limits, split, sink);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(pos, &e))?;
        if (reader.buffer_position() - pos) as usize > limits.max_token {
            return Err(too_large_token(limits));
        }
        if let Some(root) = builder.event(reader.resolver(), event, pos)? {
            return Ok(root);
        }
    }
}

/// Decode a document while it is read from `body`.
pub async fn parse_stream<R: AsyncBufRead + Unpin>(
    mut body: R,
    limits: &Limits,
    split: Option<Split>,
    sink: Sink<'_>,
) -> Result<Node, Failure> {
    let head = body
        .fill_buf()
        .await
        .map_err(|e| Failure::Io(Arc::new(e)))?;
    if head.starts_with(GZIP_MAGIC) {
        return Err(Failure::Answer(gzip_body()));
    }
    let mut reader = NsReader::from_reader(Bounded::new(body, limits));
    let mut builder = Builder::new(limits, split, sink);
    let mut buf = Vec::new();
    loop {
        // A fast sender never makes the body wait, so give the runtime (and the call's
        // timeout) a turn now and then.
        tokio::task::consume_budget().await;
        buf.clear();
        reader.get_mut().next_token();
        let pos = reader.buffer_position();
        let event = match reader.read_event_into_async(&mut buf).await {
            Ok(event) => event,
            Err(quick_xml::Error::Io(io)) => {
                return Err(match io.get_ref().and_then(|e| e.downcast_ref::<Limit>()) {
                    Some(limit) => Failure::Answer(Error::Decode(limit.0.clone())),
                    None => Failure::Io(io),
                });
            }
            Err(e) => return Err(Failure::Answer(xml_error(pos, &e))),
        };
        // The last chunk of a token is only counted once consumed: check it too.
        if let Err(io) = reader.get_ref().check() {
            return Err(Failure::Answer(Error::Decode(io.to_string())));
        }
        if let Some(root) = builder
            .event(reader.resolver(), event, pos)
            .map_err(Failure::Answer)?
        {
            // Shrink the reader's buffer before the caller goes on with the tree.
            drop(buf);
            return Ok(root);
        }
    }
}

/// The first bytes of a gzip stream (RFC 1952).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Compressed bytes without a Content-Encoding header: say so, not "not valid UTF-8".
fn gzip_body() -> Error {
    Error::Decode(
        "the answer is gzip-compressed data without a Content-Encoding header, \
         although ceso did not ask for compression (a misconfigured proxy or server?)"
            .into(),
    )
}

fn xml_error(pos: u64, e: &quick_xml::Error) -> Error {
    match e {
        quick_xml::Error::Encoding(_) => Error::Decode(format!(
            "the answer is not valid UTF-8 (near byte {pos}); SOAP answers must be UTF-8"
        )),
        // Every Unclosed* error means the input stopped inside markup.
        quick_xml::Error::Syntax(syntax) if !matches!(syntax, SyntaxError::InvalidBangMarkup) => {
            Error::Decode(format!(
                "XML document ended early, inside markup at byte {pos} ({syntax})"
            ))
        }
        _ => Error::Decode(format!("malformed XML at byte {pos}: {e}")),
    }
}

fn too_large_token(limits: &Limits) -> Error {
    Error::Decode(format!(
        "an XML tag or text in the answer is larger than {} (ceso's limit)",
        size(limits.max_token as u64)
    ))
}

fn too_large_body(limits: &Limits) -> Error {
    Error::Decode(format!(
        "the answer is larger than {}, ceso's limit for one SOAP response \
         (vCenter pages large results; this server does not)",
        size(limits.max_body)
    ))
}

fn size(bytes: u64) -> String {
    let mib = MIB as u64;
    if bytes >= mib && bytes.is_multiple_of(mib) {
        format!("{} MiB", bytes / mib)
    } else {
        format!("{bytes} bytes")
    }
}

/// Builds trees from reader events, within the limits, cutting at the split.
struct Builder<'a, 's> {
    limits: &'a Limits,
    split: Option<Split>,
    sink: Sink<'s>,
    stack: Vec<Node>,
    /// Elements and text bytes currently held (split-off elements are subtracted).
    nodes: usize,
    text: usize,
}

impl<'a, 's> Builder<'a, 's> {
    fn new(limits: &'a Limits, split: Option<Split>, sink: Sink<'s>) -> Self {
        Self {
            limits,
            split,
            sink,
            stack: Vec::new(),
            nodes: 0,
            text: 0,
        }
    }

    /// Apply one event; returns the root once the document element closes.
    fn event(
        &mut self,
        resolver: &NamespaceResolver,
        event: Event<'_>,
        pos: u64,
    ) -> Result<Option<Node>, Error> {
        match event {
            Event::Start(start) => {
                let node = self.open(resolver, &start)?;
                self.stack.push(node);
            }
            Event::Empty(start) => {
                let node = self.open(resolver, &start)?;
                return self.close(node);
            }
            Event::End(_) => {
                let node = self
                    .stack
                    .pop()
                    .ok_or_else(|| Error::Decode("unbalanced XML end tag".into()))?;
                return self.close(node);
            }
            Event::Text(text) => self.push_text(&text.xml10_content())?,
            Event::CData(data) => self.push_text(&data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => named_entity(&reference).ok_or_else(|| {
                        Error::Decode(format!(
                            "unknown XML entity &{}; at byte {pos}",
                            reference.chars().take(40).collect::<String>()
                        ))
                    })?,
                    Err(e) => return Err(xml_error(pos, &e)),
                };
                self.push_text(resolved.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => {
                return Err(Error::Decode(
                    "the answer carries a DOCTYPE; SOAP forbids DTDs and ceso refuses them \
                     (entity expansion could exhaust memory)"
                        .into(),
                ));
            }
            Event::Eof => return Err(Error::Decode("XML document ended early".into())),
            _ => {}
        }
        Ok(None)
    }

    fn open(
        &mut self,
        resolver: &NamespaceResolver,
        start: &BytesStart<'_>,
    ) -> Result<Node, Error> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(Error::Decode(format!(
                "the answer nests XML elements deeper than {} levels",
                self.limits.max_depth
            )));
        }
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(Error::Decode(format!(
                "the answer holds more than {} XML elements in one object",
                self.limits.max_nodes
            )));
        }
        // Indentation between elements is not content: drop it once a child shows up.
        if let Some(parent) = self.stack.last_mut()
            && !parent.text.is_empty()
            && parent.text.trim().is_empty()
        {
            self.text -= parent.text.len();
            parent.text = String::new();
        }
        element(resolver, start)
    }

    fn close(&mut self, node: Node) -> Result<Option<Node>, Error> {
        if let Some(split) = self.split
            && self.stack.len() == split.depth
            && node.name == split.name
            && self.stack.last().is_some_and(|p| p.name == split.parent)
        {
            let (nodes, text) = weight(&node);
            self.nodes -= nodes;
            self.text -= text;
            (self.sink)(node)?;
            return Ok(None);
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.children.push(node);
                Ok(None)
            }
            None => Ok(Some(node)),
        }
    }

    fn push_text(&mut self, text: &str) -> Result<(), Error> {
        let Some(top) = self.stack.last_mut() else {
            return Ok(());
        };
        if !top.children.is_empty() && text.trim().is_empty() {
            return Ok(());
        }
        self.text += text.len();
        if self.text > self.limits.max_text {
            return Err(Error::Decode(format!(
                "the answer holds more than {} of text in one object",
                size(self.limits.max_text as u64)
            )));
        }
        top.text.push_str(text);
        Ok(())
    }
}

/// Elements and text bytes of a tree (depth is bounded, so recursion is too).
fn weight(node: &Node) -> (usize, usize) {
    node.children
        .iter()
        .map(weight)
        .fold((1, node.text.len()), |(n, t), (cn, ct)| (n + cn, t + ct))
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

fn element(resolver: &NamespaceResolver, start: &BytesStart<'_>) -> Result<Node, Error> {
    let mut node = Node {
        name: start.local_name().as_ref().to_string(),
        ..Node::default()
    };
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(|e| Error::Decode(format!("bad XML attribute: {e}")))?;
        let (ns, local) = resolver.resolve_attribute(attr.key);
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| Error::Decode(format!("bad XML attribute value: {e}")))?;
        match (ns, local.as_ref()) {
            (ResolveResult::Bound(ns), "type") if ns.as_ref() == XSI_NS => {
                // Strip the prefix: `vim25:VirtualMachine` and `VirtualMachine` are the same
                // type, but `xsd:int` keeps its prefix so scalars stay recognisable.
                let ty = value.as_ref();
                let ty = match ty.split_once(':') {
                    Some(("xsd", _)) => ty,
                    Some((_, local)) => local,
                    None => ty,
                };
                node.xsi_type = Some(ty.to_string());
            }
            (ResolveResult::Unbound, "type") => node.type_attr = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(node)
}

/// A limit was hit while reading (carried inside an io::Error through the XML reader).
#[derive(Debug)]
struct Limit(String);

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Limit {}

/// A body reader that fails once one token or the whole body passes its limit, so the
/// XML reader's buffer never grows past `max_token`.
struct Bounded<R> {
    inner: R,
    limits: Limits,
    token: usize,
    total: u64,
}

impl<R> Bounded<R> {
    fn new(inner: R, limits: &Limits) -> Self {
        Self {
            inner,
            limits: *limits,
            token: 0,
            total: 0,
        }
    }

    /// The reader returned an event: the next token starts here.
    fn next_token(&mut self) {
        self.token = 0;
    }

    fn check(&self) -> io::Result<()> {
        let exceeded = if self.token > self.limits.max_token {
            too_large_token(&self.limits)
        } else if self.total > self.limits.max_body {
            too_large_body(&self.limits)
        } else {
            return Ok(());
        };
        let message = match exceeded {
            Error::Decode(m) => m,
            other => other.to_string(),
        };
        Err(io::Error::other(Limit(message)))
    }
}

impl<R: AsyncBufRead + Unpin> AsyncRead for Bounded<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let data = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = data.len().min(buf.remaining());
        buf.put_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl<R: AsyncBufRead + Unpin> AsyncBufRead for Bounded<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.token += amt;
        this.total += amt as u64;
        Pin::new(&mut this.inner).consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str, limits: &Limits) -> Result<Node, Error> {
        parse_bytes(xml.as_bytes(), limits, None, &mut |_| Ok(()))
    }

    fn decode_message(r: Result<Node, Error>) -> String {
        match r {
            Err(Error::Decode(m)) => m,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_the_limit() {
        let xml = "<a>".repeat(100_000);
        let message = decode_message(parse(&xml, &LIMITS));
        assert!(message.contains("deeper than 256"), "{message}");
        let ok = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert!(parse(&ok, &LIMITS).is_ok());
    }

    #[test]
    fn doctype_is_refused() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(decode_message(parse(xml, &LIMITS)).contains("DOCTYPE"));
    }

    #[test]
    fn invalid_utf8_is_named() {
        let mut xml = b"<a><b>ok".to_vec();
        xml.extend_from_slice(&[0xff, 0xfe]);
        xml.extend_from_slice(b"</b></a>");
        let message = decode_message(parse_bytes(&xml, &LIMITS, None, &mut |_| Ok(())));
        assert!(message.contains("not valid UTF-8"), "{message}");
    }

    #[test]
    fn element_and_text_budgets_hold_per_tree() {
        let limits = Limits {
            max_nodes: 10,
            max_text: 20,
            ..LIMITS
        };
        let many = format!("<r>{}</r>", "<x/>".repeat(10));
        assert!(decode_message(parse(&many, &limits)).contains("more than 10 XML elements"));
        let long = format!("<r>{}</r>", "y".repeat(21));
        assert!(decode_message(parse(&long, &limits)).contains("20 bytes of text"));
    }

    #[test]
    fn split_elements_go_to_the_sink_and_leave_the_budget() {
        // 3 objects of 4 elements each (17 elements in all) with a budget of 10: fine
        // when split, as at most 5 wrappers and one object are held at once.
        let limits = Limits {
            max_nodes: 10,
            ..LIMITS
        };
        let object = "<objects><obj>o</obj><p>1</p><q/></objects>";
        let xml = format!(
            "<Envelope><Body><R><returnval><token>t</token>{}</returnval></R></Body></Envelope>",
            object.repeat(3)
        );
        let mut seen = Vec::new();
        let root = parse_bytes(xml.as_bytes(), &limits, Some(PROPERTY_PAGE), &mut |n| {
            seen.push(n.text_of("obj").unwrap_or_default().to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["o", "o", "o"]);
        assert_eq!(root.str_at("Body.R.returnval.token"), Some("t"));
        assert!(root.path("Body.R.returnval.objects").is_none());
        assert!(
            parse(&xml, &limits).is_err(),
            "unsplit, the budget is exceeded"
        );
    }

    #[tokio::test]
    async fn a_stream_is_cut_at_the_token_and_body_limits() {
        let limits = Limits {
            max_token: 1000,
            max_body: 10_000,
            ..LIMITS
        };
        // Small chunks, as from the network.
        let chunked =
            |s: &str| tokio::io::BufReader::with_capacity(64, std::io::Cursor::new(s.to_string()));
        let long_text = format!("<a>{}</a>", "x".repeat(5000));
        let err = parse_stream(chunked(&long_text), &limits, None, &mut |_| Ok(()))
            .await
            .unwrap_err();
        assert!(matches!(&err, Failure::Answer(Error::Decode(m)) if m.contains("larger than")));
        let many = format!("<a>{}</a>", "<b>x</b>".repeat(5000));
        let err = parse_stream(chunked(&many), &limits, None, &mut |_| Ok(()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Failure::Answer(Error::Decode(m)) if m.contains("larger than 10000 bytes")),
            "{err:?}"
        );
        let fine = format!("<a>{}</a>", "<b>x</b>".repeat(100));
        let root = parse_stream(chunked(&fine), &limits, None, &mut |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(root.children.len(), 100);
    }

    #[test]
    fn indentation_is_not_kept_as_text() {
        let root = parse("<a>\n  <b> x </b>\n  <c/>\n</a>", &LIMITS).unwrap();
        assert_eq!(root.text.trim(), "");
        assert_eq!(root.text_of("b"), Some(" x "));
    }
}
