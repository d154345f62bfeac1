//! Ports for tenants: a bound listening socket to hand over, or a reserved free port.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

/// How a starting tenant gets its port.
#[derive(Debug)]
pub(crate) enum PortLease {
    /// A listening socket the runtime bound; it becomes the tenant's fd 3.
    Bound(TcpListener, u16),
    /// A free port number for the tenant to bind.
    Reserved(u16),
}

impl PortLease {
    /// The port.
    pub(crate) fn port(&self) -> u16 {
        match self {
            PortLease::Bound(_, port) | PortLease::Reserved(port) => *port,
        }
    }
}

/// Binds a listening socket on `addr`, port chosen by the kernel.
pub(crate) fn bind(addr: IpAddr) -> io::Result<PortLease> {
    let listener = TcpListener::bind(SocketAddr::new(addr, 0))?;
    let port = listener.local_addr()?.port();
    Ok(PortLease::Bound(listener, port))
}

/// A port free on `addr` right now and not in `taken` (the ports of this runtime's live
/// tenants, which may not have bound theirs yet).
pub(crate) fn reserve(addr: IpAddr, taken: &HashSet<u16>) -> io::Result<PortLease> {
    // Keep earlier probes bound so the kernel does not offer the same port again.
    let mut held = Vec::new();
    for _ in 0..64 {
        let probe = TcpListener::bind(SocketAddr::new(addr, 0))?;
        let port = probe.local_addr()?.port();
        if !taken.contains(&port) {
            return Ok(PortLease::Reserved(port));
        }
        held.push(probe);
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port outside the ones reserved for live tenants",
    ))
}
