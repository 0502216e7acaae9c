//! Bounded XML decoding of SOAP answers, from a byte slice or while the body downloads.
//!
//! A broken or hostile server must not make ceso use unbounded memory: every answer is
//! decoded under [`Limits`] (nesting depth, size of one XML token, elements and text kept
//! in one tree, size of the whole body), and a DOCTYPE is refused outright (SOAP forbids
//! DTDs; entity expansion is the classic XML bomb). Property-collector pages are cut at
//! [`PROPERTY_PAGE`]: each `objects` element goes to a sink as soon as it is complete, so
//! a page of 50,000 VMs is never held whole, neither as text nor as a tree.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use quick_xml::errors::SyntaxError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

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
    let mut builder = Builder::new(limits, split, sink);
    match feed(&mut builder, xml, 0, true)? {
        Fed::Root(root) => Ok(root),
        Fed::Consumed(_) => Err(Error::Decode("XML document ended early".into())),
    }
}

/// Decode a document while it is read from `body`.
///
/// Bytes are gathered in one buffer and parsed with quick-xml's slice reader up to the
/// last `<` received: text ends at a `<` and a tag holds none, so everything before it
/// is whole tokens. (A comment, CDATA or PI that holds a `<` is the exception; the
/// reader then reports it unclosed, and it is parsed again once more bytes came.) This
/// is several times faster than an async reader polled per event, and the buffer only
/// ever holds one unfinished token besides the chunk being parsed.
pub async fn parse_stream<R: AsyncBufRead + Unpin>(
    mut body: R,
    limits: &Limits,
    split: Option<Split>,
    sink: Sink<'_>,
) -> Result<Node, Failure> {
    let head = body.fill_buf().await.map_err(io_failure)?;
    if head.starts_with(GZIP_MAGIC) {
        return Err(Failure::Answer(gzip_body()));
    }
    let mut builder = Builder::new(limits, split, sink);
    let mut pending = Pending::default();
    loop {
        let chunk = body.fill_buf().await.map_err(io_failure)?;
        let (n, eof) = (chunk.len(), chunk.is_empty());
        let root = pending
            .push(&mut builder, chunk, eof)
            .map_err(Failure::Answer)?;
        body.consume(n);
        if let Some(root) = root {
            return Ok(root);
        }
        // A fast sender never makes the body wait: give the runtime (and the call's
        // timeout) a turn after each chunk.
        tokio::task::consume_budget().await;
    }
}

fn io_failure(e: io::Error) -> Failure {
    Failure::Io(Arc::new(e))
}

/// Bytes received and not parsed yet: at most one unfinished token past the last cut.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Where `buf` starts in the body.
    base: u64,
    /// Bytes `buf` must hold before it is parsed again (after an unclosed token).
    wait_for: usize,
}

impl Pending {
    /// Add a chunk (empty at the end of the body) and parse the whole tokens now held;
    /// the root once the document element closed.
    fn push(
        &mut self,
        builder: &mut Builder<'_, '_>,
        chunk: &[u8],
        eof: bool,
    ) -> Result<Option<Node>, Error> {
        let limits = builder.limits;
        if self.base + (self.buf.len() + chunk.len()) as u64 > limits.max_body {
            return Err(too_large_body(limits));
        }
        self.buf.extend_from_slice(chunk);
        // Parse whole tokens only: up to the last `<` (all of it at the end).
        let cut = if eof {
            self.buf.len()
        } else {
            memchr::memrchr(b'<', &self.buf).unwrap_or(0)
        };
        if (cut > 0 && self.buf.len() >= self.wait_for) || eof {
            match feed(builder, &self.buf[..cut], self.base, eof)? {
                Fed::Root(root) => return Ok(Some(root)),
                Fed::Consumed(used) => {
                    // A token left unclosed at the cut (a comment holding `<`) is parsed
                    // again only once its bytes have doubled: linear, not quadratic.
                    self.wait_for = if used < cut {
                        2 * (self.buf.len() - used)
                    } else {
                        0
                    };
                    self.buf.drain(..used);
                    self.base += used as u64;
                }
            }
        }
        if eof {
            return Err(Error::Decode("XML document ended early".into()));
        }
        // What is left is one unfinished token (or a chunk's tail): bound it.
        if self.buf.len() > limits.max_token {
            return Err(too_large_token(limits));
        }
        Ok(None)
    }
}

/// What [`feed`] did with its input.
enum Fed {
    /// The document element closed.
    Root(Node),
    /// Bytes parsed; the rest is an unfinished token to be parsed again with more bytes.
    Consumed(usize),
}

/// Parse the whole tokens of `input` (at `base` in the body) into the builder.
fn feed(builder: &mut Builder<'_, '_>, input: &[u8], base: u64, eof: bool) -> Result<Fed, Error> {
    let mut reader = Reader::from_reader(input);
    let config = reader.config_mut();
    // Elements open across slices: the builder checks end tags against its own stack.
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(Event::Eof) if !eof => return Ok(Fed::Consumed(input.len())),
            Ok(event) => event,
            // Input stopped inside markup: more bytes finish it.
            Err(quick_xml::Error::Syntax(_)) if !eof => return Ok(Fed::Consumed(pos as usize)),
            Err(e) => return Err(xml_error(base + pos, &e)),
        };
        if (reader.buffer_position() - pos) as usize > builder.limits.max_token {
            return Err(too_large_token(builder.limits));
        }
        if let Some(root) = builder.event(event, base + pos)? {
            return Ok(Fed::Root(root));
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
    /// Prefixes bound to the XML Schema instance namespace, or bound away from it below
    /// such a binding (xsi:type may come under any prefix; vcsim's is
    /// `XMLSchema-instance`). Innermost last.
    xsi: Vec<Binding>,
    /// Elements and text bytes currently held (split-off elements are subtracted).
    nodes: usize,
    text: usize,
}

/// An `xmlns:prefix` declaration that matters to `xsi:type`, and the element depth
/// (open ancestors) of the element that made it.
struct Binding {
    prefix: Box<str>,
    depth: usize,
    is_xsi: bool,
}

impl<'a, 's> Builder<'a, 's> {
    fn new(limits: &'a Limits, split: Option<Split>, sink: Sink<'s>) -> Self {
        Self {
            limits,
            split,
            sink,
            stack: Vec::new(),
            xsi: Vec::new(),
            nodes: 0,
            text: 0,
        }
    }

    /// Apply one event; returns the root once the document element closes.
    fn event(&mut self, event: Event<'_>, pos: u64) -> Result<Option<Node>, Error> {
        match event {
            Event::Start(start) => {
                let node = self.open(&start)?;
                self.stack.push(node);
            }
            Event::Empty(start) => {
                let node = self.open(&start)?;
                self.unbind();
                return self.close(node);
            }
            Event::End(end) => {
                let node = self
                    .stack
                    .pop()
                    .ok_or_else(|| Error::Decode("unbalanced XML end tag".into()))?;
                if end.local_name().as_ref() != node.name {
                    return Err(Error::Decode(format!(
                        "malformed XML at byte {pos}: end tag </{}> closes <{}>",
                        end.name().as_ref().chars().take(60).collect::<String>(),
                        node.name
                    )));
                }
                self.unbind();
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

    fn open(&mut self, start: &BytesStart<'_>) -> Result<Node, Error> {
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
        self.element(start)
    }

    /// The element's node: its local name, `type` and `xsi:type` (under whichever
    /// prefix is bound to the XML Schema instance namespace, here or above), in one walk
    /// over its attributes. vcsim declares that prefix again on every value element.
    fn element(&mut self, start: &BytesStart<'_>) -> Result<Node, Error> {
        let mut node = Node {
            name: intern(start.local_name().as_ref()),
            ..Node::default()
        };
        let mut prefixed_type = None;
        for attr in start.attributes().with_checks(false) {
            let attr = attr.map_err(|e| Error::Decode(format!("bad XML attribute: {e}")))?;
            let key = attr.key.as_ref();
            let (prefix, local) = match key.bytes().position(|b| b == b':') {
                Some(i) => (&key[..i], &key[i + 1..]),
                None => ("", key),
            };
            match (prefix, local) {
                ("xmlns", declared) => {
                    let is_xsi = attr.value.as_ref() == XSI_NS;
                    // A prefix bound again as it already is changes nothing.
                    if is_xsi != self.is_xsi(declared) {
                        self.xsi.push(Binding {
                            prefix: declared.into(),
                            depth: self.stack.len(),
                            is_xsi,
                        });
                    }
                }
                ("", "type") => node.type_attr = Some(attribute_value(&attr)?.into_owned()),
                (prefix, "type") => prefixed_type = Some((prefix.len(), attr)),
                _ => {}
            }
        }
        if let Some((prefix, attr)) = prefixed_type
            && self.is_xsi(&attr.key.as_ref()[..prefix])
        {
            // Strip the prefix: `vim25:VirtualMachine` and `VirtualMachine` are the same
            // type, but `xsd:int` keeps its prefix so scalars stay recognisable.
            let value = attribute_value(&attr)?;
            let ty = value.as_ref();
            let ty = match ty.bytes().position(|b| b == b':') {
                Some(i) if &ty[..i] != "xsd" => &ty[i + 1..],
                _ => ty,
            };
            node.xsi_type = Some(ty.to_string());
        }
        Ok(node)
    }

    /// Forget the bindings of the element that just closed.
    fn unbind(&mut self) {
        let depth = self.stack.len();
        while self.xsi.last().is_some_and(|b| b.depth == depth) {
            self.xsi.pop();
        }
    }

    /// Whether `prefix` is bound to the XML Schema instance namespace here: the nearest
    /// binding decides.
    fn is_xsi(&self, prefix: &str) -> bool {
        self.xsi
            .iter()
            .rev()
            .find(|b| *b.prefix == *prefix)
            .is_some_and(|b| b.is_xsi)
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

/// An element's name, without an allocation for the names every property page repeats
/// on each object (a 25,000-VM listing has some 700,000 elements).
fn intern(name: &str) -> Cow<'static, str> {
    Cow::Borrowed(match name {
        "objects" => "objects",
        "obj" => "obj",
        "propSet" => "propSet",
        "name" => "name",
        "val" => "val",
        "returnval" => "returnval",
        "missingSet" => "missingSet",
        "path" => "path",
        "fault" => "fault",
        "key" => "key",
        "value" => "value",
        "token" => "token",
        "entity" => "entity",
        "sampleInfo" => "sampleInfo",
        "timestamp" => "timestamp",
        "interval" => "interval",
        "id" => "id",
        "counterId" => "counterId",
        "instance" => "instance",
        _ => return Cow::Owned(name.to_string()),
    })
}

fn attribute_value<'a>(
    attr: &'a quick_xml::events::attributes::Attribute<'a>,
) -> Result<std::borrow::Cow<'a, str>, Error> {
    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .map_err(|e| Error::Decode(format!("bad XML attribute value: {e}")))
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

    /// Any split of the body into chunks gives the tree of the whole, including tokens
    /// that hold a `<` (comments, CDATA), entities, and namespace prefixes declared on
    /// the way.
    #[tokio::test]
    async fn chunk_boundaries_do_not_change_the_tree() {
        let xml = r#"<?xml version="1.0"?><E xmlns:X="http://www.w3.org/2001/XMLSchema-instance"><!-- a < b <c> --><B><returnval><token>t&amp;1</token><objects><obj type="VirtualMachine">vm-1</obj><v X:type="xsd:int">4</v></objects><objects><obj type="VirtualMachine">vm-2</obj><t><![CDATA[x < y & <z>]]></t><w xmlns:X="urn:other" X:type="NotXsi">1</w></objects></returnval></B></E>"#;
        let split = Some(Split {
            depth: 3,
            parent: "returnval",
            name: "objects",
        });
        let mut whole = Vec::new();
        let root = parse_bytes(xml.as_bytes(), &LIMITS, split, &mut |n| {
            whole.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(whole.len(), 2);
        assert_eq!(
            whole[0].child("v").unwrap().xsi_type.as_deref(),
            Some("xsd:int")
        );
        assert_eq!(whole[1].text_of("t"), Some("x < y & <z>"));
        assert_eq!(
            whole[1].child("w").unwrap().xsi_type,
            None,
            "X is rebound there"
        );
        assert_eq!(root.str_at("B.returnval.token"), Some("t&1"));
        for size in [1, 2, 3, 5, 8, 13, 64] {
            let chunked = tokio::io::BufReader::with_capacity(size, xml.as_bytes());
            let mut got = Vec::new();
            let streamed = parse_stream(chunked, &LIMITS, split, &mut |n| {
                got.push(n);
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(streamed, root, "chunks of {size} bytes");
            assert_eq!(got, whole, "chunks of {size} bytes");
        }
    }

    #[tokio::test]
    async fn a_stream_cut_short_or_mismatched_is_an_error() {
        let chunked = |s: &'static str| tokio::io::BufReader::with_capacity(4, s.as_bytes());
        for (xml, expected) in [
            ("<a><b>text</b>", "ended early"),
            ("<a><b>text</c></a>", "</c> closes <b>"),
            ("<a><!-- never closed", "ended early, inside markup"),
            ("<a><b x=\"1></b></a>", "ended early, inside markup"),
        ] {
            let err = parse_stream(chunked(xml), &LIMITS, None, &mut |_| Ok(()))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Failure::Answer(Error::Decode(m)) if m.contains(expected)),
                "{xml}: {err:?}"
            );
        }
    }

    #[test]
    fn indentation_is_not_kept_as_text() {
        let root = parse("<a>\n  <b> x </b>\n  <c/>\n</a>", &LIMITS).unwrap();
        assert_eq!(root.text.trim(), "");
        assert_eq!(root.text_of("b"), Some(" x "));
    }
}
