//! A running `berth serve` on a free port of 127.0.0.1, and JSON calls to it.

use super::{Env, Lines};
use serde_json::Value;
use std::io::Read;
use std::process::Child;

/// A `berth serve` child, stopped (SIGTERM) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub lines: Lines,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = std::time::Instant::now() + super::LIMIT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, headers we look at, body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub disposition: String,
    pub text: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The typed kind of an error answer.
    pub fn kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error: {}", self.text))
            .to_owned()
    }
}

impl Env {
    /// Starts `berth serve --listen 127.0.0.1:0` and waits until it listens.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let (child, lines) = self.spawn(&args);
        let line = lines.until(&["listening on http://"]).pop().unwrap();
        let base = line
            .split_whitespace()
            .last()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        Server { child, base, lines }
    }

    /// `berth token create --name NAME --role ROLE [...]`; the secret token.
    pub fn token(&self, name: &str, role: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--name", name, "--role", role];
        args.extend_from_slice(extra);
        self.json(&args)["token"].as_str().unwrap().to_owned()
    }
}

impl Server {
    /// `METHOD path` with an optional bearer token and JSON body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let mut req = ureq::request(method, &format!("{}{path}", self.base)).timeout(super::LIMIT);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = res.status();
        let content_type = res.header("content-type").unwrap_or("").to_owned();
        let disposition = res.header("content-disposition").unwrap_or("").to_owned();
        let mut text = String::new();
        res.into_reader()
            .take(16 << 20)
            .read_to_string(&mut text)
            .unwrap();
        Reply {
            status,
            content_type,
            disposition,
            text,
        }
    }

    /// `GET path` with `token`.
    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None)
    }

    /// `POST path` with `token` and a JSON body.
    pub fn post(&self, path: &str, token: &str, body: &str) -> Reply {
        self.call("POST", path, Some(token), Some(body))
    }

    /// Polls `GET /api/v1/runs/{run}` until its status is `status` (bounded).
    pub fn wait_status(&self, run: &str, token: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + super::LIMIT;
        loop {
            let v = self.get(&format!("/api/v1/runs/{run}"), token).json();
            if v["run"]["status"] == status {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run} did not become {status}: {v:#}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
