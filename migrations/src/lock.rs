//! The migration lock: one document in `_berth_migrations_lock`, so two operators never
//! migrate one database at once.
//!
//! It is taken with a conditional upsert (free, expired or already ours; a duplicate key on
//! `_id` means someone else holds it) judged by the server's clock, kept alive by a heartbeat,
//! and deleted on release. A holder killed on this host (same host name and PID namespace, PID
//! no longer running) is taken over at once; elsewhere the lock lapses `ttl` after the last
//! heartbeat. A second operator waits, saying once who holds it, until `timeout`.

use crate::error::MigrateError;
use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// `_id` of the lock document.
const LOCK_ID: &str = "berth-migrate";
/// How often a waiting operator looks again.
const POLL: Duration = Duration::from_millis(200);

/// Who holds (or wants) the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Unique token of one process's hold.
    pub owner: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// PID namespace (Linux), so a PID is only judged within its namespace.
    pub pid_ns: Option<String>,
    /// The command it runs (`up`, `down`).
    pub command: String,
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_else(|_| "unknown-host".into())
    }
}

fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

impl Holder {
    /// This process, running `command`.
    pub fn me(command: &str) -> Holder {
        let host = host_name();
        let pid = std::process::id();
        Holder {
            owner: format!("{host}:{pid}:{}", uuid::Uuid::now_v7()),
            host,
            pid,
            pid_ns: pid_namespace(),
            command: command.to_owned(),
        }
    }

    fn from_document(d: &Document) -> Holder {
        let text = |k: &str| d.get_str(k).unwrap_or_default().to_owned();
        Holder {
            owner: text("owner"),
            host: text("host"),
            pid: d
                .get_i64("pid")
                .ok()
                .or_else(|| d.get_i32("pid").ok().map(i64::from))
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(0),
            pid_ns: d.get_str("pidNs").ok().map(str::to_owned),
            command: text("command"),
        }
    }

    /// `host pid N`, for messages.
    pub fn describe(&self) -> String {
        if self.command.is_empty() {
            format!("{} pid {}", self.host, self.pid)
        } else {
            format!("`{}` on {} pid {}", self.command, self.host, self.pid)
        }
    }

    /// Whether this holder ran on this host, in this PID namespace, and is no longer running.
    fn is_gone(&self) -> bool {
        let me = Holder::me("");
        self.host == me.host
            && self.pid_ns.is_some()
            && self.pid_ns == me.pid_ns
            && self.pid != me.pid
            && !process_alive(self.pid)
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true; // not a PID we can judge: assume alive, let the lock expire
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// A held lock; [`release`](Lock::release) it when done. Dropped without release (a crash), it
/// stays until taken over or expired.
#[derive(Debug)]
pub struct Lock {
    coll: Collection<Document>,
    owner: String,
    heartbeat: JoinHandle<()>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// The update taking the lock for `me` for `ttl`, judged by the server's clock.
fn take(me: &Holder, ttl: Duration) -> Vec<Document> {
    let now = doc! {"$toLong": "$$NOW"};
    vec![doc! {"$set": {
        "owner": &me.owner,
        "host": &me.host,
        "pid": i64::from(me.pid),
        "pidNs": me.pid_ns.clone(),
        "command": &me.command,
        "since": now.clone(),
        "exp": {"$add": [now, ms(ttl)]},
    }}]
}

/// Takes the lock of `db` for `command`, waiting up to `timeout` for another holder and
/// calling `waiting` once with a message saying who holds it.
pub async fn acquire(
    db: &Database,
    collection: &str,
    command: &str,
    timeout: Duration,
    ttl: Duration,
    waiting: &mut dyn FnMut(&str),
) -> Result<Lock, MigrateError> {
    let coll = db.collection::<Document>(collection);
    let me = Holder::me(command);
    let started = Instant::now();
    let mut announced = false;
    loop {
        let filter = doc! {"_id": LOCK_ID, "$or": [
            {"owner": null},
            {"owner": &me.owner},
            {"$expr": {"$lt": ["$exp", {"$toLong": "$$NOW"}]}},
        ]};
        match coll.update_one(filter, take(&me, ttl)).upsert(true).await {
            Ok(_) => break,
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(MigrateError::mongo("take the migration lock")(e)),
        }
        let Some(current) = coll
            .find_one(doc! {"_id": LOCK_ID})
            .await
            .map_err(MigrateError::mongo("read the migration lock"))?
        else {
            continue; // released in between
        };
        let holder = Holder::from_document(&current);
        if holder.is_gone() {
            let taken = coll
                .update_one(
                    doc! {"_id": LOCK_ID, "owner": &holder.owner},
                    take(&me, ttl),
                )
                .await
                .map_err(MigrateError::mongo("take over the migration lock"))?;
            if taken.matched_count == 1 {
                tracing::warn!(
                    holder = holder.describe(),
                    "took over the lock of a process that is gone"
                );
                waiting(&format!(
                    "took over the migration lock of {}, which is no longer running",
                    holder.describe()
                ));
                break;
            }
            continue;
        }
        if !announced {
            waiting(&format!(
                "waiting for the migration lock of database {:?}, held by {} (giving up after {} s)",
                db.name(),
                holder.describe(),
                timeout.as_secs()
            ));
            announced = true;
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(MigrateError::Locked {
                database: db.name().to_owned(),
                holder: holder.describe(),
                waited_secs: elapsed.as_secs(),
                ttl_secs: ttl.as_secs(),
            });
        }
        tokio::time::sleep(POLL.min(timeout - elapsed)).await;
    }
    tracing::debug!(owner = me.owner, "migration lock taken");
    let heartbeat = tokio::spawn(heartbeat(coll.clone(), me.owner.clone(), ttl));
    Ok(Lock {
        coll,
        owner: me.owner,
        heartbeat,
    })
}

async fn heartbeat(coll: Collection<Document>, owner: String, ttl: Duration) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let now = doc! {"$toLong": "$$NOW"};
        let update = vec![doc! {"$set": {"exp": {"$add": [now, ms(ttl)]}}}];
        match coll
            .update_one(doc! {"_id": LOCK_ID, "owner": &owner}, update)
            .await
        {
            Ok(r) if r.matched_count == 1 => {}
            Ok(_) => {
                tracing::warn!("the migration lock was taken over by another process");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "could not refresh the migration lock"),
        }
    }
}

impl Lock {
    /// Releases the lock (if still ours).
    pub async fn release(self) -> Result<(), MigrateError> {
        self.heartbeat.abort();
        self.coll
            .delete_one(doc! {"_id": LOCK_ID, "owner": &self.owner})
            .await
            .map_err(MigrateError::mongo("release the migration lock"))?;
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}
