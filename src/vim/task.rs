//! Waiting for vSphere tasks. Real tasks take seconds to hours; vcsim finishes them
//! before the first poll. We poll `info` with backoff (cheap, and safe to run many at
//! once on one session) and report progress as it moves.

use std::time::{Duration, Instant};

use super::client::Client;
use super::envelope::Request;
use super::error::Error;
use super::moref::MoRef;
use super::xml::Node;

#[derive(Debug, Clone, Default)]
pub struct TaskProgress {
    pub task: String,
    pub name: String,
    pub entity: String,
    pub state: String,
    pub percent: Option<i64>,
}

pub type ProgressFn<'a> = &'a (dyn Fn(&TaskProgress) + Send + Sync);

pub fn no_progress(_: &TaskProgress) {}

impl Client {
    /// Wait until `task` succeeds (returning its `result`, if any) or fails (its fault).
    /// On timeout the task keeps running on the server; the error says so.
    pub async fn wait_task(
        &self,
        task: &MoRef,
        timeout: Duration,
        progress: ProgressFn<'_>,
    ) -> Result<Option<Node>, Error> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(25);
        loop {
            let mut info = self
                .properties(task, &["info"])
                .await?
                .props
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .ok_or_else(|| Error::Decode(format!("task {task} has no info")))?;
            let state = info.text_of("state").unwrap_or_default().to_string();
            progress(&TaskProgress {
                task: task.value.clone(),
                name: info.text_of("name").unwrap_or_default().to_string(),
                entity: info.text_of("entityName").unwrap_or_default().to_string(),
                state: state.clone(),
                percent: info.i64_at("progress"),
            });
            if let Some(done) = task_outcome(&mut info) {
                return done;
            }
            if started.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!(
                        "waiting for task {} ({}); it is still {} on the server",
                        task.value,
                        info.text_of("name").unwrap_or("?"),
                        state
                    ),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Wait for many tasks at once: one read of all their `info` per poll, whatever their
    /// number. Outcomes in the order of `tasks`.
    pub async fn wait_tasks(
        &self,
        tasks: &[MoRef],
        timeout: Duration,
    ) -> Result<Vec<Result<Option<Node>, Error>>, Error> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(25);
        let mut outcomes: Vec<Option<Result<Option<Node>, Error>>> =
            tasks.iter().map(|_| None).collect();
        loop {
            let pending: Vec<MoRef> = tasks
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.is_none())
                .map(|(t, _)| t.clone())
                .collect();
            if pending.is_empty() {
                return Ok(outcomes.into_iter().flatten().collect());
            }
            let spec = super::PropertySpec {
                kind: "Task",
                paths: &["info"],
            };
            for object in self.retrieve(&pending, &[spec]).await? {
                let Some(i) = tasks.iter().position(|t| *t == object.obj) else {
                    continue;
                };
                if let Some((_, mut info)) = object.props.into_iter().next() {
                    outcomes[i] = task_outcome(&mut info);
                }
            }
            if outcomes.iter().any(Option::is_none) && started.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!(
                        "waiting for {} tasks; they are still running on the server",
                        outcomes.iter().filter(|o| o.is_none()).count()
                    ),
                    secs: timeout.as_secs(),
                });
            }
            if outcomes.iter().any(Option::is_none) {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }

    /// Call a `*_Task` method and wait for it.
    pub async fn run_task(
        &self,
        req: Request,
        timeout: Duration,
        progress: ProgressFn<'_>,
    ) -> Result<Option<Node>, Error> {
        let method = req.method().to_string();
        let task = self
            .call_returnval(req)
            .await?
            .and_then(|n| n.as_moref())
            .ok_or_else(|| Error::Decode(format!("{method} returned no task")))?;
        self.wait_task(&task, timeout, progress).await
    }
}

/// A finished task's result (success) or fault (error); None while it runs.
fn task_outcome(info: &mut Node) -> Option<Result<Option<Node>, Error>> {
    match info.text_of("state").unwrap_or_default() {
        "success" => {
            let at = info.children.iter().position(|c| c.name == "result");
            Some(Ok(at.map(|i| info.children.swap_remove(i))))
        }
        "error" => {
            let message = info.str_at("error.localizedMessage").unwrap_or_default();
            Some(Err(match info.path("error.fault") {
                Some(fault) => Error::from_fault_node(fault, message),
                None => Error::Fault {
                    name: "SystemError".into(),
                    message: message.to_string(),
                    object: None,
                    detail: Box::default(),
                },
            }))
        }
        _ => None,
    }
}
