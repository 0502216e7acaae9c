//! `scripts/demo`: it says what it is building and lets cargo show its progress (a
//! stand-in `cargo` records how it was called and provides the binary it would build).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::sim::repo;

#[test]
fn demo_shows_the_build_and_runs_ceso_on_a_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let target = dir.path().join("target");
    let calls = dir.path().join("cargo-calls");
    let cargo = format!(
        "#!/bin/sh\necho \"$@\" >> {calls}\necho '   Compiling ceso' >&2\nmkdir -p {target}/release\nprintf '#!/bin/sh\\necho \"fake ceso $*\" \"$CESO_URL\"\\n' > {target}/release/ceso\nchmod +x {target}/release/ceso\n",
        calls = calls.display(),
        target = target.display()
    );
    let stub = bin.join("cargo");
    std::fs::write(&stub, cargo).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(repo().join("scripts/demo"))
        .arg("--version")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("demo: building ceso"), "{stderr}");
    assert!(
        stderr.contains("Compiling ceso"),
        "cargo's progress shows: {stderr}"
    );
    let called = std::fs::read_to_string(&calls).unwrap();
    assert!(called.contains("build --release"), "{called}");
    assert!(!called.contains("--quiet"), "{called}");
    assert!(
        stdout.contains("fake ceso --version http://127.0.0.1:"),
        "{stdout}"
    );
}
