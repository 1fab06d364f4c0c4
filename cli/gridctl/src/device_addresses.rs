//! Where the demo's simulated devices speak from.
//!
//! The grid throttles writes and connections per client address, as it must:
//! one address is one client. A community's homes each have their own, so each simulated
//! device gets one too: `127.0.1.n`, on a system that answers on the whole of 127/8
//! (Linux). Elsewhere they share the one loopback address and send again after the
//! grid's 429s ([`grid_client::polite`]), which slows the demo but changes none of its
//! figures.

use std::net::{IpAddr, Ipv4Addr};

/// Hands each device an HTTP client of its own address.
pub struct DeviceAddresses {
    own: bool,
    given: u32,
}

impl DeviceAddresses {
    /// Whether this system lets a socket bind to an address of 127/8 beyond 127.0.0.1.
    pub fn new() -> Self {
        let own = std::net::TcpListener::bind((Ipv4Addr::new(127, 0, 1, 1), 0)).is_ok();
        Self { own, given: 0 }
    }

    /// A client for the next device: from an address no other device has, when it can be.
    pub fn client(&mut self) -> reqwest::Client {
        if !self.own {
            return reqwest::Client::new();
        }
        self.given += 1;
        let [_, _, high, low] = (self.given + 256).to_be_bytes();
        let address = Ipv4Addr::new(127, 0, high, low.max(1));
        reqwest::Client::builder()
            .local_address(IpAddr::V4(address))
            .build()
            .expect("a client with a local address builds")
    }
}
