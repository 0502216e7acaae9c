// The harness serves every test module; no single module uses all of it.
#[allow(dead_code)]
mod sim;
mod snapshots;
mod backup;
