//! IP networks, for `trusted_proxies`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP address or a CIDR block (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`).
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket
/// reports for an IPv4 peer) count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` is in this network.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
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
        let network = IpNetwork { addr, prefix };
        let host_bits_set = match addr {
            IpAddr::V4(a) => u32::from(a) & !mask_v4(prefix) != 0,
            IpAddr::V6(a) => u128::from(a) & !mask_v6(prefix) != 0,
        };
        if host_bits_set {
            let base = match addr {
                IpAddr::V4(a) => IpAddr::from((u32::from(a) & mask_v4(prefix)).to_be_bytes()),
                IpAddr::V6(a) => IpAddr::from((u128::from(a) & mask_v6(prefix)).to_be_bytes()),
            };
            return Err(format!(
                "{s:?} has host bits set: write {base}/{prefix} for the network, or the address alone"
            ));
        }
        Ok(network)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
