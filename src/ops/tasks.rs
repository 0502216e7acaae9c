//! The TaskManager's recent tasks (who, what, on which object, progress, result) and
//! cancelling one (CancelTask).

use serde::Serialize;

use crate::vim::{MoRef, Node, ObjectContent, PropertySpec, Request};

use super::error::{OpError, OpResult};
use super::fleet::{Fleet, Gathered, Scope, Target, WithEndpoint};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskSummary {
    pub endpoint: String,
    /// The task's moref value (`task-12`): what `task cancel` takes.
    pub id: String,
    /// `VirtualMachine.powerOff`…
    pub description_id: String,
    pub entity: String,
    pub entity_type: String,
    /// The entity's moref id (`vm-42`).
    pub entity_id: String,
    /// queued, running, success or error.
    pub state: String,
    pub progress: Option<i64>,
    pub cancelable: bool,
    pub cancelled: bool,
    pub user: String,
    pub queued: Option<String>,
    pub started: Option<String>,
    pub completed: Option<String>,
    /// The fault's message of a failed task.
    pub error: Option<String>,
}

impl TaskSummary {
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "success" | "error")
    }
}

/// Recent tasks of every endpoint in scope, oldest first; only queued and running ones
/// unless `all`.
pub async fn recent(fleet: &Fleet, scope: &Scope, all: bool) -> OpResult<Gathered<TaskSummary>> {
    let found = fleet.gather_each(scope, recent_target).await?;
    Ok(found.map_items(|mut tasks| {
        tasks.retain(|t| all || !t.finished());
        tasks.sort_by(|a, b| {
            (a.queued.as_deref(), &a.endpoint, task_number(&a.id)).cmp(&(
                b.queued.as_deref(),
                &b.endpoint,
                task_number(&b.id),
            ))
        });
        tasks
    }))
}

fn task_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn recent_target(target: Target) -> OpResult<Vec<TaskSummary>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let Some(manager) = client.content().manager("taskManager") else {
        return Ok(Vec::new());
    };
    let refs = client
        .properties(&manager, &["recentTask"])
        .await
        .at(&endpoint)?
        .morefs("recentTask");
    let infos = client
        .retrieve(
            &refs,
            &[PropertySpec {
                kind: "Task",
                paths: &["info"],
            }],
        )
        .await
        .at(&endpoint)?;
    let mut tasks: Vec<TaskSummary> = infos.iter().filter_map(|o| summary(&endpoint, o)).collect();
    name_entities(&client, &mut tasks).await;
    Ok(tasks)
}

/// Some servers leave `entityName` empty or set it to the moref's id: name those
/// entities with one read of their `name` (best effort: a vanished one keeps its id).
async fn name_entities(client: &crate::vim::Client, tasks: &mut [TaskSummary]) {
    let unnamed = |t: &TaskSummary| {
        !t.entity_type.is_empty() && (t.entity.is_empty() || t.entity == t.entity_id)
    };
    let mut refs: Vec<MoRef> = tasks
        .iter()
        .filter(|t| unnamed(t))
        .map(|t| MoRef::new(t.entity_type.clone(), t.entity_id.clone()))
        .collect();
    refs.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
    refs.dedup();
    let mut kinds: Vec<&str> = refs.iter().map(|r| r.kind.as_str()).collect();
    kinds.dedup();
    let specs: Vec<PropertySpec> = kinds
        .iter()
        .map(|kind| PropertySpec {
            kind,
            paths: &["name"],
        })
        .collect();
    let Ok(named) = client.retrieve(&refs, &specs).await else {
        return;
    };
    for task in tasks.iter_mut().filter(|t| unnamed(t)) {
        if let Some(name) = named
            .iter()
            .find(|o| o.obj.kind == task.entity_type && o.obj.value == task.entity_id)
            .and_then(|o| o.str("name"))
        {
            task.entity = name.to_string();
        }
    }
}

fn summary(endpoint: &str, object: &ObjectContent) -> Option<TaskSummary> {
    let info: &Node = object.get("info")?;
    let text = |p: &str| info.str_at(p).map(str::to_string);
    let entity = info.path("entity");
    Some(TaskSummary {
        endpoint: endpoint.to_string(),
        id: object.obj.value.clone(),
        description_id: text("descriptionId").unwrap_or_default(),
        entity: text("entityName").unwrap_or_default(),
        entity_type: entity.and_then(|e| e.type_attr.clone()).unwrap_or_default(),
        entity_id: entity.map(|e| e.text.clone()).unwrap_or_default(),
        state: text("state").unwrap_or_default(),
        progress: info.i64_at("progress"),
        cancelable: info.bool_at("cancelable").unwrap_or(false),
        cancelled: info.bool_at("cancelled").unwrap_or(false),
        user: text("reason.userName").unwrap_or_default(),
        queued: text("queueTime"),
        started: text("startTime"),
        completed: text("completeTime"),
        error: info
            .str_at("error.localizedMessage")
            .map(str::to_string)
            .or_else(|| info.path("error.fault").and_then(|f| f.xsi_type.clone())),
    })
}

/// One task by id (`task-12` or `Task:task-12`) on the endpoint in scope.
pub async fn get(fleet: &Fleet, scope: &Scope, id: &str) -> OpResult<(Target, TaskSummary)> {
    let target = fleet.target(scope).await?;
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let moref = MoRef::parse(id)
        .filter(|m| m.kind == "Task")
        .unwrap_or_else(|| MoRef::new("Task", id));
    let object = match client.properties(&moref, &["info"]).await {
        Ok(o) => o,
        Err(e) if e.is_fault("ManagedObjectNotFound") => {
            return Err(OpError::NotFound {
                kind: "task",
                name: id.to_string(),
                suggestions: Vec::new(),
            });
        }
        Err(e) => return Err(OpError::vim(&endpoint, e)),
    };
    let task = summary(&endpoint, &object).ok_or_else(|| OpError::NotFound {
        kind: "task",
        name: id.to_string(),
        suggestions: Vec::new(),
    })?;
    Ok((target, task))
}

/// Whether the server would cancel `task`: a refusal (nothing changed) when it has
/// finished or is not cancelable.
pub fn check_cancelable(task: &TaskSummary) -> OpResult<()> {
    if task.finished() {
        return Err(OpError::refused(
            format!("task {} has already finished ({})", task.id, task.state),
            "only queued or running tasks can be cancelled",
        ));
    }
    if !task.cancelable {
        return Err(OpError::refused(
            format!(
                "task {} ({} on {}) cannot be cancelled",
                task.id, task.description_id, task.entity
            ),
            "the server marks this kind of task as not cancelable",
        ));
    }
    Ok(())
}

/// CancelTask after `check_cancelable`. The task ends later, as `error` with a
/// RequestCanceled fault.
pub async fn cancel(target: &Target, task: &TaskSummary) -> OpResult<()> {
    check_cancelable(task)?;
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    match client
        .call(Request::new("CancelTask", &MoRef::new("Task", &task.id)))
        .await
    {
        Ok(_) => Ok(()),
        // It finished (or was cancelled) since we looked: nothing changed.
        Err(e) if e.is_fault("InvalidState") => Err(OpError::refused(
            format!("task {} has already finished or been cancelled", task.id),
            "only queued or running tasks can be cancelled; `ceso task list --recent` shows its result",
        )),
        Err(e) if e.is_fault("NotSupported") => Err(OpError::refused(
            format!(
                "{endpoint} cannot cancel task {} ({})",
                task.id, task.description_id
            ),
            "the server marks this kind of task as not cancelable",
        )),
        Err(e) => Err(OpError::vim(&endpoint, e)),
    }
}
