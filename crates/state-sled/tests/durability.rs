//! Both durability settings keep what a clean close had acknowledged.

use berth_core::{Batch, Durability, OpenOptions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_and_immediate_writes_survive_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for (round, durability) in [Durability::Relaxed, Durability::Immediate]
        .into_iter()
        .enumerate()
    {
        let store =
            berth_state_sled::open(&path, OpenOptions::default().with_durability(durability))
                .await
                .unwrap();
        for i in 0..100 {
            let mut batch = Batch::new();
            batch.put("c", &format!("{round}-{i:03}"), json!(i));
            batch.put("d", &format!("{round}-{i:03}"), json!(i));
            store.commit(batch).await.unwrap();
        }
        store
            .leases()
            .register(&format!("h:{round}"), "r", true)
            .await
            .unwrap();
    }
    let store = berth_state_sled::open(&path, OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(store.records().count("c", "").await.unwrap(), 200);
    assert_eq!(store.records().count("d", "1-").await.unwrap(), 100);
    assert_eq!(store.leases().runners().await.unwrap().len(), 2);
}
