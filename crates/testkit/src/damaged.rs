//! Damaged records: a run document that cannot be read is named and skipped, never fatal to
//! a listing of the others.

use super::{fresh, Backend};
use berth_core::packrun::*;
use berth_core::ErrorKind;
use serde_json::json;
use std::time::Duration;

const IDS: [&str; 5] = ["r1", "r2", "r3", "r4", "r5"];

fn ids(runs: &[PackRun]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

/// Five runs, `r3` damaged in storage: every listing returns the other four and names `r3`,
/// paging by `next` with every page size visits each document once (a page may hold only the
/// damaged one), `list` fails closed naming it, and `get` of it is `Corrupt`.
pub async fn damaged_run_is_named_and_skipped_in_listings(backend: &dyn Backend) {
    let (loc, store, clock) = fresh(backend).await;
    let runs = store.runs();
    for id in IDS {
        runs.create(PackRun::new(
            id,
            format!("sha256:{id}"),
            json!({"steps": []}),
        ))
        .await
        .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    match loc.damage_run(&store, "r3").await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("this location cannot plant a damaged run ({e}); test not run");
            return;
        }
        Err(e) => panic!("planting a damaged run failed: {e}"),
    }

    let page = runs.list_page(&RunQuery::default()).await.unwrap();
    assert_eq!(ids(&page.runs), vec!["r5", "r4", "r2", "r1"]);
    assert_eq!(page.damaged.len(), 1, "{:?}", page.damaged);
    assert_eq!(page.damaged[0].key, "r3");
    assert!(!page.damaged[0].reason.is_empty());
    assert_eq!(page.next, None, "a page short of its limit is the last");

    for limit in 1..=IDS.len() {
        let mut query = RunQuery {
            limit,
            ..RunQuery::default()
        };
        let (mut seen, mut damaged, mut pages) = (Vec::new(), Vec::new(), 0);
        loop {
            pages += 1;
            assert!(pages <= IDS.len() + 1, "limit {limit}: paging does not end");
            let page = runs.list_page(&query).await.unwrap();
            assert!(page.runs.len() + page.damaged.len() <= limit);
            seen.extend(page.runs.iter().map(|r| r.id.clone()));
            damaged.extend(page.damaged.iter().map(|d| d.key.clone()));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, vec!["r5", "r4", "r2", "r1"], "limit {limit}");
        assert_eq!(damaged, vec!["r3"], "limit {limit}");
    }

    let err = runs.list(&RunQuery::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("r3"), "{err}");

    let err = runs.get("r3").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(runs.get("r2").await.unwrap().unwrap().id, "r2");
}
