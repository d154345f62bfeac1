//! Keeping a session alive is one operation on the server, however many shards the session
//! holds. Counted by the server itself (`serverStatus` opcounters), so the figure does not
//! depend on how fast this machine or the test server is.

mod common;

use berth_core::OpenOptions;
use berth_state_mongo::LeaseClock;
use common::{uri, TestDb};
use mongodb::bson::doc;
use std::time::Duration;

/// Tries per measurement; the smallest count wins (other clients and the drivers' own
/// monitoring can only add operations, never remove them).
const TRIES: usize = 8;

/// Every operation the server has counted so far.
async fn ops(admin: &mongodb::Database) -> i64 {
    let status = admin
        .run_command(doc! {"serverStatus": 1})
        .await
        .expect("serverStatus");
    let counters = status.get_document("opcounters").expect("opcounters");
    counters
        .values()
        .map(|v| {
            v.as_i64()
                .or_else(|| v.as_i32().map(i64::from))
                .unwrap_or(0)
        })
        .sum()
}

/// The fewest operations the server counted around `f` in [`TRIES`] tries.
async fn fewest_ops<F, Fut>(admin: &mongodb::Database, mut f: F) -> i64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut fewest = i64::MAX;
    for _ in 0..TRIES {
        let before = ops(admin).await;
        f().await;
        fewest = fewest.min(ops(admin).await - before);
    }
    fewest
}

#[tokio::test]
async fn keepalive_is_one_operation_whatever_the_session_holds() {
    let db = TestDb::new("rtt");
    let store = db
        .open(LeaseClock::Server, OpenOptions::default())
        .await
        .unwrap();
    let admin = mongodb::Client::with_uri_str(uri())
        .await
        .unwrap()
        .database("admin");
    // What reading the counters itself adds.
    let baseline = fewest_ops(&admin, || async {}).await;

    let sessions = store.sessions().clone();
    for held in [3usize, 300] {
        let session = sessions
            .open("10.0.0.1:4000", Duration::from_secs(60))
            .await
            .unwrap();
        let shards: Vec<String> = (0..held).map(|i| format!("g{held}:{i}")).collect();
        assert_eq!(
            sessions.acquire(session.id, &shards).await.unwrap().len(),
            held
        );
        sessions.keepalive(session.id).await.unwrap(); // connections warm
        let id = session.id;
        let counted = fewest_ops(&admin, || {
            let sessions = sessions.clone();
            async move {
                let kept = sessions.keepalive(id).await.unwrap();
                assert_eq!(kept.id, id);
            }
        })
        .await;
        assert_eq!(
            counted - baseline,
            1,
            "a keepalive of a session holding {held} shards took {} operations",
            counted - baseline
        );
        // Still holding everything it held.
        assert_eq!(sessions.held(id).await.unwrap().len(), held);
    }
}
