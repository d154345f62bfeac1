//! Typed state: serde types in and out of steps and runs.
mod common;

use berth_pipeline::{Cause, Engine, Outcome, Pipeline, Stage, Step};
use common::memory;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    items: Vec<u32>,
    #[serde(default)]
    total: Option<u32>,
    #[serde(default)]
    shipped: bool,
}

#[derive(Serialize)]
struct TotalPatch {
    total: u32,
}

#[tokio::test]
async fn typed_steps_read_and_patch_a_serde_state() {
    let (store, _) = memory();
    let p = Pipeline::new("orders")
        .stage(
            Stage::new("price").step(Step::typed("sum", |_, order: Order| async move {
                Ok(TotalPatch {
                    total: order.items.iter().sum(),
                })
            })),
        )
        .stage(
            Stage::new("ship").step(Step::typed("ship", |_, order: Order| async move {
                assert_eq!(order.total, Some(6));
                Ok(serde_json::json!({"shipped": true}))
            })),
        );
    let engine = Engine::new(store, p).unwrap();
    let order = Order {
        items: vec![1, 2, 3],
        total: None,
        shipped: false,
    };
    let report = engine.start_typed(&order).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    let done: Order = report.state_as().unwrap();
    assert_eq!(
        done,
        Order {
            items: vec![1, 2, 3],
            total: Some(6),
            shipped: true
        }
    );
}

#[tokio::test]
async fn a_state_of_the_wrong_shape_fails_the_step_permanently() {
    let (store, _) = memory();
    let p = Pipeline::new("orders").stage(
        Stage::new("price").step(Step::typed("sum", |_, order: Order| async move {
            Ok(order.items.len())
        })),
    );
    let engine = Engine::new(store, p).unwrap();
    let report = engine
        .start(serde_json::json!({"items": "not a list"}))
        .await
        .unwrap();
    let Outcome::Failed(f) = report.outcome else {
        panic!()
    };
    assert!(
        matches!(&f.causes[0], Cause::Step { attempts: 1, error, .. } if error.contains("json"))
    );
}
