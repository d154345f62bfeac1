//! Pack-run writes made on behalf of a run's owner: one transaction that first claims the
//! owner's lease document (still held with the fence's token, unexpired by the lease clock)
//! and then writes. Claiming writes the lease document, so a takeover committed meanwhile
//! conflicts with the transaction instead of slipping in between the check and the write.

use crate::errors::{ctx, is_transient_transaction, is_unknown_commit, map};
use crate::schema::Role;
use crate::shared::Shared;
use berth_core::{Error, Fence, Result};
use mongodb::bson::{doc, Bson};
use mongodb::error::Error as DriverError;
use mongodb::ClientSession;
use std::future::Future;
use std::pin::Pin;

/// Rounds of a fenced write that kept meeting transient transaction errors.
const ATTEMPTS: usize = 16;
/// Times an unknown commit outcome is sent again.
const COMMIT_RETRIES: usize = 3;

/// Why a fenced write's body stopped.
pub(crate) enum Fail {
    /// A transient transaction error: the whole transaction runs again.
    Transient,
    /// A final error.
    Error(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Error(e)
    }
}

/// Maps a driver error of `what` inside a transaction.
pub(crate) fn fail(what: &'static str) -> impl Fn(DriverError) -> Fail {
    move |e| {
        if is_transient_transaction(&e) {
            Fail::Transient
        } else {
            Fail::Error(map(what, e))
        }
    }
}

/// The body of a fenced write, run with the transaction's session.
pub(crate) type Body<'a, T> = Box<
    dyn for<'s> FnMut(
            &'s mut ClientSession,
        )
            -> Pin<Box<dyn Future<Output = std::result::Result<T, Fail>> + Send + 's>>
        + Send
        + 'a,
>;

/// Runs `body` in a transaction that holds `fence`; [`Error::StaleFence`] and nothing
/// written once the lease is gone, expired or held with another token.
pub(crate) async fn write_fenced<T>(
    shared: &Shared,
    fence: &Fence,
    body: Body<'_, T>,
) -> Result<T> {
    write_atomic(shared, "a fenced pack-run write", Some(fence), body).await
}

/// Runs `body` in one transaction, holding `fence` first if given, again from the start after
/// a transient transaction error; [`Error::Unsupported`] (naming `what`) where the server has
/// no transactions.
pub(crate) async fn write_atomic<T>(
    shared: &Shared,
    what: &str,
    fence: Option<&Fence>,
    mut body: Body<'_, T>,
) -> Result<T> {
    if !shared.server.transactions {
        return Err(Error::Unsupported(format!(
            "{what} needs a MongoDB replica set: this server reports no transaction support"
        )));
    }
    for _ in 0..ATTEMPTS {
        let mut session = shared
            .client
            .start_session()
            .await
            .map_err(ctx("start session"))?;
        session
            .start_transaction()
            .await
            .map_err(ctx("start transaction"))?;
        let held = match fence {
            Some(fence) => hold(shared, &mut session, fence).await,
            None => Ok(()),
        };
        let outcome = match held {
            Ok(()) => body(&mut session).await,
            Err(f) => Err(f),
        };
        match outcome {
            Ok(value) => match commit(&mut session).await {
                Ok(()) => return Ok(value),
                Err(e) if is_transient_transaction(&e) => continue,
                Err(e) => return Err(map("commit transaction", e)),
            },
            Err(f) => {
                // Best effort: the server drops an unfinished transaction anyway.
                let _ = session.abort_transaction().await;
                match f {
                    Fail::Transient => continue,
                    Fail::Error(e) => return Err(e),
                }
            }
        }
    }
    Err(Error::backend_msg(
        format!("mongodb {what} gave up after {ATTEMPTS} attempts under concurrent writes"),
        true,
    ))
}

/// Claims the lease document of `fence` in the transaction, or says the fence is stale.
async fn hold(
    shared: &Shared,
    session: &mut ClientSession,
    fence: &Fence,
) -> std::result::Result<(), Fail> {
    let token = crate::bson_json::to_i64(fence.token, "fence token")?;
    let filter = doc! {
        "_id": &fence.shard,
        "token": token,
        "owner": {"$ne": Bson::Null},
        "$expr": {"$gt": ["$exp", shared.now_expr()]},
    };
    let done = shared
        .coll(Role::Leases)
        .update_one(filter, doc! {"$inc": {"fencedWrites": 1_i64}})
        .session(&mut *session)
        .await
        .map_err(fail("check fence"))?;
    if done.matched_count == 1 {
        Ok(())
    } else {
        Err(Fail::Error(fence.stale()))
    }
}

async fn commit(session: &mut ClientSession) -> std::result::Result<(), DriverError> {
    let mut tries = 0;
    loop {
        match session.commit_transaction().await {
            Err(e) if is_unknown_commit(&e) && tries < COMMIT_RETRIES => tries += 1,
            other => return other,
        }
    }
}
