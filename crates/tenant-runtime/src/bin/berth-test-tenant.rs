//! berth-test-tenant: a tiny real HTTP server used as a tenant by the runtime's tests.
//!
//! It serves `200 OK` (body `ok pid=<pid>`) on `PORT`, or on the listening socket it was
//! handed as fd 3 when `LISTEN_FDS=1` and `LISTEN_PID` is its pid. Behaviour comes from the
//! environment and from `KEY=VALUE` lines of a `tenant.env` file in its working directory:
//!
//! - `TENANT_START_DELAY_MS=n`: wait before serving;
//! - `TENANT_NEVER_READY=1`: never serve;
//! - `TENANT_EXIT_AT_START=code`: exit with `code` at once;
//! - `TENANT_CRASH_AFTER_MS=n`: exit with code 3 `n` ms after serving;
//! - `TENANT_EXIT_AFTER_MS=n`: exit with code 0 `n` ms after serving;
//! - `TENANT_IGNORE_SIGTERM=1`: survive SIGTERM;
//! - `TENANT_GRANDCHILD=1`: start a grandchild (itself in `sleeper` mode, ignoring SIGTERM)
//!   in its process group and print `grandchild pid=<pid>`;
//! - `TENANT_WORKER=none|setpgid|setsid`: start a worker (itself in `worker` mode) that
//!   leaves the process group (`setpgid`) or the session (`setsid`) if asked, and print
//!   `worker pid=<pid>`; with `TENANT_WORKER_TERM_MS=n` the worker answers SIGTERM by printing
//!   `worker stopping`, working `n` ms more, printing `worker done` and exiting 0; without it
//!   the worker ignores SIGTERM;
//! - `TENANT_JOIN_PGID=pgid`: try to move itself into process group `pgid` and print
//!   `join pgid=<pgid> ok` or `join pgid=<pgid> refused`;
//! - `TENANT_BUSY=1`: burn CPU in a thread;
//! - a file named `hang` in its directory: accept connections but never answer them.
//!
//! It prints `listening port=<port> via=<PORT|LISTEN_FDS> pid=<pid>` on stdout and
//! `hello from stderr` on stderr once serving.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn config() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    if let Ok(text) = std::fs::read_to_string("tenant.env") {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    vars
}

fn say(line: &str) {
    // Ignore errors: after a host restart nobody may read our output any more.
    let _ = writeln!(std::io::stdout(), "{line}");
    let _ = std::io::stdout().flush();
}

fn ignore_sigterm() {
    // Registering a handler replaces the default action (terminate); tokio's stays for good.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(rt) = rt {
        let registered = rt.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).is_ok()
        });
        if registered {
            std::mem::forget(rt);
        }
    }
}

fn inherited_listener() -> Option<TcpListener> {
    let fds = std::env::var("LISTEN_FDS").ok()?;
    let pid = std::env::var("LISTEN_PID").ok()?;
    if fds != "1" || pid.parse::<u32>().ok()? != std::process::id() {
        return None;
    }
    // Safe access to fd 3: duplicate it out of our own process through a pidfd.
    let me = rustix::process::Pid::from_raw(i32::try_from(std::process::id()).ok()?)?;
    let pidfd = rustix::process::pidfd_open(me, rustix::process::PidfdFlags::empty()).ok()?;
    let fd =
        rustix::process::pidfd_getfd(&pidfd, 3, rustix::process::PidfdGetfdFlags::empty()).ok()?;
    Some(TcpListener::from(fd))
}

fn serve(mut stream: TcpStream) {
    if std::path::Path::new("hang").exists() {
        std::thread::sleep(Duration::from_secs(3600));
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!("ok pid={}\n", std::process::id());
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn after(ms: &str, code: i32) {
    if let Ok(ms) = ms.parse::<u64>() {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            std::process::exit(code);
        });
    }
}

fn worker(escape: &str, term_ms: Option<u64>) -> ! {
    match escape {
        "setpgid" => {
            let _ = rustix::process::setpgid(None, None);
        }
        "setsid" => {
            let _ = rustix::process::setsid();
        }
        _ => {}
    }
    let Some(ms) = term_ms else {
        ignore_sigterm();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(rt) = rt {
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                term.recv().await;
                say("worker stopping");
                tokio::time::sleep(Duration::from_millis(ms)).await;
                say("worker done");
            }
        });
    }
    std::process::exit(0);
}

fn main() {
    let cfg = config();
    let get = |k: &str| cfg.get(k).map(String::as_str);
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sleeper") => {
            ignore_sigterm();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Some("worker") => {
            let escape = args.get(2).map(String::as_str).unwrap_or("none");
            worker(
                escape,
                get("TENANT_WORKER_TERM_MS").and_then(|m| m.parse().ok()),
            );
        }
        _ => {}
    }
    if let Some(code) = get("TENANT_EXIT_AT_START").and_then(|c| c.parse().ok()) {
        let _ = writeln!(std::io::stderr(), "exiting at start with {code}");
        std::process::exit(code);
    }
    if get("TENANT_IGNORE_SIGTERM") == Some("1") {
        ignore_sigterm();
    }
    if get("TENANT_GRANDCHILD") == Some("1") {
        if let Ok(exe) = std::env::current_exe() {
            if let Ok(child) = std::process::Command::new(exe).arg("sleeper").spawn() {
                say(&format!("grandchild pid={}", child.id()));
            }
        }
    }
    if let Some(escape) = get("TENANT_WORKER") {
        if let Ok(exe) = std::env::current_exe() {
            if let Ok(child) = std::process::Command::new(exe)
                .arg("worker")
                .arg(escape)
                .spawn()
            {
                say(&format!("worker pid={}", child.id()));
            }
        }
    }
    if let Some(pgid) = get("TENANT_JOIN_PGID").and_then(|p| p.parse::<i32>().ok()) {
        let joined = rustix::process::Pid::from_raw(pgid)
            .is_some_and(|pgid| rustix::process::setpgid(None, Some(pgid)).is_ok());
        say(&format!(
            "join pgid={pgid} {}",
            if joined { "ok" } else { "refused" }
        ));
    }
    if get("TENANT_BUSY") == Some("1") {
        std::thread::spawn(|| {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
    }
    if let Some(ms) = get("TENANT_START_DELAY_MS").and_then(|m| m.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if get("TENANT_NEVER_READY") == Some("1") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let (listener, via) = match inherited_listener() {
        Some(l) => (l, "LISTEN_FDS"),
        None => {
            let port = get("PORT").and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => (l, "PORT"),
                Err(err) => {
                    let _ = writeln!(std::io::stderr(), "bind 127.0.0.1:{port}: {err}");
                    std::process::exit(98);
                }
            }
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    say(&format!(
        "listening port={port} via={via} pid={}",
        std::process::id()
    ));
    let _ = writeln!(std::io::stderr(), "hello from stderr");
    if let Some(ms) = get("TENANT_CRASH_AFTER_MS") {
        after(ms, 3);
    }
    if let Some(ms) = get("TENANT_EXIT_AFTER_MS") {
        after(ms, 0);
    }
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream));
    }
}
