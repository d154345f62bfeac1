//! Golden traces of `update_instance_secrets`: the five scenarios named in seed 000's file
//! list, each run on memory and on SQLite and compared exactly with
//! `tests/traces/update-instance-secrets/<scenario>.md` (re-record with
//! `BERTH_RECORD_TRACES=1`). Secret values are stored encrypted: the trace shows envelopes,
//! and each scenario checks that no plaintext value reached it.

mod trace_support;

use berth_runner_storage::{secrets_collection, SecretChanges};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use trace_support::{check_golden, open, Backend, Traced};

const GROUP: &str = "update-instance-secrets";
const P: &str = "test";
const I: &str = "test";

fn changes(list: &[(&str, Option<Value>)]) -> BTreeMap<String, Option<Value>> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

async fn arrange(t: &Traced, list: &[(&str, Option<Value>)]) {
    t.setup_secrets
        .update_instance_secrets(P, I, &changes(list))
        .await
        .unwrap();
}

async fn act(t: &Traced, list: &[(&str, Option<Value>)]) -> SecretChanges {
    t.tracer.section("act");
    t.secrets
        .update_instance_secrets(P, I, &changes(list))
        .await
        .unwrap()
}

async fn stored(t: &Traced) -> BTreeMap<String, Value> {
    t.setup_secrets.instance_secrets(P, I).await.unwrap()
}

fn finish(t: &Traced, b: Backend, name: &str, plaintexts: &[&str]) {
    let rendered = t.tracer.render();
    for p in plaintexts {
        assert!(!rendered.contains(p), "plaintext {p:?} in the trace");
    }
    check_golden(GROUP, name, &rendered, b == Backend::Memory);
}

async fn create_new_secrets_for_instance(b: Backend) {
    let t = open(b).await;
    let done = act(
        &t,
        &[
            ("api-token", Some(json!("tok-3f9a1c"))),
            (
                "database",
                Some(json!({"user": "app", "password": "pw-7c2e"})),
            ),
        ],
    )
    .await;
    assert_eq!(done.created, vec!["api-token", "database"]);
    assert_eq!(stored(&t).await["database"]["password"], "pw-7c2e");
    let raw = t
        .raw
        .records()
        .scan(&secrets_collection(P, I), &berth_core::Scan::all())
        .await
        .unwrap();
    assert!(raw.iter().all(|r| !r.value.to_string().contains("pw-7c2e")));
    finish(
        &t,
        b,
        "create-new-secrets-for-instance",
        &["tok-3f9a1c", "pw-7c2e"],
    );
}

async fn update_existing_secrets(b: Backend) {
    let t = open(b).await;
    arrange(
        &t,
        &[
            ("a", Some(json!("old-a-1d"))),
            ("b", Some(json!("keep-b-2e"))),
        ],
    )
    .await;
    let done = act(
        &t,
        &[
            ("a", Some(json!("new-a-3f"))),
            ("b", Some(json!("keep-b-2e"))),
        ],
    )
    .await;
    assert_eq!(
        done,
        SecretChanges {
            updated: vec!["a".into()],
            ..Default::default()
        }
    );
    assert_eq!(stored(&t).await["a"], "new-a-3f");
    finish(
        &t,
        b,
        "update-existing-secrets",
        &["old-a-1d", "keep-b-2e", "new-a-3f"],
    );
}

async fn delete_existing_secrets(b: Backend) {
    let t = open(b).await;
    arrange(
        &t,
        &[
            ("a", Some(json!("sec-a-4a"))),
            ("b", Some(json!("sec-b-5b"))),
        ],
    )
    .await;
    let done = act(&t, &[("a", None)]).await;
    assert_eq!(done.deleted, vec!["a"]);
    assert_eq!(stored(&t).await.keys().collect::<Vec<_>>(), vec!["b"]);
    finish(&t, b, "delete-existing-secrets", &["sec-a-4a", "sec-b-5b"]);
}

async fn create_and_delete_secrets_simultaneously(b: Backend) {
    let t = open(b).await;
    arrange(&t, &[("old", Some(json!("sec-old-6c")))]).await;
    let done = act(&t, &[("old", None), ("new", Some(json!("sec-new-7d")))]).await;
    assert_eq!(
        (done.created, done.deleted),
        (vec!["new".to_owned()], vec!["old".to_owned()])
    );
    assert_eq!(stored(&t).await.keys().collect::<Vec<_>>(), vec!["new"]);
    assert!(
        t.tracer.render().matches("💾 write").count() == 1,
        "one batch"
    );
    finish(
        &t,
        b,
        "create-and-delete-secrets-simultaneously",
        &["sec-old-6c", "sec-new-7d"],
    );
}

async fn no_op_when_no_changes(b: Backend) {
    let t = open(b).await;
    arrange(&t, &[("a", Some(json!("same-8e")))]).await;
    let done = act(
        &t,
        &[("a", Some(json!("same-8e"))), ("never-existed", None)],
    )
    .await;
    assert!(done.is_empty());
    assert!(!t.tracer.render().contains("write"), "nothing written");
    finish(&t, b, "no-op-when-no-changes", &["same-8e"]);
}

macro_rules! on_backends {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Memory).await })+
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await })+
        }
    };
}

on_backends!(
    create_and_delete_secrets_simultaneously,
    create_new_secrets_for_instance,
    delete_existing_secrets,
    no_op_when_no_changes,
    update_existing_secrets,
);
