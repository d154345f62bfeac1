//! Planning: the commands that bring the database from what it holds ([`Snapshot`]) to what
//! the migrations define. `up` sends them, `up --dry-run` prints them, `verify` reports them as
//! differences. Every command is idempotent, so a plan made after a crash completes the work.

use crate::inspect::{same_doc, IndexInfo, Snapshot};
use crate::registry::{Spec, Step};
use berth_state_mongo::schema::{CollectionNames, IndexDef};
use mongodb::bson::{doc, Document};
use serde::Serialize;

/// Seconds in a day, for `--log-retention-days`.
const DAY: i64 = 86_400;

/// One command to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// The migration it belongs to.
    pub migration: &'static str,
    /// What it does, for people (`create collection pack_runs with validator`).
    pub summary: String,
    /// The difference it repairs, as `verify` reports it (`collection pack_runs is missing`).
    pub finding: String,
    /// The command document, as sent with `runCommand`.
    #[serde(serialize_with = "crate::output::serialize_doc")]
    pub command: Document,
}

/// What has to change, and what cannot be changed safely by the tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Commands, in order.
    pub actions: Vec<Action>,
    /// Objects that exist with other options than defined (an operator must decide).
    pub conflicts: Vec<String>,
}

/// The log retention asked for: `None` leaves any TTL as it is, `Some(0)` removes it.
pub type Retention = Option<u32>;

/// Plans `specs` against `snapshot`.
pub fn plan(
    specs: &[Spec],
    snapshot: &Snapshot,
    names: &CollectionNames,
    retention: Retention,
) -> Plan {
    let mut plan = Plan::default();
    for spec in specs {
        for step in &spec.steps {
            match step {
                Step::Collection { role, validator } => {
                    let name = role.name(names);
                    match snapshot.collections.get(name) {
                        None => {
                            let mut command = doc! {"create": name};
                            let mut summary = format!("create collection {name}");
                            if let Some(v) = validator {
                                command.insert("validator", v.clone());
                                summary.push_str(" with its $jsonSchema validator");
                            }
                            plan.actions.push(Action {
                                migration: spec.id(),
                                summary,
                                finding: format!("collection {name} is missing"),
                                command,
                            });
                        }
                        Some(info) => {
                            if let Some(v) = validator {
                                let equal = info.validator.as_ref().is_some_and(|a| same_doc(a, v));
                                if !equal {
                                    plan.actions.push(Action {
                                        migration: spec.id(),
                                        summary: format!(
                                            "set the $jsonSchema validator of {name} ({})",
                                            if info.validator.is_some() {
                                                "it differs"
                                            } else {
                                                "it has none"
                                            }
                                        ),
                                        finding: format!(
                                            "collection {name} has {} validator",
                                            if info.validator.is_some() {
                                                "a different"
                                            } else {
                                                "no"
                                            }
                                        ),
                                        command: doc! {"collMod": name, "validator": v.clone()},
                                    });
                                }
                            }
                        }
                    }
                }
                Step::Index(def) => {
                    let coll = def.role.name(names);
                    let existing = snapshot
                        .collections
                        .get(coll)
                        .map(|c| c.indexes.as_slice())
                        .unwrap_or_default();
                    plan_index(spec.id(), coll, def, existing, retention, &mut plan);
                }
            }
        }
    }
    plan
}

fn ttl_seconds(def: &IndexDef, retention: Retention) -> Option<i64> {
    match retention {
        Some(days) if def.retention && days > 0 => Some(i64::from(days) * DAY),
        _ => None,
    }
}

fn create_index(coll: &str, def: &IndexDef, ttl: Option<i64>) -> Document {
    let mut spec = doc! {"key": def.keys.clone(), "name": def.name};
    if def.unique {
        spec.insert("unique", true);
    }
    if let Some(p) = &def.partial {
        spec.insert("partialFilterExpression", p.clone());
    }
    if let Some(s) = ttl {
        spec.insert("expireAfterSeconds", s);
    }
    doc! {"createIndexes": coll, "indexes": [spec]}
}

fn describe(def: &IndexDef) -> String {
    let mut s = format!("{}{}", def.keys, if def.unique { " unique" } else { "" });
    if let Some(p) = &def.partial {
        s.push_str(&format!(" partial {p}"));
    }
    s
}

fn plan_index(
    migration: &'static str,
    coll: &str,
    def: &IndexDef,
    existing: &[IndexInfo],
    retention: Retention,
    plan: &mut Plan,
) {
    let wanted_ttl = ttl_seconds(def, retention);
    let found = existing
        .iter()
        .find(|i| i.name == def.name)
        .or_else(|| existing.iter().find(|i| same_doc(&i.key, &def.keys)));
    let Some(found) = found else {
        plan.actions.push(Action {
            migration,
            summary: format!(
                "create index {} on {coll}: {}{}",
                def.name,
                describe(def),
                wanted_ttl
                    .map(|s| format!(" TTL {s} s"))
                    .unwrap_or_default()
            ),
            finding: format!("index {} on {coll} is missing", def.name),
            command: create_index(coll, def, wanted_ttl),
        });
        return;
    };
    let same_partial = match (&found.partial, &def.partial) {
        (None, None) => true,
        (Some(a), Some(b)) => same_doc(a, b),
        _ => false,
    };
    if !same_doc(&found.key, &def.keys) || found.unique != def.unique || !same_partial {
        plan.conflicts.push(format!(
            "index {} on {coll} exists as {}{}{} but is defined as {}; drop it \
             (db.{coll}.dropIndex(\"{}\")) after checking the data, then run `up` again",
            found.name,
            found.key,
            if found.unique { " unique" } else { "" },
            found
                .partial
                .as_ref()
                .map(|p| format!(" partial {p}"))
                .unwrap_or_default(),
            describe(def),
            found.name,
        ));
        return;
    }
    if !def.retention || retention.is_none() || found.expire_after_seconds == wanted_ttl {
        return;
    }
    match wanted_ttl {
        Some(seconds) => plan.actions.push(Action {
            migration,
            summary: format!(
                "set the TTL of index {} on {coll} to {seconds} s (was {})",
                found.name,
                found
                    .expire_after_seconds
                    .map(|s| format!("{s} s"))
                    .unwrap_or_else(|| "none".into())
            ),
            finding: format!(
                "index {} on {coll} has TTL {}, expected {seconds} s",
                found.name,
                found
                    .expire_after_seconds
                    .map(|s| format!("{s} s"))
                    .unwrap_or_else(|| "none".into())
            ),
            command: doc! {"collMod": coll, "index": {"name": &found.name, "expireAfterSeconds": seconds}},
        }),
        None => {
            // A TTL cannot be removed in place: rebuild the index without it.
            plan.actions.push(Action {
                migration,
                summary: format!("drop index {} on {coll} to remove its TTL", found.name),
                finding: format!("index {} on {coll} has a TTL, expected none", found.name),
                command: doc! {"dropIndexes": coll, "index": &found.name},
            });
            plan.actions.push(Action {
                migration,
                summary: format!("create index {} on {coll} without TTL", def.name),
                finding: String::new(),
                command: create_index(coll, def, None),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::CollectionInfo;
    use crate::registry;

    #[test]
    fn a_fresh_database_gets_every_collection_then_every_index() {
        let names = CollectionNames::default();
        let specs = registry::all();
        let plan = plan(&specs, &Snapshot::default(), &names, None);
        assert!(plan.conflicts.is_empty());
        let creates = plan
            .actions
            .iter()
            .filter(|a| a.command.contains_key("create"))
            .count();
        assert_eq!(creates, 9);
        assert!(plan.actions[..9]
            .iter()
            .all(|a| a.command.contains_key("create")));
        assert!(plan.actions.iter().all(|a| !a.summary.contains("TTL")));
        let with_ttl = super::plan(&specs, &Snapshot::default(), &names, Some(30));
        let ttl: Vec<_> = with_ttl
            .actions
            .iter()
            .filter(|a| a.summary.contains("TTL 2592000 s"))
            .collect();
        assert_eq!(ttl.len(), 1, "{:?}", with_ttl.actions);
    }

    #[test]
    fn an_index_with_other_options_is_a_conflict_and_a_ttl_change_a_collmod() {
        let names = CollectionNames::default();
        let specs = registry::all();
        let mut snap = Snapshot::default();
        let logs = CollectionInfo {
            validator: None,
            indexes: vec![
                IndexInfo {
                    name: "runId_1_sequence_1".into(),
                    key: doc! {"runId": 1, "sequence": 1},
                    unique: false,
                    partial: None,
                    expire_after_seconds: None,
                },
                IndexInfo {
                    name: "timestamp_1".into(),
                    key: doc! {"timestamp": 1},
                    unique: false,
                    partial: None,
                    expire_after_seconds: Some(60),
                },
            ],
        };
        snap.collections.insert(names.logs.clone(), logs);
        let p = plan(&specs, &snap, &names, Some(1));
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert!(p.conflicts[0].contains("runId_1_sequence_1"));
        assert!(p
            .actions
            .iter()
            .any(|a| a.command.get_str("collMod") == Ok("pack_run_logs")
                && a.summary.contains("validator")));
        assert!(p
            .actions
            .iter()
            .any(|a| a.summary.contains("TTL of index timestamp_1")));
        let removal = plan(&specs, &snap, &names, Some(0));
        assert!(removal
            .actions
            .iter()
            .any(|a| a.command.contains_key("dropIndexes")));
        let untouched = plan(&specs, &snap, &names, None);
        assert!(untouched.actions.iter().all(|a| !a.summary.contains("TTL")));
    }
}
