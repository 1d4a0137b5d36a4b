//! IP networks, for `trusted_proxies`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// An IP address or a CIDR block (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`).
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket
/// reports for an IPv4 peer) count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNetwork(IpNet);

impl IpNetwork {
    /// Whether `ip` is in this network.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }

    /// Whether `ip` is in any of `networks` (a peer among the trusted proxies).
    pub(crate) fn any_contains(networks: &[IpNetwork], ip: IpAddr) -> bool {
        networks.iter().any(|network| network.contains(ip))
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    /// Refuses a block with host bits set (`10.0.0.1/8`): it is a typo for
    /// either the address or the network, and guessing which is unsafe.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let not_ip = || format!("{s:?} is not an IP address or CIDR block such as 10.0.0.0/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| not_ip())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        let network = IpNet::new(addr, prefix).map_err(|_| not_ip())?;
        if network.trunc() != network {
            let base = network.trunc();
            return Err(format!(
                "{s:?} has host bits set: write {base} for the network, or the address alone"
            ));
        }
        Ok(IpNetwork(network))
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
