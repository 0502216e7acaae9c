//! `ceso version`: the client's version, and each connected server's.

use crate::ops::{OpResult, version};

use super::Ctx;

pub fn run(ctx: &Ctx) -> OpResult<()> {
    let found = ctx
        .app
        .block_on(version::servers(&ctx.app.fleet, &ctx.scope))?;
    if ctx.out.json {
        let mut object = serde_json::json!({
            "ceso": env!("CARGO_PKG_VERSION"),
            "servers": found.items,
        });
        if !found.errors.is_empty() {
            object["errors"] = super::report::errors_json(&found.errors);
        }
        ctx.out.json(&object);
    } else {
        println!("ceso {}", env!("CARGO_PKG_VERSION"));
        for s in &found.items {
            println!(
                "{}: {} (API {}, build {})",
                s.endpoint, s.product, s.api_version, s.build
            );
        }
    }
    super::report::endpoint_errors(&found.errors)
}
