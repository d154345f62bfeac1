//! The web console in headless Chromium: sign in, see run r1 paused at its gate in the runs
//! table, open it, press Approve, watch it succeed; the run page's screenshot is what
//! docs/console-run.png shows (written there with BERTH_UPDATE_SCREENSHOTS=1).

mod common;

use common::browser::Browser;
use common::{step_status, Env, GATED_PLAN};

#[test]
fn a_person_approves_a_paused_run_in_the_console_and_sees_it_succeed() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    let run = env.run(&["run", "plan.json", "--run-id", "r1"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let token = env.token("ann", "approver", &[]);
    let server = env.serve(&[]);

    let mut b = Browser::open(&format!("{}/", server.base), 1280, 900);
    b.wait_for(
        "!document.querySelector('#login-view').hidden",
        "the sign-in form",
    );
    b.type_into("#token", &token);
    b.click("#login");
    b.wait_for(
        "document.querySelector('#who').textContent === 'ann (approver)'",
        "the signed-in approver",
    );
    b.wait_for(
        "document.querySelector('tr[data-run=\"r1\"] .status')?.textContent === 'paused'",
        "run r1 paused in the runs table",
    );
    b.click("tr[data-run=\"r1\"] a");
    b.wait_for(
        "document.querySelector('#run-status').textContent === 'paused'",
        "the run page of a paused run",
    );
    b.wait_for(
        "document.querySelector('.gate[data-gate=\"ship\"] button.approve')",
        "an Approve button on gate ship",
    );
    b.wait_for(
        "document.querySelector('#log').textContent.includes('alpha')",
        "the log so far",
    );
    // Nothing is decided by opening the page.
    assert_eq!(env.show("r1")["approvals"][0]["status"], "pending");

    b.type_into(".gate[data-gate=\"ship\"] input.comment", "looks good");
    b.click(".gate[data-gate=\"ship\"] button.approve");
    b.wait_for(
        "document.querySelector('#run-status').textContent === 'succeeded'",
        "the run succeeded",
    );
    b.wait_for(
        "document.querySelector('#log').textContent.includes('beta')",
        "the rest of the log, live",
    );
    b.wait_for(
        "document.querySelector('#log-state').textContent === 'ended'",
        "the end of the log",
    );
    b.wait_for(
        "[...document.querySelectorAll('#steps tbody tr')].every(r => r.querySelector('.status').textContent === 'succeeded')",
        "every step succeeded",
    );

    let shown = env.show("r1");
    assert_eq!(shown["run"]["status"], "succeeded");
    for step in ["a", "gate", "b"] {
        assert_eq!(step_status(&shown, step), "succeeded");
    }
    let decision = &shown["approvals"][0]["decisions"][0];
    assert_eq!(decision["actor"], "ann");
    assert_eq!(decision["reason"], "looks good");

    let png = b.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let target = if std::env::var_os("BERTH_UPDATE_SCREENSHOTS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console-run.png")
    } else {
        env.path().join("console-run.png")
    };
    std::fs::write(&target, &png).unwrap();
}
