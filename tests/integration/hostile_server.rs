//! A hostile SOAP server for the test bed. It answers the session calls as the simulator
//! does (its captured answers in tests/fixtures/soap-samples: service content, login,
//! container view, logout), then misbehaves in the one call that carries data, the
//! listing's RetrievePropertiesEx, in the way the test asked for.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How the listing call goes wrong.
#[derive(Debug, Clone, Copy)]
pub enum Misbehave {
    /// A complete HTTP answer whose XML stops in the middle of an object.
    TruncatedXml,
    /// A VM name with bytes that are not UTF-8.
    InvalidUtf8,
    /// A login-portal web page with status 200.
    Html200,
    /// A SOAP fault with an empty faultstring and no detail.
    EmptyFaultstring,
    /// A property value nested this many elements deep.
    DeepNesting(usize),
    /// Headers, the start of the envelope, then one byte every two seconds, forever.
    NeverEnds,
    /// Content-Length of this many bytes: one property value of endless text.
    HugeValue(u64),
    /// This many bytes of well-formed VM objects.
    HugeObjects(u64),
    /// Half the answer, then a TCP reset.
    ResetMidBody,
    /// This HTTP status with a small HTML page.
    Status(u16),
    /// 302 to /loop-a, which redirects to /loop-b, which redirects to /loop-a.
    RedirectLoop,
    /// VMs whose values carry xsi:types no vSphere release defines (yet).
    UnknownTypes,
    /// A fault of a type no vSphere release defines, without a message.
    UnknownFault,
    /// A DOCTYPE declaring nested entities ("billion laughs") used in the answer.
    EntityExpansion,
    /// A VM whose numCPU (xsd:int) is 99999999999999999999.
    NumberOutOfRange,
    /// One page (chunked, never ending early) of this many minimal VM objects.
    ManyObjects(usize),
    /// One honest page of this many VMs, as the simulator answers without paging.
    OnePage(usize),
    /// Login answered with 307 to the trap: another port, so another origin.
    LoginRedirectedAway,
    /// Login answered with 307 to another path on the same origin.
    LoginRedirectedHere,
    /// HTTP 500 with an empty body.
    Empty500,
    /// A gzip-compressed answer, with or without Content-Encoding: gzip.
    Gzip { header: bool },
}

pub struct Hostile {
    pub url: String,
    /// Login calls seen (a 401 makes the client log in once more).
    pub logins: Arc<AtomicUsize>,
    /// Another listener (another port: another origin) that nothing should reach.
    pub trap_url: String,
    /// Requests the trap received: all of them, and those carrying a body or a cookie.
    pub trapped: Arc<AtomicUsize>,
    pub trapped_secrets: Arc<AtomicUsize>,
}

/// Where `serve` answers, and where it can send a client away to.
#[derive(Clone, Copy)]
struct Ports {
    own: u16,
    trap: u16,
}

impl Hostile {
    pub fn start(misbehave: Misbehave) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let trap = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let ports = Ports {
            own: listener.local_addr().expect("local address").port(),
            trap: trap.local_addr().expect("local address").port(),
        };
        let logins = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&logins);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    let _ = serve(stream, misbehave, ports, &counter);
                });
            }
        });
        let trapped = Arc::new(AtomicUsize::new(0));
        let trapped_secrets = Arc::new(AtomicUsize::new(0));
        let (all, secrets) = (Arc::clone(&trapped), Arc::clone(&trapped_secrets));
        std::thread::spawn(move || {
            for stream in trap.incoming() {
                let Ok(stream) = stream else { break };
                let mut out = match stream.try_clone() {
                    Ok(out) => out,
                    Err(_) => continue,
                };
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_request(&mut reader) {
                    all.fetch_add(1, Ordering::SeqCst);
                    if !request.body.is_empty() || request.cookie {
                        secrets.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = respond(&mut out, "404 Not Found", "text/plain", "", b"trap");
                }
            }
        });
        Hostile {
            url: format!("http://127.0.0.1:{}/sdk", ports.own),
            logins,
            trap_url: format!("http://127.0.0.1:{}/sdk", ports.trap),
            trapped,
            trapped_secrets,
        }
    }
}

fn sample(prefix: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/soap-samples");
    std::fs::read_dir(dir)
        .expect("fixtures folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            file.starts_with(prefix) && file.ends_with(".response.raw.xml")
        })
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_else(|| panic!("no sample {prefix}"))
}

const HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#
);
const TAIL: &str = "</soapenv:Body></soapenv:Envelope>";
const PAGE_HEAD: &str = r#"<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>"#;
const PAGE_TAIL: &str = "</returnval></RetrievePropertiesExResponse>";

/// One VM object as the simulator sends it, with `name` as given (raw bytes).
fn vm_object(id: usize, name: &[u8], power_type: &str) -> Vec<u8> {
    let mut out = format!(
        r#"<objects><obj type="VirtualMachine">vm-{id}</obj><propSet><name>name</name><val xsi:type="xsd:string">"#
    )
    .into_bytes();
    out.extend_from_slice(name);
    out.extend_from_slice(
        format!(
            concat!(
                r#"</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="{}">poweredOn</val></propSet>"#,
                r#"<propSet><name>config.hardware.numCPU</name><val xsi:type="xsd:int">2</val></propSet>"#,
                r#"<propSet><name>config.hardware.memoryMB</name><val xsi:type="xsd:int">4096</val></propSet></objects>"#
            ),
            power_type
        )
        .as_bytes(),
    );
    out
}

fn envelope(inner: &[u8]) -> Vec<u8> {
    let mut out = HEAD.as_bytes().to_vec();
    out.extend_from_slice(inner);
    out.extend_from_slice(TAIL.as_bytes());
    out
}

fn page(objects: &[u8]) -> Vec<u8> {
    let mut inner = PAGE_HEAD.as_bytes().to_vec();
    inner.extend_from_slice(objects);
    inner.extend_from_slice(PAGE_TAIL.as_bytes());
    envelope(&inner)
}

struct HttpRequest {
    path: String,
    body: String,
    cookie: bool,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    let mut cookie = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            cookie |= name.eq_ignore_ascii_case("cookie");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest {
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
        cookie,
    })
}

/// The SOAP method: the first element inside the Body.
fn method_of(body: &str) -> String {
    body.split_once("Body>")
        .and_then(|(_, rest)| rest.strip_prefix('<'))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .unwrap_or_default()
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    content_type: &str,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

fn serve(
    stream: TcpStream,
    misbehave: Misbehave,
    ports: Ports,
    logins: &AtomicUsize,
) -> std::io::Result<()> {
    let port = ports.own;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    const XML: &str = "text/xml; charset=utf-8";
    while let Some(request) = read_request(&mut reader) {
        if let Some(hop) = request.path.strip_prefix("/loop-") {
            let next = if hop == "a" { "b" } else { "a" };
            let location = format!("Location: http://127.0.0.1:{port}/loop-{next}\r\n");
            respond(&mut out, "302 Found", "text/html", &location, b"")?;
            continue;
        }
        let method = method_of(&request.body);
        match method.as_str() {
            "RetrieveServiceContent" => {
                respond(&mut out, "200 OK", XML, "", sample("00_").as_bytes())?
            }
            "Login" if matches!(misbehave, Misbehave::LoginRedirectedAway) => {
                let trap = format!("Location: http://127.0.0.1:{}/sdk\r\n", ports.trap);
                respond(&mut out, "307 Temporary Redirect", "text/html", &trap, b"")?
            }
            "Login"
                if matches!(misbehave, Misbehave::LoginRedirectedHere)
                    && request.path != "/sdk/here" =>
            {
                let here = format!("Location: http://127.0.0.1:{port}/sdk/here\r\n");
                respond(&mut out, "307 Temporary Redirect", "text/html", &here, b"")?
            }
            "Login" => {
                logins.fetch_add(1, Ordering::SeqCst);
                let cookie = "Set-Cookie: vmware_soap_session=\"hostile\"; Path=/; HttpOnly\r\n";
                respond(&mut out, "200 OK", XML, cookie, sample("01_").as_bytes())?
            }
            "CreateContainerView" => {
                respond(&mut out, "200 OK", XML, "", sample("02_").as_bytes())?
            }
            "RetrievePropertiesEx" => return misbehave_in_listing(out, misbehave, port),
            other => {
                let answer = format!(r#"<{other}Response xmlns="urn:vim25"></{other}Response>"#);
                respond(&mut out, "200 OK", XML, "", &envelope(answer.as_bytes()))?
            }
        }
    }
    Ok(())
}

/// A minimal VM object: its reference and name, nothing else (about 130 bytes).
fn minimal_object(id: usize) -> Vec<u8> {
    format!(
        r#"<objects><obj type="VirtualMachine">vm-{id}</obj><propSet><name>name</name><val xsi:type="xsd:string">vm-{id}</val></propSet></objects>"#
    )
    .into_bytes()
}

fn misbehave_in_listing(
    mut out: TcpStream,
    misbehave: Misbehave,
    port: u16,
) -> std::io::Result<()> {
    const XML: &str = "text/xml; charset=utf-8";
    let close = "Connection: close\r\n";
    match misbehave {
        Misbehave::TruncatedXml => {
            let full = page(&vm_object(1, b"web-01", "VirtualMachinePowerState"));
            respond(&mut out, "200 OK", XML, close, &full[..full.len() * 2 / 3])
        }
        Misbehave::InvalidUtf8 => {
            let body = page(&vm_object(
                1,
                b"web-\xff\xfe-01",
                "VirtualMachinePowerState",
            ));
            respond(&mut out, "200 OK", XML, close, &body)
        }
        Misbehave::Html200 => {
            let body = b"<!DOCTYPE html><html><head><title>vSphere Client</title></head><body><h1>Please log in</h1></body></html>";
            respond(&mut out, "200 OK", "text/html; charset=utf-8", close, body)
        }
        Misbehave::EmptyFaultstring => {
            let fault = b"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring></soapenv:Fault>";
            fault_500(&mut out, fault)
        }
        Misbehave::UnknownFault => {
            let fault = br#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><QuantumEntanglementFaultFault xsi:type="QuantumEntanglementFault"><entangledWith type="VirtualMachine">vm-2</entangledWith></QuantumEntanglementFaultFault></detail></soapenv:Fault>"#;
            fault_500(&mut out, fault)
        }
        Misbehave::DeepNesting(depth) => {
            let mut objects = br#"<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="Nested">"#.to_vec();
            objects.extend("<n>".repeat(depth).as_bytes());
            objects.extend("</n>".repeat(depth).as_bytes());
            objects.extend(b"</val></propSet></objects>");
            respond(&mut out, "200 OK", XML, close, &page(&objects))
        }
        Misbehave::NeverEnds => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {XML}\r\nTransfer-Encoding: chunked\r\n\r\n"
            )?;
            let start = format!("{HEAD}{PAGE_HEAD}");
            write!(out, "{:x}\r\n{start}\r\n", start.len())?;
            loop {
                out.flush()?;
                std::thread::sleep(Duration::from_secs(2));
                out.write_all(b"1\r\n \r\n")?;
            }
        }
        Misbehave::HugeValue(total) => {
            let start = format!(
                r#"{HEAD}{PAGE_HEAD}<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string">"#
            );
            let chunk = vec![b'x'; 64 * 1024];
            stream_body(out, total, &start, |batch| batch.extend_from_slice(&chunk))
        }
        Misbehave::HugeObjects(total) => {
            let mut id = 0;
            stream_body(out, total, &format!("{HEAD}{PAGE_HEAD}"), |batch| {
                while batch.len() < 64 * 1024 {
                    id += 1;
                    let name = format!("vm-{id:09}");
                    batch.extend(vm_object(id, name.as_bytes(), "VirtualMachinePowerState"));
                }
            })
        }
        Misbehave::ResetMidBody => {
            let objects: Vec<u8> = (1..=200)
                .flat_map(|i| {
                    vm_object(i, format!("vm-{i}").as_bytes(), "VirtualMachinePowerState")
                })
                .collect();
            let body = page(&objects);
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {XML}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body[..body.len() / 2])?;
            out.flush()?;
            reset(out);
            Ok(())
        }
        Misbehave::Status(code) => {
            let reason = match code {
                401 => "Unauthorized",
                503 => "Service Unavailable",
                _ => "Error",
            };
            let body = format!(
                "<html><head><title>{code} {reason}</title></head><body><h1>{reason}</h1></body></html>"
            );
            respond(
                &mut out,
                &format!("{code} {reason}"),
                "text/html",
                close,
                body.as_bytes(),
            )
        }
        Misbehave::RedirectLoop => {
            let location = format!("Location: http://127.0.0.1:{port}/loop-a\r\n{close}");
            respond(&mut out, "302 Found", "text/html", &location, b"")
        }
        Misbehave::UnknownTypes => {
            let mut objects = vm_object(1, b"web-01", "QuantumPowerStateV99");
            objects.extend(br#"<objects><obj type="VirtualMachine">vm-2</obj><propSet><name>name</name><val xsi:type="xsd:string">web-02</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOff</val></propSet><propSet><name>config.guestFullName</name><val xsi:type="ArrayOfHolographicGuest"><HolographicGuest xsi:type="HolographicGuest"><id>7</id></HolographicGuest></val></propSet></objects>"#);
            objects.extend(br#"<objects><obj type="QuantumComputer">qc-1</obj><propSet><name>name</name><val xsi:type="xsd:string">qc</val></propSet></objects>"#);
            respond(&mut out, "200 OK", XML, close, &page(&objects))
        }
        Misbehave::NumberOutOfRange => {
            let object = vm_object(1, b"web-01", "VirtualMachinePowerState");
            let object = String::from_utf8_lossy(&object).replace(
                r#"<val xsi:type="xsd:int">2</val>"#,
                r#"<val xsi:type="xsd:int">99999999999999999999</val>"#,
            );
            respond(&mut out, "200 OK", XML, close, &page(object.as_bytes()))
        }
        Misbehave::ManyObjects(count) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {XML}\r\nTransfer-Encoding: chunked\r\n\r\n"
            )?;
            let mut chunk = format!("{HEAD}{PAGE_HEAD}").into_bytes();
            for id in 1..=count {
                chunk.extend(minimal_object(id));
                if chunk.len() >= 64 * 1024 || id == count {
                    if id == count {
                        chunk.extend(format!("{PAGE_TAIL}{TAIL}").as_bytes());
                    }
                    write!(out, "{:x}\r\n", chunk.len())?;
                    out.write_all(&chunk)?;
                    out.write_all(b"\r\n")?;
                    chunk.clear();
                }
            }
            out.write_all(b"0\r\n\r\n")?;
            out.flush()
        }
        Misbehave::OnePage(count) => {
            let objects: Vec<u8> = (1..=count)
                .flat_map(|i| {
                    vm_object(
                        i,
                        format!("vm-{i:06}").as_bytes(),
                        "VirtualMachinePowerState",
                    )
                })
                .collect();
            respond(&mut out, "200 OK", XML, close, &page(&objects))
        }
        Misbehave::Empty500 => respond(&mut out, "500 Internal Server Error", XML, close, b""),
        Misbehave::Gzip { header } => {
            // A gzip member header and deflate bytes: never decompressed, only named.
            let mut body = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
            body.extend_from_slice(&[0xb3, 0xb1, 0xaf, 0xc8, 0xcd, 0xb1, 0xe3, 0x02, 0x00]);
            let extra = if header {
                "Content-Encoding: gzip\r\nConnection: close\r\n"
            } else {
                close
            };
            respond(&mut out, "200 OK", XML, extra, &body)
        }
        Misbehave::LoginRedirectedAway | Misbehave::LoginRedirectedHere => {
            respond(&mut out, "200 OK", XML, close, &page(b""))
        }
        Misbehave::EntityExpansion => {
            let mut dtd = String::from(
                r#"<?xml version="1.0"?><!DOCTYPE soapenv:Envelope [<!ENTITY lol0 "lol">"#,
            );
            for i in 1..10 {
                let prev = format!("&lol{};", i - 1);
                dtd.push_str(&format!(r#"<!ENTITY lol{i} "{}">"#, prev.repeat(10)));
            }
            dtd.push_str("]>");
            let body = page(&vm_object(1, b"&lol9;", "VirtualMachinePowerState"));
            let body = String::from_utf8_lossy(&body).replacen(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                &dtd,
                1,
            );
            respond(&mut out, "200 OK", XML, close, body.as_bytes())
        }
    }
}

/// A 200 answer of `total` bytes (Content-Length): `start`, then batches from `fill`
/// until the total is sent or the client hangs up.
fn stream_body(
    mut out: TcpStream,
    total: u64,
    start: &str,
    mut fill: impl FnMut(&mut Vec<u8>),
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {total}\r\n\r\n"
    )?;
    out.write_all(start.as_bytes())?;
    let mut sent = start.len() as u64;
    let mut batch = Vec::new();
    while sent < total {
        batch.clear();
        fill(&mut batch);
        let n = batch.len().min((total - sent) as usize);
        out.write_all(&batch[..n])?;
        sent += n as u64;
    }
    Ok(())
}

fn fault_500(out: &mut TcpStream, fault: &[u8]) -> std::io::Result<()> {
    let xml = "text/xml; charset=utf-8";
    let close = "Connection: close\r\n";
    respond(
        out,
        "500 Internal Server Error",
        xml,
        close,
        &envelope(fault),
    )
}

/// Close with RST instead of FIN (SO_LINGER 0), as a crashed proxy does.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a properly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
