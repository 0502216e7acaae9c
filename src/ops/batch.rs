//! One command changing many objects (VMs, hosts): what its error is when some of them
//! were not changed. Refused (exit 6) means nothing changed, so once anything has
//! changed the error is a partial failure (exit 7) naming what changed and what did not.

use super::error::{OpError, OpResult};

/// How grave an error's kind is, to choose one kind when objects failed differently:
/// a vSphere fault over a refusal over "not found" over bad input.
fn severity(e: &OpError) -> u8 {
    match e {
        OpError::Context { source, .. } => severity(source),
        OpError::Partial { .. } => 6,
        OpError::Vim { .. } | OpError::Io(_) | OpError::Cancelled => 5,
        OpError::Refused { .. } => 4,
        OpError::NotFound { .. } | OpError::Ambiguous { .. } => 3,
        OpError::Invalid { .. } | OpError::Config(_) => 2,
    }
}

/// `name: error`, unless the error names it already.
fn named(name: &str, e: &OpError) -> String {
    let text = e.to_string();
    if name.is_empty() || text.contains(name) {
        text
    } else {
        format!("{name}: {text}")
    }
}

/// The errors of several objects, none of them changed, as one: the kind and hint of
/// the gravest (the first of those), the message naming each object and its reason,
/// then `tail` ("nothing was changed"). None when there is no error.
pub fn combine(errors: Vec<(String, OpError)>, tail: &str) -> Option<OpError> {
    let gravest = errors
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, e))| (severity(e), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)?;
    let lines: Vec<String> = errors.iter().map(|(n, e)| named(n, e)).collect();
    let message = match lines.as_slice() {
        [one] => format!("{one}; {tail}"),
        _ => format!(
            "{} of them failed; {tail}:\n  {}",
            lines.len(),
            lines.join("\n  ")
        ),
    };
    let (_, cause) = errors.into_iter().nth(gravest)?;
    Some(cause.context(message, None))
}

/// After changing each of many objects: the ones that went through, and Ok or the
/// command's error. `results[i]` is `names[i]`'s; `changed` tells a change from a no-op.
/// Nothing changed: the errors combined (their own kind). Something changed: a partial
/// failure (exit 7) naming what changed (`verb`: "moved") and each object left, and why.
pub fn settle<T>(
    verb: &str,
    names: &[String],
    results: Vec<OpResult<T>>,
    changed: impl Fn(&T) -> bool,
) -> (Vec<T>, OpResult<()>) {
    let mut done = Vec::new();
    let mut did = Vec::new();
    let mut left = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(r) => {
                if changed(&r) {
                    did.push(name.clone());
                }
                done.push(r);
            }
            Err(e) => left.push((name.clone(), e)),
        }
    }
    if left.is_empty() {
        return (done, Ok(()));
    }
    if did.is_empty() {
        let error = combine(left, "nothing was changed");
        return (done, error.map_or(Ok(()), Err));
    }
    let reasons: Vec<String> = left.iter().map(|(n, e)| named(n, e)).collect();
    let message = format!(
        "incomplete: {verb} {}; not {verb} ({}):\n  {}",
        did.join(", "),
        left.len(),
        reasons.join("\n  ")
    );
    let hint = "each one left is named with its reason; fix that and run the command again for those (the others stay as they are now)";
    let error = OpError::Partial {
        message: message.clone(),
    }
    .context(message, Some(hint.into()));
    (done, Err(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(why: &str) -> OpError {
        OpError::refused(why, "hint")
    }

    #[test]
    fn the_gravest_kind_wins_and_each_object_is_named() {
        let e = combine(
            vec![
                ("vm-a".into(), OpError::invalid("bad")),
                ("vm-b".into(), refused("no")),
                ("vm-c".into(), refused("never")),
            ],
            "nothing was changed",
        );
        let e = e.expect("an error");
        assert!(
            matches!(&e, OpError::Context { source, .. } if matches!(**source, OpError::Refused { .. }))
        );
        let text = e.to_string();
        assert!(
            text.contains("vm-a: bad") && text.contains("vm-b: no") && text.contains("vm-c: never")
        );
        assert_eq!(e.hint().as_deref(), Some("hint"));
    }

    #[test]
    fn a_refusal_after_a_change_is_a_partial_failure() {
        let names = vec!["a".to_string(), "b".to_string()];
        let (done, result) = settle("moved", &names, vec![Ok(true), Err(refused("no"))], |c| *c);
        assert_eq!(done, vec![true]);
        let e = result.expect_err("partial");
        assert!(
            matches!(&e, OpError::Context { source, .. } if matches!(**source, OpError::Partial { .. }))
        );
        assert!(e.to_string().contains("moved a; not moved (1):\n  b: no"));
        // Nothing changed (a no-op is not a change): the refusal itself.
        let (_, result) = settle("moved", &names, vec![Ok(false), Err(refused("no"))], |c| *c);
        let e = result.expect_err("refused");
        assert!(
            matches!(&e, OpError::Context { source, .. } if matches!(**source, OpError::Refused { .. }))
        );
    }
}
