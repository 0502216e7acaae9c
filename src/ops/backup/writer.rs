//! The repository writer on its own thread. The engine is synchronous (chunking,
//! hashing, compression, fsync); the network side is async. Disk bytes cross over a
//! bounded channel, so reading and storing overlap and memory stays bounded.
//!
//! Dropping the `RepoWriter` without `commit` abandons the backup: the engine writes no
//! manifest, and the repository stays valid (unreferenced chunks are removed by prune).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::backup_repo::{
    BackupMeta, DiskInfo, DiskMap, DiskWriteStats, Extent, Manifest, RepoError, Repository,
};
use crate::ops::error::{OpError, OpResult};

use super::repo::repo_error;

/// Buffers in flight between the reader and the writer thread.
const QUEUE: usize = 256;

enum Command {
    Disk {
        info: DiskInfo,
        parent: Option<DiskMap>,
    },
    Range(Extent),
    Data(Bytes),
    EndRange,
    EndDisk,
    File {
        name: String,
        data: Vec<u8>,
    },
    Commit,
}

type Outcome = Result<(Manifest, Vec<DiskWriteStats>), RepoError>;

pub struct RepoWriter {
    tx: mpsc::Sender<Command>,
    /// Taken by whoever first learns that the thread ended (commit, or a failed send).
    done: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Outcome>>>,
    id: String,
    stopped: Option<oneshot::Receiver<()>>,
}

impl RepoWriter {
    /// Begin a backup in `repo`; the backup id is known from here on.
    pub async fn start(repo: Arc<Repository>, meta: BackupMeta) -> OpResult<RepoWriter> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (id_tx, id_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let done = tokio::task::spawn_blocking(move || {
            let outcome = run(&repo, meta, rx, id_tx);
            // The backup writer (and its temp pack) is gone by now.
            let _ = stopped_tx.send(());
            outcome
        });
        match id_rx.await {
            Ok(id) => Ok(RepoWriter {
                tx,
                done: tokio::sync::Mutex::new(Some(done)),
                id,
                stopped: Some(stopped_rx),
            }),
            // The thread ended before beginning: its result says why.
            Err(_) => Err(finished_early(done).await),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Resolves once the writer thread has ended and cleaned up (after a commit, or
    /// after the writer was dropped and the unfinished backup discarded).
    pub fn stopped(&mut self) -> impl Future<Output = ()> + use<> {
        let rx = self.stopped.take();
        async move {
            if let Some(rx) = rx {
                let _ = rx.await;
            }
        }
    }

    pub async fn begin_disk(&self, info: DiskInfo, parent: Option<DiskMap>) -> OpResult<()> {
        self.send(Command::Disk { info, parent }).await
    }

    pub async fn begin_range(&self, extent: Extent) -> OpResult<()> {
        self.send(Command::Range(extent)).await
    }

    pub async fn data(&self, bytes: Bytes) -> OpResult<()> {
        self.send(Command::Data(bytes)).await
    }

    pub async fn end_range(&self) -> OpResult<()> {
        self.send(Command::EndRange).await
    }

    pub async fn end_disk(&self) -> OpResult<()> {
        self.send(Command::EndDisk).await
    }

    pub async fn file(&self, name: &str, data: Vec<u8>) -> OpResult<()> {
        self.send(Command::File {
            name: name.to_string(),
            data,
        })
        .await
    }

    /// Write the manifest (after every chunk is durable); the backup exists from here.
    pub async fn commit(self) -> OpResult<(Manifest, Vec<DiskWriteStats>)> {
        // A failed send means the thread stopped: its result carries the reason.
        let _ = self.tx.send(Command::Commit).await;
        drop(self.tx);
        match self.done.into_inner() {
            Some(done) => join(done).await,
            None => Err(OpError::Io("the repository writer already stopped".into())),
        }
    }

    async fn send(&self, command: Command) -> OpResult<()> {
        if self.tx.send(command).await.is_ok() {
            return Ok(());
        }
        // The thread stopped on an error: report that error.
        let done = self.done.lock().await.take();
        Err(match done {
            Some(done) => match join(done).await {
                Err(e) => e,
                Ok(_) => OpError::Io("the repository writer ended unexpectedly".into()),
            },
            None => OpError::Io("the repository writer already stopped".into()),
        })
    }
}

async fn join(done: tokio::task::JoinHandle<Outcome>) -> OpResult<(Manifest, Vec<DiskWriteStats>)> {
    match done.await {
        Ok(result) => result.map_err(repo_error),
        Err(e) => Err(OpError::Io(format!("the repository writer crashed: {e}"))),
    }
}

async fn finished_early(done: tokio::task::JoinHandle<Outcome>) -> OpError {
    match join(done).await {
        Err(e) => e,
        Ok(_) => OpError::Io("the repository writer ended before starting".into()),
    }
}

fn aborted() -> RepoError {
    RepoError::InvalidWrite("the backup was abandoned before its manifest was written".into())
}

/// The writer thread: apply commands until Commit (write the manifest) or until the
/// sender is dropped (abandon: no manifest).
fn run(
    repo: &Repository,
    meta: BackupMeta,
    mut rx: mpsc::Receiver<Command>,
    id_tx: oneshot::Sender<String>,
) -> Outcome {
    let mut backup = repo.begin_backup(meta)?;
    if id_tx.send(backup.id().to_string()).is_err() {
        return Err(aborted());
    }
    let mut disks = Vec::new();
    loop {
        match rx.blocking_recv().ok_or_else(aborted)? {
            Command::Disk { info, parent } => {
                let key = info.key;
                let mut disk = backup.disk_writer(info, parent.as_ref())?;
                loop {
                    match rx.blocking_recv().ok_or_else(aborted)? {
                        Command::Range(extent) => disk.begin_range(extent)?,
                        Command::Data(bytes) => disk.push(&bytes)?,
                        Command::EndRange => disk.end_range()?,
                        Command::EndDisk => break,
                        _ => {
                            return Err(RepoError::InvalidWrite(format!(
                                "disk {key} was not ended"
                            )));
                        }
                    }
                }
                disks.push(disk.finish()?);
                backup.flush_chunks()?;
            }
            Command::File { name, data } => backup.add_file(&name, &data)?,
            Command::Commit => return Ok((backup.commit()?, disks)),
            Command::Range(_) | Command::Data(_) | Command::EndRange | Command::EndDisk => {
                return Err(RepoError::InvalidWrite(
                    "disk data outside of a disk".into(),
                ));
            }
        }
    }
}
