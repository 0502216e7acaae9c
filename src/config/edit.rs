//! Changing the config file as a person would: the new host entry is inserted as text
//! at the end of the `hosts:` list, so comments, key order and every other section stay
//! exactly as written. Pure text in, text out; the caller re-parses the result.

use super::schema::HostEntry;

/// Lines inserted into a file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    /// The whole new text.
    pub text: String,
    /// 0-based index of the first inserted line in the new text.
    pub at: usize,
    /// The inserted lines (without line ends).
    pub lines: Vec<String>,
}

/// `text` with `entry` appended to its top-level `hosts:` list (created when missing).
pub fn append_host(text: &str, entry: &HostEntry) -> Result<Insertion, String> {
    let rendered =
        serde_yaml::to_string(entry).map_err(|e| format!("cannot write the entry: {e}"))?;
    let fields: Vec<&str> = rendered
        .lines()
        .filter(|l| !l.is_empty() && *l != "---")
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let Some(key) = lines.iter().position(|l| is_key(l, "hosts")) else {
        // No list yet: a new section at the end.
        let mut new = item_lines(&fields, 2, 4);
        new.insert(0, "hosts:".to_string());
        let at = lines.len() + usize::from(!text.is_empty() && !text.ends_with("\n\n"));
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        for l in &new {
            out.push_str(l);
            out.push('\n');
        }
        return Ok(Insertion {
            text: out,
            at,
            lines: new,
        });
    };
    let value = strip_comment(&lines[key]["hosts:".len()..]).trim();
    let (dash, content, last) = match value {
        "" | "~" | "null" => block_shape(&lines, key),
        "[]" => (2, 4, key),
        _ => {
            return Err(
                "the hosts list is written in flow style ([...]); add the entry by hand".into(),
            );
        }
    };
    let new = item_lines(&fields, dash, content);
    let mut out_lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if !value.is_empty() {
        // `hosts: []` (or null) becomes a block list; a comment on the line stays.
        let comment = &lines[key]["hosts:".len()..];
        let comment = comment.find('#').map(|i| &comment[i..]).unwrap_or("");
        out_lines[key] = if comment.is_empty() {
            "hosts:".to_string()
        } else {
            format!("hosts: {comment}")
        };
    }
    let at = last + 1;
    for (i, l) in new.iter().enumerate() {
        out_lines.insert(at + i, l.clone());
    }
    let mut out = out_lines.join("\n");
    out.push('\n');
    Ok(Insertion {
        text: out,
        at,
        lines: new,
    })
}

/// Is `line` the top-level key `key` (`hosts:` at column 0)?
fn is_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']))
}

fn strip_comment(text: &str) -> &str {
    match text
        .find(" #")
        .or_else(|| text.starts_with('#').then_some(0))
    {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The indentation of the list's dashes and of its items' keys, and the index of the
/// last line that belongs to the list (comments and blank lines after it belong to
/// whatever follows).
fn block_shape(lines: &[&str], key: usize) -> (usize, usize, usize) {
    let mut shape = None;
    let mut last = key;
    for (i, line) in lines.iter().enumerate().skip(key + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with('-') {
            break;
        }
        if shape.is_none()
            && let Some(after) = trimmed.strip_prefix('-')
        {
            let gap = after.len() - after.trim_start().len();
            shape = Some((indent, indent + 1 + gap.max(1)));
        }
        last = i;
    }
    let (dash, content) = shape.unwrap_or((2, 4));
    (dash, content, last)
}

fn item_lines(fields: &[&str], dash: usize, content: usize) -> Vec<String> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                format!("{}-{}{f}", " ".repeat(dash), " ".repeat(content - dash - 1))
            } else {
                format!("{}{f}", " ".repeat(content))
            }
        })
        .collect()
}

/// A unified diff of the insertion against the old text, for `--dry-run`.
pub fn diff(path: &str, ins: &Insertion) -> String {
    const CONTEXT: usize = 3;
    let new_lines: Vec<&str> = ins.text.lines().collect();
    let before_from = ins.at.saturating_sub(CONTEXT);
    let after_to = (ins.at + ins.lines.len() + CONTEXT).min(new_lines.len());
    let old_count = after_to - before_from - ins.lines.len();
    let mut out = format!(
        "--- {path}\n+++ {path}\n@@ -{},{} +{},{} @@\n",
        if old_count == 0 {
            before_from
        } else {
            before_from + 1
        },
        old_count,
        before_from + 1,
        after_to - before_from
    );
    for (i, line) in new_lines
        .iter()
        .enumerate()
        .take(after_to)
        .skip(before_from)
    {
        let added = i >= ins.at && i < ins.at + ins.lines.len();
        out.push(if added { '+' } else { ' ' });
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> HostEntry {
        HostEntry {
            name: name.into(),
            host: "10.0.0.9".into(),
            user: Some("root".into()),
            password_env: Some("PW".into()),
            ..HostEntry::default()
        }
    }

    #[test]
    fn appends_to_the_list_keeping_comments_and_what_follows() {
        let text = "# my lab\nhosts:\n  # first\n  - name: a   # the old one\n    host: h\n    user: u\n\n# tuning\nsettings:\n  timeout: 5\n";
        let ins = append_host(text, &entry("b")).unwrap();
        assert_eq!(
            ins.text,
            "# my lab\nhosts:\n  # first\n  - name: a   # the old one\n    host: h\n    user: u\n  - name: b\n    host: 10.0.0.9\n    user: root\n    password_env: PW\n\n# tuning\nsettings:\n  timeout: 5\n"
        );
        assert_eq!(ins.at, 6);
        let d = diff("c.yaml", &ins);
        assert!(d.contains("@@ -4,6 +4,10 @@"), "{d}");
        assert!(d.contains("\n+  - name: b\n"), "{d}");
    }

    #[test]
    fn dashes_at_column_zero_and_missing_or_empty_lists() {
        let ins = append_host("hosts:\n- name: a\n  host: h\n", &entry("b")).unwrap();
        assert!(ins.text.ends_with("- name: a\n  host: h\n- name: b\n  host: 10.0.0.9\n  user: root\n  password_env: PW\n"), "{}", ins.text);
        let ins = append_host("settings:\n  timeout: 5\n", &entry("b")).unwrap();
        assert_eq!(
            ins.text,
            "settings:\n  timeout: 5\n\nhosts:\n  - name: b\n    host: 10.0.0.9\n    user: root\n    password_env: PW\n"
        );
        let ins = append_host("hosts: [] # none yet\n", &entry("b")).unwrap();
        assert!(
            ins.text.starts_with("hosts: # none yet\n  - name: b\n"),
            "{}",
            ins.text
        );
        assert!(append_host("hosts: [{name: a, host: h}]\n", &entry("b")).is_err());
    }
}
