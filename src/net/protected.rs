//! Protected mode (Redis's `protected-mode yes`): while the default user has no password, only
//! clients from 127.0.0.1 and ::1 are served; others get Redis's explanation and are closed.

/// Redis 7.0's text, word for word.
pub const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's islocalClient: exactly 127.0.0.1 or ::1 (so 127.0.0.2 is not local). A peer we
/// could not name is treated as not local.
pub fn is_local(peer: Option<std::net::SocketAddr>) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match peer.map(|p| p.ip()) {
        Some(IpAddr::V4(a)) => a == Ipv4Addr::LOCALHOST,
        Some(IpAddr::V6(a)) => a == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_loopback_addresses_are_local() {
        let p = |s: &str| Some(s.parse().unwrap());
        assert!(is_local(p("127.0.0.1:5")));
        assert!(is_local(p("[::1]:5")));
        assert!(!is_local(p("127.0.0.2:5")));
        assert!(!is_local(p("10.1.2.3:5")));
        assert!(!is_local(p("[::ffff:127.0.0.1]:5")));
        assert!(!is_local(None));
    }
}
