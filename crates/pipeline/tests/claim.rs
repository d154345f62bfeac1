//! Stage commits under an owner's claim: refused (and nothing stored) once another owner has
//! taken the lease over; renewed and made after a lapse nobody used.

mod common;

use berth_core::{Claim, Fence, ManualClock, Store};
use berth_pipeline::{Engine, Pipeline, PipelineError, Stage, StartOptions, Step};
use common::{memory, patch_step};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(30);
const SHARD: &str = "packrun:r1";

/// A claim that renews by taking the lease again, if it is free.
#[derive(Debug)]
struct TestClaim {
    store: Store,
    current: Mutex<Fence>,
    renewed: AtomicU32,
}

impl TestClaim {
    async fn take(store: &Store) -> Arc<TestClaim> {
        let lease = store
            .leases()
            .acquire("me:1", &[SHARD.to_owned()], TTL)
            .await
            .unwrap();
        Arc::new(TestClaim {
            store: store.clone(),
            current: Mutex::new(Fence::from(&lease[0])),
            renewed: AtomicU32::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Claim for TestClaim {
    fn fence(&self) -> Fence {
        self.current.lock().unwrap().clone()
    }

    async fn renew(&self, stale: &Fence) -> berth_core::Result<Fence> {
        let again = self
            .store
            .leases()
            .acquire("me:1", &[SHARD.to_owned()], TTL)
            .await?;
        let Some(lease) = again.first() else {
            return Err(stale.stale());
        };
        self.renewed.fetch_add(1, Ordering::SeqCst);
        let fence = Fence::from(lease);
        *self.current.lock().unwrap() = fence.clone();
        Ok(fence)
    }
}

/// Stage `a`, then stage `b` whose step lets the lease lapse (and, with `takeover`, lets
/// another owner take it) before returning its patch.
fn pipeline(store: Store, clock: ManualClock, takeover: bool) -> Pipeline {
    let lapse = Step::new("lapse", move |_| {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            clock.advance(TTL + Duration::from_secs(1));
            if takeover {
                let taken = store
                    .leases()
                    .acquire("other:2", &[SHARD.to_owned()], TTL)
                    .await
                    .unwrap();
                assert_eq!(taken.len(), 1);
            }
            Ok(json!({"b": true}))
        }
    });
    Pipeline::new("owned")
        .stage(Stage::new("a").step(patch_step("s", json!({"a": true}))))
        .stage(Stage::new("b").step(lapse))
}

fn options() -> StartOptions {
    StartOptions {
        run_id: Some("r1".into()),
        state: json!({}),
        entry: None,
        cancel: None,
    }
}

#[tokio::test]
async fn a_commit_after_a_takeover_is_refused_and_stores_nothing() {
    let (store, clock) = memory();
    let claim = TestClaim::take(&store).await;
    let engine = Engine::builder(store.clone(), pipeline(store.clone(), clock, true))
        .claim(claim.clone())
        .build()
        .unwrap();
    let result = engine.start_with(options()).await;
    assert!(
        matches!(result, Err(PipelineError::ClaimLost(ref id)) if id == "r1"),
        "{result:?}"
    );
    let (record, _) = engine.run_record("r1").await.unwrap().unwrap();
    assert_eq!(
        record.state,
        json!({"a": true}),
        "stage b's patch was not stored"
    );
    let stages: Vec<String> = engine
        .stage_log("r1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stage)
        .collect();
    assert_eq!(stages, ["a"], "only the stage committed under the claim");
    assert_eq!(claim.renewed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_lapse_nobody_used_is_renewed_and_the_run_goes_on() {
    let (store, clock) = memory();
    let claim = TestClaim::take(&store).await;
    let first = claim.fence();
    let engine = Engine::builder(store.clone(), pipeline(store.clone(), clock, false))
        .claim(claim.clone())
        .build()
        .unwrap();
    let report = engine.start_with(options()).await.unwrap();
    assert_eq!(report.stage_commits, 2);
    assert_eq!(claim.renewed.load(Ordering::SeqCst), 1);
    assert!(claim.fence().token > first.token);
    let (record, _) = engine.run_record("r1").await.unwrap().unwrap();
    assert_eq!(record.state, json!({"a": true, "b": true}));
}
