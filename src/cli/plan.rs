//! Showing a reconfiguration as a spec diff: under `--dry-run` before anything is
//! sent, and after a change as what was sent.

use serde::Serialize;

use crate::ops::spec_diff::SpecDiff;

use super::Ctx;

/// `--dry-run`: the exact change, nothing sent. JSON: `{"dry_run": true, "plan": …}`.
pub fn dry_run(ctx: &Ctx, diff: &SpecDiff, plan: &impl Serialize) {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"dry_run": true, "plan": plan}));
        return;
    }
    let lines = diff.lines();
    if let Some((first, rest)) = lines.split_first() {
        println!("would send {first}");
        for line in rest {
            println!("{line}");
        }
    }
    eprintln!("dry run: nothing was changed");
}

/// After a change: the diff on stderr (stdout stays for data).
pub fn sent(ctx: &Ctx, diff: &SpecDiff) {
    if ctx.out.json {
        return;
    }
    for line in diff.lines().iter().skip(1) {
        eprintln!("{line}");
    }
}
