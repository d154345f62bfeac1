//! Tenant output: appended to files the host tails into log events and rotates by size, so
//! a tenant that writes a lot never fills the disk while a host runs — real processes.

mod common;

use common::{runtime, until, Ev, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_files_are_rotated_by_size_and_still_reach_the_log_events() {
    let h = Harness::new();
    h.tenant("chatty", &[]);
    let (mut options, mut events) = h.options();
    let ticker = format!(
        "i=0; while :; do i=$((i+1)); echo \"line $i of some forty bytes of text\"; sleep 0.002; done & exec {}",
        env!("CARGO_BIN_EXE_berth-test-tenant")
    );
    options.command = vec!["/bin/sh".into(), "-c".into(), ticker];
    options.log_max_bytes = 4096;
    options.log_keep = 2;
    let rt = runtime(options).await;
    let t = rt.ensure("chatty").await.unwrap();
    let dir = h.root().join(".berth-logs/chatty");
    let live = dir.join("stdout.log");
    until("two rotations", || dir.join("stdout.log.2").exists()).await;
    // Rotation happens right after a read that passed the limit: the live file stays near
    // it (one 50 ms poll of writes on top), and only `log_keep` old files exist.
    for _ in 0..20 {
        let len = std::fs::metadata(&live).map(|m| m.len()).unwrap_or(0);
        assert!(len < 64 * 1024, "the live output file grew to {len} bytes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!dir.join("stdout.log.3").exists());
    let rotated = std::fs::read_to_string(dir.join("stdout.log.1")).unwrap();
    assert!(rotated
        .lines()
        .all(|l| l.starts_with("line ") || l.starts_with("listening ")));
    // Lines keep arriving, in order, after rotations.
    events.clear();
    let first = events
        .wait(|e| match e {
            Ev::L(l) if l.key == "chatty" => l.line.split(' ').nth(1)?.parse::<u64>().ok(),
            _ => None,
        })
        .await;
    let later = events
        .wait(|e| match e {
            Ev::L(l) if l.key == "chatty" => l
                .line
                .split(' ')
                .nth(1)?
                .parse::<u64>()
                .ok()
                .filter(|n| *n > first + 50),
            _ => None,
        })
        .await;
    assert!(later > first);
    assert!(common::alive(t.pid));
    rt.dispose().await;
    assert!(common::processes_under(h.root()).is_empty());
}
