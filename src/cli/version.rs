//! `ceso version`: the client's version, and each configured server's (an endpoint
//! that does not answer is shown with its state; it does not fail the command).

use crate::ops::{OpResult, version};

use super::Ctx;

pub fn run(ctx: &Ctx) -> OpResult<()> {
    let endpoints = ctx
        .app
        .block_on(version::servers(&ctx.app.fleet, &ctx.scope))?;
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "ceso": env!("CARGO_PKG_VERSION"),
            "endpoints": endpoints,
        }));
        return Ok(());
    }
    println!("ceso {}", env!("CARGO_PKG_VERSION"));
    for s in &endpoints {
        let show = |v: &Option<String>| v.clone().unwrap_or_default();
        match &s.error {
            None => println!(
                "{}: {} (API {}, build {})",
                s.endpoint,
                show(&s.product),
                show(&s.api_version),
                show(&s.build)
            ),
            Some(error) => println!("{}: {} ({error})", s.endpoint, s.state),
        }
    }
    Ok(())
}
