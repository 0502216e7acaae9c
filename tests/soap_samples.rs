//! Decode every raw response captured from the simulator (tests/fixtures/soap-samples).

use ceso::vim::client::decode_response;
use ceso::vim::property_collector::decode_objects;
use ceso::vim::service_content::ServiceContent;
use ceso::vim::{Error, xml};

fn sample(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/soap-samples");
    let path = std::fs::read_dir(dir)
        .expect("fixtures folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            file.starts_with(name) && file.ends_with(".response.raw.xml")
        })
        .unwrap_or_else(|| panic!("no sample {name}"));
    std::fs::read_to_string(path).expect("readable sample")
}

fn ok(name: &str) -> xml::Node {
    decode_response("http://sim/sdk", 200, sample(name)).expect("a successful response")
}

fn fault(name: &str) -> Error {
    decode_response("http://sim/sdk", 500, sample(name)).expect_err("a fault")
}

fn objects(name: &str) -> Vec<ceso::vim::ObjectContent> {
    let mut response = ok(name);
    let result = response.children.remove(0);
    let mut out = Vec::new();
    decode_objects(result, &mut out);
    out
}

#[test]
fn service_content_of_a_vcenter() {
    let response = ok("00_");
    let content = ServiceContent::from_node(response.child("returnval").unwrap().clone()).unwrap();
    assert!(content.is_vcenter());
    assert_eq!(content.root_folder.value, "group-d1");
    assert_eq!(content.about.api_version, "6.5");
    assert_eq!(content.manager("fileManager").unwrap().kind, "FileManager");
}

#[test]
fn login_returns_a_user_session() {
    let response = ok("01_");
    assert_eq!(response.name, "LoginResponse");
    assert!(response.path("returnval.userName").is_some());
}

#[test]
fn container_view_and_properties() {
    let view = ok("02_");
    assert_eq!(view.moref_at("returnval").unwrap().kind, "ContainerView");
    let vms = objects("03_");
    assert!(vms.len() > 1);
    let first = &vms[0];
    assert_eq!(first.obj.kind, "VirtualMachine");
    assert_eq!(first.str("runtime.powerState"), Some("poweredOn"));
    assert_eq!(first.i64("config.hardware.numCPU"), Some(1));
    assert_eq!(first.moref("runtime.host").unwrap().kind, "HostSystem");
    // An ArrayOfManagedObjectReference decodes to a list.
    assert_eq!(
        first.morefs("network")[0].kind,
        "DistributedVirtualPortgroup"
    );
}

#[test]
fn task_creation_and_task_info() {
    assert_eq!(ok("04_").moref_at("returnval").unwrap().kind, "Task");
    let info = &objects("05_")[0];
    let info = info.get("info").unwrap();
    assert_eq!(info.text_of("state"), Some("success"));
    assert_eq!(
        info.moref_at("result").unwrap().kind,
        "VirtualMachineSnapshot"
    );
    let state = &objects("06_")[0];
    assert!(state.props.iter().any(|(p, _)| p.starts_with("info")));
}

#[test]
fn snapshot_tree() {
    let vm = &objects("07_")[0];
    let tree = vm.get("snapshot").unwrap();
    assert_eq!(tree.xsi_type.as_deref(), Some("VirtualMachineSnapshotInfo"));
    let root = tree.child("rootSnapshotList").unwrap();
    assert_eq!(root.text_of("name"), Some("raw-snap"));
    assert_eq!(root.bool_at("quiesced"), Some(true));
}

#[test]
fn property_filter_and_wait_for_updates() {
    assert_eq!(
        ok("08_").moref_at("returnval").unwrap().kind,
        "PropertyFilter"
    );
    let update = ok("09_");
    let change = update
        .path("returnval.filterSet.objectSet.changeSet")
        .unwrap();
    assert_eq!(change.text_of("name"), Some("info.state"));
    assert_eq!(change.text_of("val"), Some("success"));
}

#[test]
fn faults_keep_their_vsphere_name_and_object() {
    let e = fault("10_");
    assert!(e.is_fault("ManagedObjectNotFound"));
    assert!(e.to_string().contains("vm-99999"));
    if let Error::Fault { object, .. } = &e {
        assert_eq!(object.as_ref().unwrap().value, "vm-99999");
    }
    assert!(fault("11_").fault_name().is_some());
    let dup = fault("12_");
    assert!(dup.is_fault("DuplicateName"));
    assert!(dup.to_string().contains("DC0"), "{dup}");
    assert!(fault("15_").is_fault("InvalidRequest"));
    let auth = fault("17_");
    assert!(auth.is_not_authenticated());
    assert!(fault("18_").is_fault("InvalidLogin"));
}

#[test]
fn task_error_carries_the_fault() {
    assert_eq!(ok("13_").moref_at("returnval").unwrap().kind, "Task");
    let info = &objects("14_")[0];
    let info = info.get("info").unwrap();
    assert_eq!(info.text_of("state"), Some("error"));
    let fault = info.path("error.fault").unwrap();
    let e = Error::from_fault_node(fault, info.str_at("error.localizedMessage").unwrap());
    assert!(e.is_fault("InvalidPowerState"));
    // vcsim's Go type name is replaced by a readable message.
    assert_eq!(
        e.to_string(),
        "InvalidPowerState: the VM is poweredOn (requested state: poweredOn)"
    );
}

#[test]
fn logout_is_an_empty_response() {
    assert_eq!(ok("16_").name, "LogoutResponse");
}

#[test]
fn every_sample_decodes_without_panicking() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/soap-samples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        xml::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Truncated at any point, a document is an error, never a panic.
        for cut in (0..text.len()).step_by(97) {
            if text.is_char_boundary(cut) {
                let _ = xml::parse(&text[..cut]);
            }
        }
        count += 1;
    }
    assert_eq!(count, 38);
}

/// A bounded mutation test of the decoder over every captured answer: flipped bytes,
/// XML-significant insertions (entities, DOCTYPEs, CDATA, stray tags, invalid UTF-8),
/// deletions, duplicated and truncated ranges. Each mutant is decoded from memory and
/// as a stream cut at property-page objects; neither may panic, and both must agree.
/// `CESO_MUTATIONS` raises the count per sample for a longer run.
#[test]
fn mutated_answers_never_panic_and_both_decoders_agree() {
    use ceso::vim::decode::{LIMITS, PROPERTY_PAGE, parse_bytes, parse_stream};
    use ceso::vim::property_collector::object_content;

    let per_sample: usize = std::env::var("CESO_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/soap-samples");
    let mut samples: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    samples.sort();
    let tokens: &[&[u8]] = &[
        b"<",
        b">",
        b"</",
        b"/>",
        b"&",
        b"&amp;",
        b"&#0;",
        b"&#x110000;",
        b"&lol;",
        b"<!DOCTYPE a [<!ENTITY lol \"lol\">]>",
        b"<![CDATA[x",
        b"]]>",
        b"<!--",
        b"-->",
        b"<?pi?>",
        b"\"",
        b"'",
        b" xsi:type=\"",
        b" type=\"VirtualMachine\"",
        b"\xff\xfe",
        b"\xc3",
        b"\xe2\x82",
        b"<objects>",
        b"</objects>",
        b"<returnval>",
        b"<soapenv:Fault>",
        b"<faultstring>",
        b"xmlns:a=\"\"",
        b"<a:b>",
        b"\0",
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |bound: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % bound.max(1) as u64) as usize
    };
    let mut executions = 0;
    for sample in &samples {
        for _ in 0..per_sample {
            let mut m = sample.clone();
            for _ in 0..1 + next(4) {
                let at = next(m.len() + 1);
                match next(6) {
                    0 if at < m.len() => m[at] = next(256) as u8,
                    1 => {
                        let t = tokens[next(tokens.len())];
                        m.splice(at..at, t.iter().copied());
                    }
                    2 => {
                        let end = (at + next(64)).min(m.len());
                        m.drain(at..end);
                    }
                    3 => {
                        let end = (at + next(256)).min(m.len());
                        let copy = m[at..end].to_vec();
                        let to = next(m.len() + 1);
                        m.splice(to..to, copy);
                    }
                    4 => m.truncate(at),
                    _ => {
                        let depth = next(400);
                        let close = next(depth + 1);
                        let nest = "<n>".repeat(depth) + "</n>".repeat(close).as_str();
                        m.splice(at..at, nest.into_bytes());
                    }
                }
            }
            let status = if next(2) == 0 { 200 } else { 500 };
            let whole = decode_response("http://sim/sdk", status, &m);
            if let Ok(node) = &whole {
                let _ = node.to_json();
            }
            let mut from_slice = Vec::new();
            let sliced = parse_bytes(&m, &LIMITS, Some(PROPERTY_PAGE), &mut |n| {
                from_slice.extend(object_content(n));
                Ok(())
            });
            let mut from_stream = Vec::new();
            let streamed = rt.block_on(parse_stream(
                &m[..],
                &LIMITS,
                Some(PROPERTY_PAGE),
                &mut |n| {
                    from_stream.extend(object_content(n));
                    Ok(())
                },
            ));
            match (&sliced, &streamed) {
                (Ok(a), Ok(b)) => assert_eq!(
                    a,
                    b,
                    "decoders disagree on {:?}",
                    String::from_utf8_lossy(&m)
                ),
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "one decoder accepted what the other refused ({sliced:?} / {streamed:?}) on {:?}",
                    String::from_utf8_lossy(&m)
                ),
            }
            assert_eq!(from_slice.len(), from_stream.len());
            executions += 1;
        }
    }
    eprintln!("decoder mutations: {executions} mutants, each decoded 3 ways");
    assert_eq!(executions, samples.len() * per_sample);
}
