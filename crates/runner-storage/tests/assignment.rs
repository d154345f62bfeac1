//! Weighted rendezvous assignment: balance, weights, minimal movement, health and groups.

use berth_runner_storage::assignment::{assign_group, healthy, owner_of, shards_for};
use berth_runner_storage::{MachineId, RegisteredRunner, Runner, RunnerAddress, ShardId};
use std::collections::BTreeMap;

fn runners(n: usize) -> Vec<Runner> {
    (0..n)
        .map(|i| {
            Runner::new(
                format!("10.0.{}.{}:34431", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap(),
            )
        })
        .collect()
}

fn owners(rs: &[Runner], spg: u32) -> BTreeMap<ShardId, RunnerAddress> {
    assign_group("default", spg, rs).unwrap()
}

fn moved(a: &BTreeMap<ShardId, RunnerAddress>, b: &BTreeMap<ShardId, RunnerAddress>) -> usize {
    a.iter().filter(|(s, o)| b.get(*s) != Some(*o)).count()
}

#[test]
fn every_shard_has_one_owner_and_runners_agree() {
    let rs = runners(7);
    let all = owners(&rs, 300);
    assert_eq!(all.len(), 300);
    let mut union = 0;
    for r in &rs {
        let mine = shards_for(r.address(), &rs, 300).unwrap();
        assert!(mine.iter().all(|s| &all[s] == r.address()));
        union += mine.len();
        // Any order of the registry gives the same answer.
        let mut reversed = rs.clone();
        reversed.reverse();
        assert_eq!(shards_for(r.address(), &reversed, 300).unwrap(), mine);
    }
    assert_eq!(union, 300);
    let s: ShardId = "default:42".parse().unwrap();
    assert_eq!(owner_of(&s, &rs).unwrap().address(), &all[&s]);
}

#[test]
fn shares_are_balanced_and_follow_weights() {
    let rs = runners(10);
    let spg = 30_000;
    let mut count: BTreeMap<RunnerAddress, usize> = BTreeMap::new();
    for o in owners(&rs, spg).into_values() {
        *count.entry(o).or_default() += 1;
    }
    let (min, max) = (
        *count.values().min().unwrap(),
        *count.values().max().unwrap(),
    );
    println!("10 equal runners over {spg} shards: min {min}, max {max} (ideal 3000)");
    assert!(min > 2700 && max < 3300, "min {min} max {max}");

    let weighted: Vec<Runner> = runners(3)
        .into_iter()
        .zip([1, 2, 3])
        .map(|(r, w)| r.with_weight(w))
        .collect();
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for o in owners(&weighted, spg).into_values() {
        let w = weighted
            .iter()
            .find(|r| r.address() == &o)
            .unwrap()
            .weight();
        *count.entry(w).or_default() += 1;
    }
    println!("weights 1/2/3 over {spg} shards: {count:?} (ideal 5000/10000/15000)");
    for (w, n) in count {
        let ideal = spg as f64 * f64::from(w) / 6.0;
        assert!(
            (n as f64 - ideal).abs() < ideal * 0.08,
            "weight {w}: {n} vs {ideal}"
        );
    }
}

/// The rebalancing requirement: a joiner takes about 1/(N+1) of the shards, all of
/// them to itself; a leaver's shards, and only those, move.
#[test]
fn adding_and_removing_a_runner_moves_close_to_the_minimum() {
    for n in [2usize, 4, 9, 19] {
        let before_rs = runners(n);
        let after_rs = runners(n + 1);
        let newcomer = after_rs[n].address().clone();
        let before = owners(&before_rs, 300);
        let after = owners(&after_rs, 300);
        let m = moved(&before, &after);
        let ideal = 300.0 / (n + 1) as f64;
        println!("join {n}→{}: moved {m} of 300 (ideal {ideal:.1})", n + 1);
        assert!(
            after
                .iter()
                .filter(|(s, o)| before[*s] != **o)
                .all(|(_, o)| *o == newcomer),
            "only shards won by the newcomer move"
        );
        assert!(
            (m as f64) < ideal * 1.6 && (m as f64) > ideal * 0.5,
            "moved {m}, ideal {ideal}"
        );

        // Leaving is the reverse: exactly the leaver's shards move.
        let leaver_owned = after.values().filter(|o| **o == newcomer).count();
        assert_eq!(moved(&after, &before), leaver_owned);
    }
    // A runner in the middle of the list leaving moves exactly its own shards.
    let rs = runners(5);
    let before = owners(&rs, 300);
    let mut without = rs.clone();
    let gone = without.remove(2);
    let after = owners(&without, 300);
    let its = before.values().filter(|o| *o == gone.address()).count();
    println!(
        "leave 5→4: moved {} of 300 (ideal 60)",
        moved(&before, &after)
    );
    assert_eq!(moved(&before, &after), its);
}

#[test]
fn only_healthy_runners_of_a_group_with_weight_get_shards() {
    let a = Runner::new("a:1".parse().unwrap());
    let b = Runner::new("b:1".parse().unwrap())
        .with_groups(["billing"])
        .unwrap();
    let c = Runner::new("c:1".parse().unwrap()).with_weight(0);
    let d = Runner::new("d:1".parse().unwrap());
    let registered: Vec<RegisteredRunner> = [(&a, true), (&b, true), (&c, true), (&d, false)]
        .into_iter()
        .enumerate()
        .map(|(i, (r, healthy))| RegisteredRunner {
            runner: r.clone(),
            healthy,
            machine_id: MachineId(i as i64),
        })
        .collect();
    let cands = healthy(&registered);
    assert_eq!(cands.len(), 3, "the unhealthy runner is no candidate");
    assert_eq!(shards_for(a.address(), &cands, 300).unwrap().len(), 300);
    assert!(
        shards_for(c.address(), &cands, 300).unwrap().is_empty(),
        "weight 0 drains"
    );
    assert!(
        shards_for(d.address(), &cands, 300).unwrap().is_empty(),
        "unhealthy"
    );
    let billing = shards_for(b.address(), &cands, 20).unwrap();
    assert_eq!(billing.len(), 20);
    assert!(billing.iter().all(|s| s.group() == "billing"));
    assert_eq!(assign_group("billing", 20, &cands).unwrap().len(), 20);
    assert!(assign_group("nobody", 20, &cands).unwrap().is_empty());
}
