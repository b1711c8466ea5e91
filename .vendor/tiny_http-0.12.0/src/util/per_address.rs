//! natter's patch (see .vendor/README.md): a cap on connections per client
//! address, checked in the accept loop before a thread is given to one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// How many connections each address has open now.
pub struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection, counted against its address until dropped.
pub struct AddressSlot {
    owner: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    pub fn new(max: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Count a new connection from `ip`, or `None` if its address already has
    /// `max` open.
    pub fn claim(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = group(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            key,
        })
    }

    /// Connections open now from `ip`'s group.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&group(ip)).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Forget the address: the map holds open connections only.
                open.remove(&self.key);
            }
        }
    }
}

/// The key an address is counted under. One IPv6 subscriber usually gets a
/// whole /64 and can pick any address in it, so IPv6 addresses count by their
/// first 64 bits; an IPv4 address written as IPv6 (`::ffff:a.b.c.d`) counts as
/// that IPv4 address.
pub fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !(u128::MAX >> 64);
                IpAddr::V6(bits.into())
            }
        },
    }
}
