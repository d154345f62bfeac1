//! Typed values: addresses, shard ids, runners, the stable hash and entity → shard.

use berth_core::ErrorKind;
use berth_runner_storage::{
    stable_hash, AddressError, Runner, RunnerAddress, ShardId, ShardIdError,
};
use std::collections::BTreeMap;

type AddressCheck = fn(&AddressError) -> bool;
type ShardIdCheck = fn(&ShardIdError) -> bool;

#[test]
fn address_parses_and_displays_canonically() {
    let cases = [
        ("10.0.0.1:34431", "10.0.0.1:34431"),
        ("Runner-A.Example.com:80", "runner-a.example.com:80"),
        ("runner_1:65535", "runner_1:65535"),
        ("[::1]:8080", "[::1]:8080"),
        ("[0:0:0:0:0:0:0:1]:8080", "[::1]:8080"),
        ("[2001:DB8::1]:1", "[2001:db8::1]:1"),
    ];
    for (input, shown) in cases {
        let a: RunnerAddress = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(a.to_string(), shown);
        assert_eq!(a.to_string().parse::<RunnerAddress>().unwrap(), a);
    }
    let a = RunnerAddress::new("::1", 9).unwrap();
    assert_eq!(
        (a.host(), a.port(), a.to_string().as_str()),
        ("::1", 9, "[::1]:9")
    );
}

#[test]
fn address_rejects_malformed_input_with_typed_errors() {
    use AddressError::*;
    let cases: &[(&str, AddressCheck)] = &[
        ("host", |e| matches!(e, MissingPort(_))),
        ("", |e| matches!(e, MissingPort(_))),
        (":80", |e| matches!(e, EmptyHost(_))),
        ("host:", |e| matches!(e, InvalidPort(_))),
        ("host:0", |e| matches!(e, InvalidPort(_))),
        ("host:080", |e| matches!(e, InvalidPort(_))),
        ("host:+80", |e| matches!(e, InvalidPort(_))),
        ("host:65536", |e| matches!(e, InvalidPort(_))),
        ("host:http", |e| matches!(e, InvalidPort(_))),
        ("ho st:80", |e| matches!(e, InvalidHost(_))),
        ("host/x:80", |e| matches!(e, InvalidHost(_))),
        ("ho\0st:80", |e| matches!(e, InvalidHost(_))),
        ("::1:80", |e| matches!(e, InvalidHost(_))),
        ("[host]:80", |e| matches!(e, InvalidHost(_))),
        ("[::g]:80", |e| matches!(e, InvalidHost(_))),
        ("[::1]80", |e| matches!(e, MissingPort(_))),
    ];
    for (input, expected) in cases {
        let err = input.parse::<RunnerAddress>().unwrap_err();
        assert!(expected(&err), "{input:?} gave {err:?}");
    }
    let long = format!("{}:1", "a".repeat(254));
    assert!(matches!(long.parse::<RunnerAddress>(), Err(InvalidHost(_))));
    let core: berth_core::Error = "host".parse::<RunnerAddress>().unwrap_err().into();
    assert_eq!(core.kind(), ErrorKind::InvalidInput);
}

#[test]
fn shard_id_parses_displays_and_rejects() {
    let s: ShardId = "default:300".parse().unwrap();
    assert_eq!((s.group(), s.number()), ("default", 300));
    assert_eq!(s.to_string(), "default:300");
    assert_eq!(ShardId::new("billing", 1).unwrap().to_string(), "billing:1");
    use ShardIdError::*;
    let cases: &[(&str, ShardIdCheck)] = &[
        ("default", |e| matches!(e, MissingSeparator(_))),
        (":1", |e| matches!(e, InvalidGroup(_))),
        ("a:b:1", |e| matches!(e, InvalidGroup(_))),
        ("de fault:1", |e| matches!(e, InvalidGroup(_))),
        ("default:", |e| matches!(e, InvalidNumber(_))),
        ("default:0", |e| matches!(e, InvalidNumber(_))),
        ("default:01", |e| matches!(e, InvalidNumber(_))),
        ("default:-1", |e| matches!(e, InvalidNumber(_))),
        ("default:4294967296", |e| matches!(e, InvalidNumber(_))),
        ("default:x", |e| matches!(e, InvalidNumber(_))),
    ];
    for (input, expected) in cases {
        let err = input.parse::<ShardId>().unwrap_err();
        assert!(expected(&err), "{input:?} gave {err:?}");
    }
    assert!(ShardId::new("g", 0).is_err());
    assert!(ShardId::new(&"g".repeat(256), 1).is_err());
    assert_eq!(ShardId::all("g", 3).unwrap().len(), 3);
    let ordered: Vec<String> = ["g:10", "g:9", "a:2"]
        .iter()
        .map(|s| s.parse::<ShardId>().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ordered,
        ["a:2", "g:9", "g:10"],
        "ordered by group, then number"
    );
}

#[test]
fn typed_values_round_trip_through_serde() {
    let s: ShardId = serde_json::from_str("\"g:7\"").unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"g:7\"");
    assert!(serde_json::from_str::<ShardId>("\"g:07\"").is_err());
    let a: RunnerAddress = serde_json::from_str("\"h:1\"").unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), "\"h:1\"");
    assert!(serde_json::from_str::<RunnerAddress>("\"h\"").is_err());
}

#[test]
fn runner_encodes_as_json_and_rejects_bad_entries() {
    let r = Runner::new("h:1".parse().unwrap())
        .with_groups(["b", "a", "a"])
        .unwrap()
        .with_weight(3);
    assert_eq!(
        r.encode(),
        r#"{"address":"h:1","groups":["a","b"],"weight":3}"#
    );
    assert_eq!(Runner::decode(&r.encode()).unwrap(), r);
    assert!(r.serves("a") && !r.serves("c"));
    let default = Runner::new("h:1".parse().unwrap());
    assert_eq!((default.weight(), default.groups().len()), (1, 1));
    assert!(default.serves("default"));
    for bad in [
        "not json",
        r#"{"address":"h","groups":[],"weight":1}"#,
        r#"{"address":"h:1","groups":["a:b"],"weight":1}"#,
        r#"{"address":"h:1","groups":[],"weight":-1}"#,
        r#"{"address":"h:1","weight":1}"#,
    ] {
        assert_eq!(
            Runner::decode(bad).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "{bad}"
        );
    }
    assert!(Runner::new("h:1".parse().unwrap())
        .with_groups(["x y"])
        .is_err());
}

/// These values are the contract between versions: if this test fails, entities would move
/// to other shards on upgrade. Never change the expected numbers.
#[test]
fn stable_hash_and_entity_shards_are_pinned() {
    assert_eq!(stable_hash(b""), 0xefd0_1f60_ba99_2926);
    assert_eq!(stable_hash(b"a"), 0x82a2_a958_a9be_ce5b);
    assert_eq!(stable_hash(b"entity-42"), 0x92e1_a274_e306_9d9b);
    let s = ShardId::for_entity("default", "entity-42", 300).unwrap();
    assert_eq!(s.to_string(), "default:100");
    assert_eq!(
        ShardId::for_entity("default", "a", 300).unwrap().number(),
        216
    );
    assert_eq!(
        ShardId::for_entity("default", "", 300).unwrap().number(),
        243
    );
    assert_eq!(ShardId::for_entity("default", "x", 1).unwrap().number(), 1);
    assert!(matches!(
        ShardId::for_entity("default", "x", 0),
        Err(ShardIdError::NoShards)
    ));
}

#[test]
fn entities_spread_evenly_over_shards() {
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    let n = 300_000;
    for i in 0..n {
        let s = ShardId::for_entity("default", &format!("order-{i}"), 300).unwrap();
        assert!((1..=300).contains(&s.number()));
        *counts.entry(s.number()).or_default() += 1;
    }
    assert_eq!(counts.len(), 300, "every shard gets entities");
    let (min, max) = (
        *counts.values().min().unwrap(),
        *counts.values().max().unwrap(),
    );
    // 1000 expected per shard; binomial sd ≈ 31, so ±15% is > 4.5 sd.
    assert!(min > 850 && max < 1150, "min {min}, max {max}");
}
