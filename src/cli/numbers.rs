//! Numeric flags. A negative value reaches the flag's own parser: left to itself clap
//! takes `-1` for an unknown flag and advises `-- -1`, which then fails. The parser
//! then answers with the flag (clap names it) and its range.

/// A parser of whole numbers from `lo` to `hi` (None: no upper bound), as `T`.
pub fn int<T: TryFrom<i64>>(
    lo: i64,
    hi: Option<i64>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text| {
        let range = match hi {
            Some(hi) => format!("{lo}–{hi}"),
            None => format!("{lo} or more"),
        };
        let n: i64 = text
            .trim()
            .parse()
            .map_err(|_| format!("must be a whole number, {range}"))?;
        if n < lo || hi.is_some_and(|h| n > h) {
            return Err(format!("must be {range}, got {n}"));
        }
        T::try_from(n).map_err(|_| format!("must be {range}, got {n}"))
    }
}

/// Every option and argument that takes a value takes a negative number as one, in
/// `cmd` and all its subcommands (one rule instead of a flag on each numeric option).
pub fn negative_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    })
    .mut_subcommands(negative_values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_the_range() {
        let vlan = int::<i64>(0, Some(4095));
        assert_eq!(vlan("-1"), Err("must be 0–4095, got -1".to_string()));
        assert_eq!(vlan("4095"), Ok(4095));
        let count = int::<u32>(0, None);
        assert_eq!(count("-5"), Err("must be 0 or more, got -5".to_string()));
        assert!(count("x").is_err());
    }
}
