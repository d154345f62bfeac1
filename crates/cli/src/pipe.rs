//! Whether whoever reads standard output has gone (`berth logs --follow | head -1`).
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`; a follower that
//! has nothing to write would never find out. Polling the descriptor tells without writing:
//! the write end of a pipe whose reader closed reports `POLLERR`, a socket `POLLHUP`.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::os::fd::AsFd;

/// The reader of standard output has gone (never true for a terminal or a file).
pub fn stdout_closed() -> bool {
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&now)) {
        Ok(0) | Err(_) => false,
        Ok(_) => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP),
    }
}

/// A write failed because the reader has gone.
pub fn is_closed(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}
