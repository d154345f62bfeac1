//! The writer thread: owns the read-write connection and group-commits queued requests.
//!
//! Callers hand a closure over a channel and await its result on a oneshot. The thread takes
//! every request queued at that moment (up to [`MAX_GROUP`]) and runs them in one
//! `BEGIN IMMEDIATE` transaction, each inside its own savepoint: a request that fails (a
//! precondition, say) is rolled back alone and only its caller sees the error. One `COMMIT`
//! (one WAL sync with `synchronous=FULL`) then acknowledges the whole group. While it syncs,
//! new requests queue up and form the next group.

use crate::sql_error::{duplicate, SqlResult};
use crate::stats::WriterStats;
use berth_core::{Error, Result};
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most requests committed in one transaction.
const MAX_GROUP: usize = 512;

/// A write request as the thread sees it.
trait Job: Send {
    /// Runs the request; `false` if it failed (its changes are then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Hands the outcome to the caller; `group` is the error of a transaction that did not
    /// commit, if any.
    fn finish(self: Box<Self>, group: Option<&Error>);
}

struct Task<T, F> {
    work: Option<F>,
    output: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Task<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let out = match self.work.take() {
            Some(work) => work(conn),
            None => Err(Error::backend_msg("write request ran twice", false)),
        };
        let ok = out.is_ok();
        self.output = Some(out);
        ok
    }

    fn finish(self: Box<Self>, group: Option<&Error>) {
        let result = match (self.output, group) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(group)) => Err(duplicate(group)),
            (None, None) => Err(Error::backend_msg("write request was not run", false)),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread; dropping it closes the channel and joins the thread, which
/// closes the write connection.
pub(crate) struct Writer {
    sender: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    stats: WriterStats,
    /// Set on a database opened read-only: names it in the error every write gets.
    read_only: Option<String>,
}

fn stopped() -> Error {
    Error::backend_msg("the SQLite writer thread has stopped", false)
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(crate) fn start(conn: Connection, stats: WriterStats) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel::<Box<dyn Job>>();
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("berth-sqlite-writer".into())
            .spawn(move || serve(conn, receiver, thread_stats))
            .map_err(|e| Error::backend("cannot start the SQLite writer thread", false, e))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
            stats,
            read_only: None,
        })
    }

    /// The writer of a database opened read-only (`what`): no connection, no thread; every
    /// write is refused with [`Error::ReadOnly`].
    pub(crate) fn read_only(what: &str) -> Writer {
        Writer {
            sender: None,
            thread: None,
            stats: WriterStats::default(),
            read_only: Some(what.to_owned()),
        }
    }

    /// Runs `work` on the write connection inside the next commit group and returns its
    /// result once the group has committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Task {
            work: Some(work),
            output: None,
            reply,
        });
        if let Some(what) = &self.read_only {
            return Err(Error::ReadOnly(format!(
                "{what} was opened read-only; nothing was written"
            )));
        }
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        sender.send(job).map_err(|_| stopped())?;
        self.stats.submitted();
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

fn serve(conn: Connection, receiver: mpsc::Receiver<Box<dyn Job>>, stats: WriterStats) {
    let mut group: Vec<Box<dyn Job>> = Vec::new();
    while let Ok(first) = receiver.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        stats.group_started();
        let span = tracing::trace_span!("sqlite.commit_group", requests = group.len());
        let outcome = span.in_scope(|| commit_group(&conn, &mut group));
        match outcome {
            Ok(committed) => {
                if committed > 0 {
                    stats.committed(committed);
                }
                for job in group.drain(..) {
                    job.finish(None);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "SQLite commit group failed");
                for job in group.drain(..) {
                    job.finish(Some(&e));
                }
            }
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite write connection failed");
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .sql()
        .map(|_| ())
}

fn abandon(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs `group` in one transaction; returns how many requests committed, or the error
/// that stopped the whole transaction.
fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<u64> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let single = group.len() == 1;
    let mut ok_count = 0u64;
    for job in group.iter_mut() {
        // A single request needs no savepoint: if it fails, the transaction is rolled back.
        let ok = if single {
            job.run(conn)
        } else {
            if let Err(e) = exec(conn, "SAVEPOINT request") {
                abandon(conn);
                return Err(e);
            }
            let ok = job.run(conn);
            let end = if ok {
                exec(conn, "RELEASE request")
            } else {
                exec(conn, "ROLLBACK TO request").and_then(|_| exec(conn, "RELEASE request"))
            };
            if let Err(e) = end {
                abandon(conn);
                return Err(e);
            }
            ok
        };
        if ok {
            ok_count += 1;
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, full disk, …).
            return Err(Error::backend_msg(
                "SQLite aborted the write transaction",
                false,
            ));
        }
    }
    if ok_count == 0 {
        abandon(conn);
        return Ok(0);
    }
    if let Err(e) = exec(conn, "COMMIT") {
        abandon(conn);
        return Err(e);
    }
    Ok(ok_count)
}
