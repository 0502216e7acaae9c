//! The history database: one SQLite file, samples per (object, counter) in three tiers
//! (5 minutes, 1 hour, 1 day), keyed so a sample stored twice is stored once. Every
//! write is one transaction: a collector killed mid-round leaves the last whole round.
//! A lock file next to the database keeps a second collector out.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::metrics::rollup::{self, Point};
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::stats::{Sample, Series};

/// Seconds per sample of each tier, finest first.
pub const TIERS: [i64; 3] = [300, 3600, 86400];

/// How long each tier is kept (seconds), relative to its newest sample.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub five_minutes: i64,
    pub hours: i64,
    pub days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            five_minutes: 7 * 86400,
            hours: 90 * 86400,
            days: 5 * 365 * 86400,
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Held while a collector writes; dropped with the store.
    _lock: Option<File>,
    /// What opening for writing had to create: None when the database existed.
    created: Option<Created>,
}

/// A writer found no database at its path and made one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new file in an existing directory.
    File,
    /// A new file, and the directories leading to it.
    FileAndDirectory,
}

/// `$XDG_DATA_HOME/ceso/history.sqlite` (else `~/.local/share/…`).
pub fn default_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("ceso")
        .join("history.sqlite")
}

fn db_error(path: &Path, e: impl std::fmt::Display) -> OpError {
    OpError::Io(format!("history database {}: {e}", path.display()))
}

impl Store {
    /// Open for writing, taking the collector lock; a second writer is refused.
    /// [`Store::created`] says whether the file (and its directory) were new.
    pub fn open_writer(path: &Path) -> OpResult<Store> {
        let mut created = (!path.exists()).then_some(Created::File);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                created = Some(Created::FileAndDirectory);
            }
            std::fs::create_dir_all(dir).map_err(|e| db_error(path, e))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| db_error(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(OpError::refused(
                format!(
                    "another collector is writing {} (lock {})",
                    path.display(),
                    lock_path.display()
                ),
                "stop the other `ceso stats collect`, or give this one its own --db PATH",
            ));
        }
        let mut store = Self::open_at(path, true)?;
        store._lock = Some(lock);
        store.created = created;
        Ok(store)
    }

    /// Open for reading (no lock: SQLite lets readers in while a collector writes).
    pub fn open_reader(path: &Path) -> OpResult<Store> {
        if !path.exists() {
            return Err(OpError::NotFound {
                kind: "history database",
                name: path.display().to_string(),
                suggestions: Vec::new(),
            });
        }
        Self::open_at(path, false)
    }

    fn open_at(path: &Path, create: bool) -> OpResult<Store> {
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        let err = |e| db_error(path, e);
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        if create {
            conn.execute_batch(
                "PRAGMA journal_mode=WAL;
                 PRAGMA synchronous=NORMAL;
                 CREATE TABLE IF NOT EXISTS series (
                     id INTEGER PRIMARY KEY,
                     endpoint TEXT NOT NULL, object TEXT NOT NULL, kind TEXT NOT NULL,
                     counter TEXT NOT NULL, unit TEXT NOT NULL,
                     UNIQUE (endpoint, object, counter));
                 CREATE TABLE IF NOT EXISTS samples (
                     series INTEGER NOT NULL REFERENCES series(id),
                     tier INTEGER NOT NULL, ts INTEGER NOT NULL,
                     avg REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
                     count INTEGER NOT NULL,
                     PRIMARY KEY (series, tier, ts)) WITHOUT ROWID;",
            )
            .map_err(err)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            _lock: None,
            created: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening this writer created the database (and its directory).
    pub fn created(&self) -> Option<Created> {
        self.created
    }

    fn err(&self, e: rusqlite::Error) -> OpError {
        db_error(&self.path, e)
    }

    /// The newest timestamp of one object's counter in a tier.
    pub fn last_ts(
        &self,
        endpoint: &str,
        object: &str,
        counter: &str,
        tier: i64,
    ) -> OpResult<Option<i64>> {
        self.edge_ts("max", endpoint, object, counter, tier)
    }

    /// The oldest stored sample of one series in one tier.
    pub fn first_ts(
        &self,
        endpoint: &str,
        object: &str,
        counter: &str,
        tier: i64,
    ) -> OpResult<Option<i64>> {
        self.edge_ts("min", endpoint, object, counter, tier)
    }

    fn edge_ts(
        &self,
        edge: &str,
        endpoint: &str,
        object: &str,
        counter: &str,
        tier: i64,
    ) -> OpResult<Option<i64>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {edge}(s.ts) FROM samples s JOIN series r ON r.id = s.series
                     WHERE r.endpoint = ?1 AND r.object = ?2 AND r.counter = ?3 AND s.tier = ?4"
                ),
                params![endpoint, object, counter, tier],
                |row| row.get::<_, Option<i64>>(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Store samples read from the server (their interval is their tier), roll them up
    /// and apply retention, all in one transaction. Returns the samples new to the file.
    pub fn write(&mut self, series: &[Series], retention: Retention) -> OpResult<usize> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(err)?;
        let mut added = 0;
        let mut touched = Vec::new();
        {
            let mut find = tx
                .prepare_cached(
                    "SELECT id FROM series WHERE endpoint = ?1 AND object = ?2 AND counter = ?3",
                )
                .map_err(err)?;
            let mut create = tx
                .prepare_cached(
                    "INSERT INTO series (endpoint, object, kind, counter, unit) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO samples (series, tier, ts, avg, min, max, count)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?4, 1)",
                )
                .map_err(err)?;
            for s in series.iter().filter(|s| s.instance.is_empty()) {
                if !TIERS.contains(&s.interval) {
                    continue;
                }
                let id: i64 = match find
                    .query_row(params![s.endpoint, s.object, s.counter], |r| r.get(0))
                    .optional()
                    .map_err(err)?
                {
                    Some(id) => id,
                    None => {
                        create
                            .execute(params![s.endpoint, s.object, s.kind, s.counter, s.unit])
                            .map_err(err)?;
                        tx.last_insert_rowid()
                    }
                };
                for sample in &s.samples {
                    added += insert
                        .execute(params![
                            id,
                            s.interval,
                            sample.time.timestamp(),
                            sample.value
                        ])
                        .map_err(err)?;
                }
                touched.push(id);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            for pair in TIERS.windows(2) {
                roll_up_series(&tx, id, pair[0], pair[1]).map_err(err)?;
            }
            retain(&tx, id, retention).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Stored series matching `object` (a glob) and `counter`, in `tier`, since `since`.
    pub fn read(&self, q: &HistoryQuery) -> OpResult<Vec<Series>> {
        let glob = glob::Pattern::new(&q.object).map_err(|e| {
            OpError::invalid(format!("'{}' is not a valid glob pattern: {e}", q.object))
        })?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, endpoint, object, kind, counter, unit FROM series
                 WHERE counter = ?1 ORDER BY endpoint, kind, object",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String, String, String, String, String)> = stmt
            .query_map(params![q.counter], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, endpoint, object, kind, counter, unit) in rows {
            if !(glob.matches(&object) || object == q.object) {
                continue;
            }
            let points = points(&self.conn, id, q.tier, q.since.unwrap_or(i64::MIN))
                .map_err(|e| self.err(e))?;
            let series = Series {
                endpoint,
                object,
                kind,
                counter,
                unit,
                instance: String::new(),
                interval: q.tier,
                samples: points
                    .iter()
                    .filter_map(|p| {
                        Some(Sample {
                            time: DateTime::<Utc>::from_timestamp(p.ts, 0)?,
                            value: p.avg,
                        })
                    })
                    .collect(),
                min: None,
                max: None,
                avg: None,
                last: None,
            };
            out.push(series.summarize());
        }
        Ok(out)
    }

    /// [`Store::read`] for a person asking: an object or counter the database never
    /// stored is not found, naming the close ones it holds (as `stats` does with the
    /// server's names). A known series with no samples in the window is an empty one.
    pub fn read_known(&self, q: &HistoryQuery) -> OpResult<Vec<Series>> {
        let found = self.read(q)?;
        if !found.is_empty() {
            return Ok(found);
        }
        let counters = self.names("SELECT DISTINCT counter FROM series", None)?;
        if !counters.contains(&q.counter) {
            return Err(OpError::NotFound {
                kind: "stored counter",
                name: q.counter.clone(),
                suggestions: close_names(&q.counter, counters.iter().map(String::as_str)),
            });
        }
        let objects = self.names(
            "SELECT DISTINCT object FROM series WHERE counter = ?1",
            Some(&q.counter),
        )?;
        Err(OpError::NotFound {
            kind: "stored object",
            name: q.object.clone(),
            suggestions: close_names(&q.object, objects.iter().map(String::as_str)),
        })
    }

    fn names(&self, sql: &str, counter: Option<&str>) -> OpResult<Vec<String>> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        stmt.query_map(rusqlite::params_from_iter(counter), |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// Rows per tier and the file's size, for `stats collect` to report.
    pub fn size(&self) -> OpResult<(Vec<(i64, i64)>, u64)> {
        let mut stmt = self
            .conn
            .prepare("SELECT tier, count(*) FROM samples GROUP BY tier ORDER BY tier")
            .map_err(|e| self.err(e))?;
        let tiers = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let bytes = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", self.path.display())).ok())
            .map(|m| m.len())
            .sum();
        Ok((tiers, bytes))
    }
}

/// What `history` reads.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub object: String,
    pub counter: String,
    pub tier: i64,
    pub since: Option<i64>,
}

fn points(conn: &Connection, id: i64, tier: i64, after: i64) -> rusqlite::Result<Vec<Point>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, avg, min, max, count FROM samples
         WHERE series = ?1 AND tier = ?2 AND ts > ?3 ORDER BY ts",
    )?;
    stmt.query_map(params![id, tier, after], |r| {
        Ok(Point {
            ts: r.get(0)?,
            avg: r.get(1)?,
            min: r.get(2)?,
            max: r.get(3)?,
            count: r.get(4)?,
        })
    })?
    .collect()
}

/// Complete buckets of `to` from the `from` samples newer than the last `to` bucket.
fn roll_up_series(conn: &Connection, id: i64, from: i64, to: i64) -> rusqlite::Result<()> {
    let (last_to, newest_from): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT (SELECT max(ts) FROM samples WHERE series = ?1 AND tier = ?2),
                (SELECT max(ts) FROM samples WHERE series = ?1 AND tier = ?3)",
        params![id, to, from],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some(newest) = newest_from else {
        return Ok(());
    };
    let after = last_to.unwrap_or(i64::MIN);
    let source = points(conn, id, from, after)?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO samples (series, tier, ts, avg, min, max, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for p in rollup::roll_up(&source, to, newest) {
        insert.execute(params![id, to, p.ts, p.avg, p.min, p.max, p.count])?;
    }
    Ok(())
}

fn retain(conn: &Connection, id: i64, r: Retention) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM samples WHERE series = ?1 AND tier = ?2
         AND ts < (SELECT max(ts) FROM samples WHERE series = ?1 AND tier = ?2) - ?3",
    )?;
    for (tier, keep) in [(300, r.five_minutes), (3600, r.hours), (86400, r.days)] {
        stmt.execute(params![id, tier, keep])?;
    }
    Ok(())
}
