//! Retention policies (which backups `prune` keeps), as pure functions.
//!
//! Semantics follow restic's `forget`, per VM: the newest `keep_last`
//! backups are kept; then for each of the last `keep_daily` days (UTC) that
//! have a backup, the newest backup of that day is kept; likewise for ISO
//! weeks and calendar months. A backup is kept if any rule keeps it.
//!
//! Removing an incremental's parent is safe: every manifest lists all chunks
//! of all its disks (a synthetic full), so no backup needs another one to
//! restore. The `parent` field is informational.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

use super::error::{RepoError, Result};

/// How many backups to keep, per VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
}

impl RetentionPolicy {
    /// True when the policy would keep nothing (refused: that is almost
    /// certainly a mistake on the command line).
    pub fn is_empty(&self) -> bool {
        self.keep_last == 0
            && self.keep_daily == 0
            && self.keep_weekly == 0
            && self.keep_monthly == 0
    }
}

/// One backup as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionInput {
    pub id: String,
    /// Backups are grouped by this key (the VM's endpoint and UUID, or name).
    pub group: String,
    pub created: DateTime<Utc>,
    /// Order of creation where times tie.
    pub seq: u64,
}

/// The decision for one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionDecision {
    pub id: String,
    pub group: String,
    pub created: DateTime<Utc>,
    pub keep: bool,
    /// Why it is kept, e.g. `["last", "daily 2026-11-22", "weekly 2026-W47"]`;
    /// empty when removed.
    pub reasons: Vec<String>,
}

#[derive(Clone, Copy)]
enum Rule {
    Last,
    Daily,
    Weekly,
    Monthly,
}

impl Rule {
    /// The period a backup falls in for this rule, as a label. For `Last`
    /// every backup is its own period.
    fn period(self, t: &DateTime<Utc>, id: &str) -> String {
        match self {
            Rule::Last => format!("last {id}"),
            Rule::Daily => format!("daily {}", t.format("%Y-%m-%d")),
            Rule::Weekly => {
                let w = t.iso_week();
                format!("weekly {}-W{:02}", w.year(), w.week())
            }
            Rule::Monthly => format!("monthly {}", t.format("%Y-%m")),
        }
    }
}

/// Applies `policy` to each group. Returns one decision per input, newest
/// first within each group, groups in key order.
pub fn apply_policy(
    backups: &[RetentionInput],
    policy: &RetentionPolicy,
) -> Result<Vec<RetentionDecision>> {
    if policy.is_empty() {
        return Err(RepoError::EmptyPolicy);
    }
    let mut groups: BTreeMap<&str, Vec<&RetentionInput>> = BTreeMap::new();
    for b in backups {
        groups.entry(b.group.as_str()).or_default().push(b);
    }
    let mut out = Vec::with_capacity(backups.len());
    for (_, mut list) in groups {
        // Newest first: by full-precision time, then creation sequence, then id (so
        // the result is deterministic even for old manifests without a sequence).
        list.sort_by(|a, b| {
            super::manifest::creation_order((&b.created, b.seq, &b.id), (&a.created, a.seq, &a.id))
        });
        let mut rules = [
            (Rule::Last, policy.keep_last, None::<String>),
            (Rule::Daily, policy.keep_daily, None),
            (Rule::Weekly, policy.keep_weekly, None),
            (Rule::Monthly, policy.keep_monthly, None),
        ];
        for b in list {
            let mut reasons = Vec::new();
            for (rule, left, last_period) in rules.iter_mut() {
                if *left == 0 {
                    continue;
                }
                let period = rule.period(&b.created, &b.id);
                if last_period.as_deref() != Some(period.as_str()) {
                    *left -= 1;
                    reasons.push(match rule {
                        Rule::Last => "last".to_string(),
                        _ => period.clone(),
                    });
                    *last_period = Some(period);
                }
            }
            out.push(RetentionDecision {
                id: b.id.clone(),
                group: b.group.clone(),
                created: b.created,
                keep: !reasons.is_empty(),
                reasons,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn input(group: &str, t: DateTime<Utc>) -> RetentionInput {
        RetentionInput {
            id: format!("{}-{group}", t.format("%Y%m%dT%H%M%SZ")),
            group: group.into(),
            created: t,
            seq: 0,
        }
    }

    #[test]
    fn sub_second_times_then_the_sequence_decide_not_the_id() {
        let t = at(2026, 1, 1, 3);
        let named = |id: &str, created, seq| RetentionInput {
            id: id.into(),
            group: "a".into(),
            created,
            seq,
        };
        // Ids sort the other way round: "zz" was made first.
        let b = vec![
            named("zz", t + chrono::Duration::milliseconds(100), 1),
            named("aa", t + chrono::Duration::milliseconds(900), 2),
            named("mm", t, 7),
            named("kk", t, 6),
        ];
        let keep_one = RetentionPolicy {
            keep_last: 1,
            ..Default::default()
        };
        assert_eq!(kept(&apply_policy(&b, &keep_one).unwrap()), ["aa"]);
        assert_eq!(kept(&apply_policy(&b[2..], &keep_one).unwrap()), ["mm"]);
    }

    fn kept(d: &[RetentionDecision]) -> Vec<String> {
        d.iter().filter(|d| d.keep).map(|d| d.id.clone()).collect()
    }

    #[test]
    fn empty_policy_is_refused() {
        assert!(matches!(
            apply_policy(&[], &RetentionPolicy::default()),
            Err(RepoError::EmptyPolicy)
        ));
    }

    #[test]
    fn keep_last() {
        let b: Vec<_> = (1..=5).map(|d| input("a", at(2026, 1, d, 3))).collect();
        let d = apply_policy(
            &b,
            &RetentionPolicy {
                keep_last: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept(&d), vec![b[4].id.clone(), b[3].id.clone()]);
        assert_eq!(d.len(), 5);
        assert!(d.iter().filter(|x| !x.keep).all(|x| x.reasons.is_empty()));
    }

    #[test]
    fn daily_keeps_newest_of_each_day() {
        // Two backups a day for 5 days.
        let mut b = Vec::new();
        for day in 1..=5 {
            b.push(input("a", at(2026, 3, day, 1)));
            b.push(input("a", at(2026, 3, day, 13)));
        }
        let d = apply_policy(
            &b,
            &RetentionPolicy {
                keep_daily: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            kept(&d),
            vec![
                input("a", at(2026, 3, 5, 13)).id,
                input("a", at(2026, 3, 4, 13)).id,
                input("a", at(2026, 3, 3, 13)).id,
            ]
        );
        let first = &d[0];
        assert_eq!(first.reasons, vec!["daily 2026-03-05".to_string()]);
    }

    #[test]
    fn days_without_backups_do_not_count() {
        // Backups on the 1st, 10th and 20th: keep-daily 2 keeps the 20th and 10th.
        let b = vec![
            input("a", at(2026, 3, 1, 1)),
            input("a", at(2026, 3, 10, 1)),
            input("a", at(2026, 3, 20, 1)),
        ];
        let d = apply_policy(
            &b,
            &RetentionPolicy {
                keep_daily: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept(&d), vec![b[2].id.clone(), b[1].id.clone()]);
    }

    #[test]
    fn weekly_uses_iso_weeks_and_monthly_months() {
        // Daily backups from 2026-12-20 to 2027-01-12.
        let mut b = Vec::new();
        let mut t = at(2026, 12, 20, 2);
        while t <= at(2027, 1, 12, 2) {
            b.push(input("a", t));
            t += chrono::Duration::days(1);
        }
        let d = apply_policy(
            &b,
            &RetentionPolicy {
                keep_weekly: 3,
                keep_monthly: 2,
                ..Default::default()
            },
        )
        .unwrap();
        let by_id: BTreeMap<_, _> = d
            .iter()
            .map(|x| (x.id.clone(), x.reasons.clone()))
            .collect();
        // 2027-01-12 is a Tuesday of ISO week 2027-W02: newest of its week and month.
        assert_eq!(
            by_id[&input("a", at(2027, 1, 12, 2)).id],
            vec!["weekly 2027-W02".to_string(), "monthly 2027-01".to_string()]
        );
        // Sunday 2027-01-10 ends ISO week 2027-W01.
        assert_eq!(
            by_id[&input("a", at(2027, 1, 10, 2)).id],
            vec!["weekly 2027-W01".to_string()]
        );
        // Sunday 2027-01-03 ends ISO week 2026-W53 (2026 has 53 ISO weeks).
        assert_eq!(
            by_id[&input("a", at(2027, 1, 3, 2)).id],
            vec!["weekly 2026-W53".to_string()]
        );
        // 2026-12-31 is the newest of December.
        assert_eq!(
            by_id[&input("a", at(2026, 12, 31, 2)).id],
            vec!["monthly 2026-12".to_string()]
        );
        assert_eq!(kept(&d).len(), 4);
    }

    #[test]
    fn rules_combine_and_groups_are_independent() {
        let b = vec![
            input("a", at(2026, 5, 1, 1)),
            input("a", at(2026, 5, 2, 1)),
            input("a", at(2026, 5, 3, 1)),
            input("b", at(2026, 4, 1, 1)),
        ];
        let d = apply_policy(
            &b,
            &RetentionPolicy {
                keep_last: 1,
                keep_daily: 2,
                ..Default::default()
            },
        )
        .unwrap();
        let a: Vec<_> = d.iter().filter(|x| x.group == "a").collect();
        assert_eq!(
            a[0].reasons,
            vec!["last".to_string(), "daily 2026-05-03".to_string()]
        );
        assert_eq!(a[1].reasons, vec!["daily 2026-05-02".to_string()]);
        assert!(!a[2].keep);
        // VM b's only backup is kept by its own keep-last.
        let bb: Vec<_> = d.iter().filter(|x| x.group == "b").collect();
        assert!(bb[0].keep);
    }
}
