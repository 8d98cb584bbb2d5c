//! The addresses of the interfaces served, in the program's
//! `LOCAL_ADDRESSES` map: the program serves only requests to them, since
//! a probe's source is its request's destination, and a request to an
//! address the host does not own would make it send from one.
//!
//! Kept current from netlink: the daemon subscribes to address events and,
//! after each burst of them, dumps the interfaces' addresses and writes the
//! difference; an address added is served, and one removed refused, at
//! once. A full dump rather than applying each event, and a periodic one
//! besides, because a multicast netlink socket drops events when its
//! buffer overflows: the map then still converges.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::Duration,
};

use aya::{
    Ebpf,
    maps::{HashMap, MapData},
};
use futures_util::{FutureExt as _, Stream, StreamExt as _, TryStreamExt as _};
use reverse_tr_common::to_mapped;
use rtnetlink::{
    Handle, MulticastGroup,
    packet_route::address::{AddressAttribute, AddressMessage},
};

use crate::{
    error::{Error, Result},
    maps::{map_error, take_map},
};

/// How often the addresses are dumped even without events.
const REFRESH_PERIOD: Duration = Duration::from_secs(30);

/// The program's map of the addresses it serves requests to.
pub struct LocalAddresses {
    map: HashMap<MapData, [u8; 16], u8>,
    present: BTreeSet<IpAddr>,
}

impl LocalAddresses {
    /// Takes the map out of the loaded object (once).
    pub(crate) fn take(ebpf: &mut Ebpf) -> Result<Self> {
        let map = take_map(ebpf, "LOCAL_ADDRESSES")?;
        Ok(Self {
            map: HashMap::try_from(map).map_err(map_error("LOCAL_ADDRESSES"))?,
            present: BTreeSet::new(),
        })
    }

    /// The addresses in the map.
    pub fn present(&self) -> &BTreeSet<IpAddr> {
        &self.present
    }

    /// Makes the map hold exactly `wanted` (added first, then removed);
    /// returns the addresses added and removed. An address that does not
    /// fit (the map is full) is reported and left out.
    pub fn set(&mut self, wanted: &BTreeSet<IpAddr>) -> Result<Vec<(bool, IpAddr)>> {
        let mut changes = Vec::new();
        for address in wanted.difference(&self.present.clone()) {
            match self.map.insert(&to_mapped(*address), &1, 0) {
                Ok(()) => {
                    self.present.insert(*address);
                    changes.push((true, *address));
                }
                Err(error) => log::warn!("address {address} not served: {error}"),
            }
        }
        let stale: Vec<IpAddr> = self.present.difference(wanted).copied().collect();
        for address in stale {
            self.map
                .remove(&to_mapped(address))
                .map_err(map_error("removing a local address"))?;
            self.present.remove(&address);
            changes.push((false, address));
        }
        Ok(changes)
    }
}

/// An interface served: its name and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
}

impl Interface {
    /// The interface named `name`.
    pub fn named(name: &str) -> Result<Self> {
        let c_name =
            std::ffi::CString::new(name).map_err(|_| Error::UnknownInterface(name.to_owned()))?;
        // SAFETY: if_nametoindex reads the NUL-terminated name only.
        match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
            0 => Err(Error::UnknownInterface(name.to_owned())),
            index => Ok(Self {
                name: name.to_owned(),
                index,
            }),
        }
    }
}

/// Keeps [`LocalAddresses`] equal to the addresses of some interfaces.
pub struct Watcher {
    addresses: LocalAddresses,
    interfaces: Vec<Interface>,
    /// The interface of each address in the map, for the log.
    names: BTreeMap<IpAddr, String>,
    handle: Handle,
    /// Address events; what changed is read from the next dump.
    events: std::pin::Pin<Box<dyn Stream<Item = ()> + Send + Sync>>,
}

impl Watcher {
    /// Subscribes to address events; call within a tokio runtime, which
    /// runs the netlink connection.
    pub fn new(addresses: LocalAddresses, interfaces: Vec<Interface>) -> Result<Self> {
        let groups = [MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr];
        let (connection, handle, events) = rtnetlink::new_multicast_connection(&groups)
            .map_err(netlink_error("subscribing to address events"))?;
        tokio::spawn(connection);
        Ok(Self {
            addresses,
            interfaces,
            names: BTreeMap::new(),
            handle,
            events: Box::pin(events.map(|_| ())),
        })
    }

    /// Dumps the interfaces' addresses and writes the difference into the
    /// map, logging each change.
    pub async fn refresh(&mut self) -> Result<()> {
        let mut names = self.dump().await?;
        let wanted = names.keys().copied().collect();
        let changes = self.addresses.set(&wanted)?;
        std::mem::swap(&mut self.names, &mut names);
        // `names` now holds the previous interface of each address.
        for (added, address) in changes {
            match added {
                true => log::info!("serving requests to {address} on {}", self.names[&address]),
                false => log::info!(
                    "no longer serving requests to {address}, gone from {}",
                    names.get(&address).map_or("its interface", String::as_str)
                ),
            }
        }
        Ok(())
    }

    /// Refreshes after each burst of address events and every
    /// [`REFRESH_PERIOD`], until the event stream ends; failures are
    /// logged and retried at the next event or period.
    pub async fn run(mut self) {
        let mut period = tokio::time::interval(REFRESH_PERIOD);
        loop {
            tokio::select! {
                event = self.events.next() => {
                    if event.is_none() {
                        log::error!("netlink address events ended; interface addresses are no longer followed");
                        return;
                    }
                    // The rest of the burst is covered by one dump.
                    while let Some(Some(())) = self.events.next().now_or_never() {}
                }
                _ = period.tick() => {}
            }
            if let Err(error) = self.refresh().await {
                log::error!("interface addresses: {error}");
            }
        }
    }

    /// The addresses of the watched interfaces now, with the name of the
    /// interface of each.
    async fn dump(&self) -> Result<BTreeMap<IpAddr, String>> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|error| netlink_error("dumping addresses")(std::io::Error::other(error)))?;
        Ok(messages
            .iter()
            .filter_map(|message| {
                let interface = self
                    .interfaces
                    .iter()
                    .find(|interface| interface.index == message.header.index)?;
                Some((local_address(message)?, interface.name.clone()))
            })
            .collect())
    }
}

/// The host's own address in an address message: IFA_LOCAL where given
/// (on point-to-point links IFA_ADDRESS is the peer's), else IFA_ADDRESS.
fn local_address(message: &AddressMessage) -> Option<IpAddr> {
    let find = |local: bool| {
        message
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                AddressAttribute::Local(address) if local => Some(*address),
                AddressAttribute::Address(address) if !local => Some(*address),
                _ => None,
            })
    };
    find(true).or_else(|| find(false))
}

fn netlink_error(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: format!("netlink: {context}"),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};

    use super::local_address;

    fn message(attributes: Vec<AddressAttribute>) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.attributes = attributes;
        message
    }

    #[test]
    fn the_local_address_wins_over_a_point_to_point_peer() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("an address");
        let cases = [
            (
                vec![
                    AddressAttribute::Address(ip("192.0.2.2")),
                    AddressAttribute::Local(ip("192.0.2.1")),
                ],
                Some(ip("192.0.2.1")),
            ),
            (
                vec![AddressAttribute::Address(ip("2001:db8::1"))],
                Some(ip("2001:db8::1")),
            ),
            (vec![AddressAttribute::Label("eth0".into())], None),
        ];
        for (attributes, expected) in cases {
            assert_eq!(local_address(&message(attributes)), expected);
        }
    }
}
