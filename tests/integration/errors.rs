//! Bad input and bad networks: a clear one-line cause, a hint, the right exit code,
//! within the timeout, never a panic.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::sim::{Ceso, Sim, exit};

#[test]
fn config_errors_point_at_file_line_and_column() {
    let mut ceso = Ceso::new();
    ceso.config(
        "hosts:\n  - name: esxi1\n    host: 10.0.0.1\n    user: root\n    pasword_env: PW\n",
    );
    let run = ceso.run(&["vm", "list"]).fails_with(exit::USAGE);
    run.stderr_has("unknown field `pasword_env`")
        .stderr_has("config.yaml:5:5");

    let mut ceso = Ceso::new();
    ceso.config(
        "hosts:\n  - name: esxi1\n    host: 10.0.0.1\n    user: root\n    default: perhaps\n",
    );
    ceso.run(&["vm", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("config.yaml:5");

    let mut ceso = Ceso::new();
    ceso.config("hosts: [unclosed\n");
    ceso.run(&["host", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("config.yaml");

    let mut ceso = Ceso::new();
    ceso.env("CESO_CONFIG", "/nonexistent/ceso.yaml");
    ceso.run(&["vm", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("/nonexistent/ceso.yaml");
}

#[test]
fn no_endpoint_says_how_to_configure_one() {
    Ceso::new()
        .run(&["vm", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("no vSphere endpoint")
        .stderr_has("CESO_URL");
}

#[test]
fn govc_environment_works_as_is() {
    let sim = Sim::vcenter();
    let mut ceso = Ceso::new();
    ceso.env("GOVC_URL", sim.url.replace("http://", "http://user:pass@"));
    let list = ceso.run(&["vm", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 4);
}

#[test]
fn connection_refused_is_a_connection_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", format!("http://u:p@127.0.0.1:{port}/sdk"));
    ceso.run(&["vm", "list"])
        .fails_with(exit::CONNECTION)
        .stderr_has("cannot connect")
        .stderr_has("check the address");
}

#[test]
fn wrong_password_is_refused_and_never_shown() {
    let sim = Sim::start(&["-username", "root", "-password", "right-one"]);
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", &sim.url)
        .env("CESO_USERNAME", "root")
        .env("CESO_PASSWORD", "hunter2-wrong");
    let run = ceso.run(&["vm", "list"]).fails_with(exit::CONNECTION);
    run.stderr_has("wrong user name or password");
    assert!(!run.stderr.contains("hunter2"));
    assert!(!run.stdout.contains("hunter2"));
}

/// A server that accepts one connection at a time and answers with `reply` (or drops it).
fn fake_server(reply: Option<&'static str>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            if let Some(body) = reply {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
    (port, handle)
}

#[test]
fn dropped_connection_is_an_error_not_a_crash() {
    let (port, _server) = fake_server(None);
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", format!("http://u:p@127.0.0.1:{port}/sdk"));
    let run = ceso
        .run_with_timeout(&["vm", "list"], Duration::from_secs(30))
        .fails_with(exit::CONNECTION);
    run.stderr_has("RetrieveServiceContent");
}

#[test]
fn malformed_xml_is_an_error_not_a_crash() {
    let (port, _server) = fake_server(Some("<soapenv:Envelope><soapenv:Body><Retrieve"));
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", format!("http://u:p@127.0.0.1:{port}/sdk"));
    ceso.run(&["vm", "list"])
        .fails_with(exit::CONNECTION)
        .stderr_has("unexpected answer")
        .stderr_has("SDK endpoint");
}

#[test]
fn a_slow_server_times_out_within_the_configured_timeout() {
    let sim = Sim::start(&["-method-delay", "RetrievePropertiesEx:5000"]);
    let mut ceso = sim.ceso();
    ceso.config("settings:\n  timeout: 1\n");
    // CESO_CONFIG points at the settings; the endpoint comes from... the config only, so
    // give it there too.
    ceso.config(&format!(
        "hosts:\n  - name: slow\n    host: {}\n    user: u\n    password_env: CESO_PASSWORD\nsettings:\n  timeout: 1\n",
        sim.url
    ));
    let run = ceso
        .run_with_timeout(&["vm", "list"], Duration::from_secs(20))
        .fails_with(exit::CONNECTION);
    run.stderr_has("timed out after 1s");
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn tls_is_verified_by_default_and_can_be_pinned() {
    let sim = Sim::start(&["-tls"]);
    let thumbprint = sim
        .thumbprint
        .clone()
        .expect("the simulator prints its thumbprint with -tls");
    // Self-signed: refused, and the hint carries the thumbprint to pin.
    sim.ceso()
        .run(&["vm", "list"])
        .fails_with(exit::CONNECTION)
        .stderr_has("not trusted")
        .stderr_has(&thumbprint);
    // Pinned to the right thumbprint: works.
    let mut pinned = sim.ceso();
    pinned.env("CESO_THUMBPRINT", &thumbprint);
    assert_eq!(
        pinned
            .run(&["vm", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Pinned to another: refused.
    let mut wrong = sim.ceso();
    wrong.env("CESO_THUMBPRINT", "AB:".repeat(31) + "AB");
    wrong
        .run(&["vm", "list"])
        .fails_with(exit::CONNECTION)
        .stderr_has("does not match");
    // insecure is an explicit choice.
    let mut insecure = sim.ceso();
    insecure.env("CESO_INSECURE", "1");
    insecure.run(&["vm", "list"]).ok();
}

#[test]
fn an_expired_session_is_renewed_transparently() {
    let sim = Sim::vcenter();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = ceso::vim::Client::connect(ceso::vim::ConnectOptions {
            url: sim.url.clone(),
            user: "user".into(),
            password: ceso::vim::Secret::new("pass"),
            tls: ceso::vim::TlsMode::Verify,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            ask_password: None,
        })
        .await
        .unwrap();
        let root = client.content().root_folder.clone();
        // Log out behind the client's back: the next call meets NotAuthenticated.
        client.logout().await.unwrap();
        let props = client
            .properties(&root, &["name"])
            .await
            .expect("re-login and retry");
        assert_eq!(props.str("name"), Some("Datacenters"));
    });
}

/// A negative number after a numeric flag is that flag's value, answered with the
/// flag and its range (exit 2), never clap's "use '-- -1'" advice. Parsing fails
/// before any connection, so no simulator is needed.
#[test]
fn negative_numbers_after_numeric_flags_get_the_flags_range() {
    let table: &[(&[&str], &str, &str)] = &[
        (
            &["network", "create", "x", "--vlan-id", "-1"],
            "--vlan-id",
            "0–4095",
        ),
        (
            &["network", "update", "x", "--vlan-id", "5000"],
            "--vlan-id",
            "0–4095",
        ),
        (
            &["vswitch", "create", "v", "--mtu", "-1"],
            "--mtu",
            "1280–9000",
        ),
        (
            &["vswitch", "create", "v", "--ports", "-2"],
            "--ports",
            "0–8192",
        ),
        (
            &["dvs", "portgroup", "create", "d", "p", "--pvlan", "-3"],
            "--pvlan",
            "1–4094",
        ),
        (
            &["rp", "create", "p", "--cpu-reservation", "-5"],
            "--cpu-reservation",
            "0 or more",
        ),
        (
            &["cluster", "update", "c", "--drs-threshold", "-1"],
            "--drs-threshold",
            "1–5",
        ),
        (
            &["backup", "prune", "--keep-last", "-1"],
            "--keep-last",
            "0 or more",
        ),
        (&["place", "v", "--cpus", "-2"], "--cpus", "1 or more"),
        (
            &["optimize", "recommend", "--max-moves", "-1"],
            "--max-moves",
            "0 or more",
        ),
    ];
    for (args, flag, range) in table {
        let run = Ceso::new().run(args).fails_with(exit::USAGE);
        run.stderr_has(flag).stderr_has(range);
        assert!(!run.stderr.contains("-- -"), "{args:?}: {}", run.stderr);
    }
    // A shares value is text (low/normal/high or a number): -5 reaches its own check.
    let run = Ceso::new()
        .run(&["rp", "create", "p", "--cpu-shares", "-5"])
        .fails_with(exit::USAGE);
    assert!(!run.stderr.contains("-- -"), "{}", run.stderr);
}

/// The spec's `host add NAME --host IP` (no --user: root) gets as far as connecting.
#[test]
fn host_add_in_the_specs_syntax_needs_no_user() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ceso = Ceso::new();
    ceso.env("CESO_PASSWORD", "p");
    ceso.config("hosts: []\n");
    let run = ceso
        .run(&[
            "host",
            "add",
            "esxi2",
            "--host",
            &format!("http://127.0.0.1:{port}/sdk"),
            // Without a terminal the password cannot be asked for.
            "--password-env",
            "CESO_PASSWORD",
        ])
        .fails_with(exit::CONNECTION);
    assert!(!run.stderr.contains("--user"), "{}", run.stderr);
}
