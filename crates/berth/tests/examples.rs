//! The examples run as tests, so the docs that point at them stay true.

#[allow(dead_code)]
#[path = "../examples/langgraph_checkpointer.rs"]
mod langgraph_checkpointer;

#[tokio::test]
async fn langgraph_checkpointer_tour_runs_on_memory_and_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("tour.db").display());
    for url in ["memory:", sqlite.as_str()] {
        let store = berth::open(url).await.unwrap();
        let done = langgraph_checkpointer::tour(&store).await.unwrap();
        let ops: Vec<&str> = done
            .iter()
            .map(|line| line.split(':').next().unwrap())
            .collect();
        assert_eq!(
            ops,
            vec![
                "put",
                "put_writes",
                "get_tuple",
                "list",
                "copy_thread",
                "prune",
                "ttl",
                "delete_thread"
            ],
            "{url}"
        );
        assert!(
            done[4].contains("2 checkpoint(s) copied"),
            "{url}: {done:?}"
        );
        assert!(
            done[5].contains("2 old checkpoint(s) removed"),
            "{url}: {done:?}"
        );
        // It deletes what it made, and runs again on the same store.
        assert!(
            store.checkpoints().namespaces().await.unwrap().is_empty(),
            "{url}"
        );
        langgraph_checkpointer::tour(&store).await.unwrap();
    }
}
