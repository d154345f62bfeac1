//! Real processes for chaos tests: a test binary that re-runs one of its tests as children
//! (selected by an environment variable), SIGKILL/SIGSTOP/SIGCONT, and reproducible chaos.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds of wall-clock time, which every process on the host shares.
pub fn wall_micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

/// Child processes of one test; kills every child when dropped, so a failing test leaves no
/// process behind.
pub struct Children {
    /// The test the children run (the current binary re-runs it).
    pub test: &'static str,
    /// The variable that tells a run it is a child, and what to do.
    pub env: &'static str,
    pub procs: Vec<Option<Child>>,
    pub incarnations: Vec<usize>,
    pub logs: Vec<PathBuf>,
    pub dir: PathBuf,
}

impl Children {
    /// Room for `n` children logging under `dir`.
    pub fn new(test: &'static str, env: &'static str, n: usize, dir: PathBuf) -> Self {
        Children {
            test,
            env,
            procs: (0..n).map(|_| None).collect(),
            incarnations: vec![0; n],
            logs: Vec::new(),
            dir,
        }
    }

    /// Starts a new incarnation of child `i`; `spec(log)` is what it is told (the log path
    /// of this incarnation is made here).
    pub fn start(&mut self, i: usize, spec: impl FnOnce(&str, &PathBuf) -> String) {
        self.incarnations[i] += 1;
        let name = format!("{i}-{}", self.incarnations[i]);
        let log = self.dir.join(format!("beliefs-{name}.log"));
        let child = Command::new(std::env::current_exe().unwrap())
            .args([self.test, "--exact", "--nocapture", "--test-threads=1"])
            .env(self.env, spec(&name, &log))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.logs.push(log);
        self.procs[i] = Some(child);
    }

    /// SIGKILLs child `i` (thawing it first) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            signal(&c, "-CONT");
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// Child `i`, if running.
    pub fn pid(&self, i: usize) -> Option<&Child> {
        self.procs[i].as_ref()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
    }
}

/// Sends `sig` (`-STOP`, `-CONT`, …) to `child`.
pub fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
}

/// xorshift64*: reproducible chaos from a printed seed.
pub struct Rng(pub u64);

impl Rng {
    /// A seed from `var` if set, else from the clock.
    pub fn seeded(var: &str) -> Self {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| wall_micros() as u64 | 1);
        println!("chaos seed {seed} (rerun with {var}={seed})");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}
