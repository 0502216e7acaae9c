//! Keeping secrets out of messages: the password in a URL's user-info
//! (`https://root:pw@esx1/sdk`) and the value of a `password:` key, wherever a URL or
//! a piece of the config file is echoed.

const MASK: &str = "***";

/// `text` with the password of every URL in it masked (`https://root:***@esx1/sdk`).
/// A bare address is read as a URL's authority (`root:pw@esx1:443`).
pub fn url(text: &str) -> String {
    let mut ranges = url_secrets(text);
    if !text.contains("://") {
        ranges.extend(authority_secret(text, 0));
    }
    apply(text, &ranges, 0).0
}

/// A config file's text for an error snippet: URL passwords and `password:` values
/// masked. `offset` (a byte position in `text`) is moved to the same place in the result.
pub fn config(text: &str, offset: usize) -> (String, usize) {
    let mut ranges = url_secrets(text);
    ranges.extend(password_values(text));
    ranges.sort_unstable();
    ranges.dedup();
    apply(text, &ranges, offset)
}

/// Byte ranges of the passwords in every `scheme://user:pass@host` of `text`.
fn url_secrets(text: &str) -> Vec<(usize, usize)> {
    text.match_indices("://")
        .filter_map(|(i, sep)| authority_secret(text, i + sep.len()))
        .collect()
}

/// The password in the authority starting at `start` (up to the path, a quote or a
/// blank): what lies between the first ':' and the last '@' of the user-info.
fn authority_secret(text: &str, start: usize) -> Option<(usize, usize)> {
    let rest = &text[start..];
    let end = rest
        .find(|c: char| {
            c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c.is_whitespace()
        })
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    (colon + 1 < at).then_some((start + colon + 1, start + at))
}

/// Byte ranges of the values of `password:` keys (block or flow style).
fn password_values(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("password") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // password_env, password_command, …
        }
        let after = &text[i + "password".len()..];
        let Some(value) = after.strip_prefix(|c: char| c == ':').or_else(|| {
            after
                .trim_start_matches([' ', '\t', '"', '\''])
                .strip_prefix(':')
        }) else {
            continue;
        };
        let trimmed = value.trim_start_matches([' ', '\t']);
        let from = text.len() - trimmed.len();
        let len = trimmed
            .find(['\n', '\r', ',', '}'])
            .unwrap_or(trimmed.len());
        let to = from + trimmed[..len].trim_end().len();
        if to > from {
            out.push((from, to));
        }
    }
    out
}

/// Replace each range (sorted, not overlapping) by the mask; map `offset` along.
fn apply(text: &str, ranges: &[(usize, usize)], offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut moved = offset;
    for &(from, to) in ranges {
        if from < last {
            continue;
        }
        out.push_str(&text[last..from]);
        out.push_str(MASK);
        if offset >= to {
            moved = moved + MASK.len() - (to - from);
        } else if offset > from {
            moved -= offset - from;
        }
        last = to;
    }
    out.push_str(&text[last..]);
    (out, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            url("http://root:S3cret@h:99999/sdk"),
            "http://root:***@h:99999/sdk"
        );
        assert_eq!(url("root:S3cret@esx1"), "root:***@esx1");
        assert_eq!(url("https://root@esx1/sdk"), "https://root@esx1/sdk");
        assert_eq!(url("https://a:b:c@d@h"), "https://a:***@h");
    }

    #[test]
    fn config_passwords_are_masked_and_the_offset_follows() {
        let text = "vcenter:\n  host: http://u:pw1@vc\n  password: hunter2\n  password_env: X\nhosts: [{name: a, password: x2}]\n";
        let target = text.find("password_env").unwrap();
        let (out, moved) = config(text, target);
        assert!(
            !out.contains("pw1") && !out.contains("hunter2") && !out.contains("x2"),
            "{out}"
        );
        assert!(out.contains("password_env: X"));
        assert_eq!(&out[moved..moved + 12], "password_env");
        let inside = text.find("hunter2").unwrap() + 2;
        let (out, moved) = config(text, inside);
        assert_eq!(&out[moved..moved + 3], "***");
    }
}
