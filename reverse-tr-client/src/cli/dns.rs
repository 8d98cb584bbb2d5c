//! Reverse DNS (§11.11): the names of every responsive vertex, looked up
//! concurrently, each lookup and all of them together bounded in time so a
//! slow resolver delays the report by seconds at most. Failures leave an
//! address unnamed.

use std::{
    collections::BTreeSet,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hickory_resolver::{
    TokioResolver,
    config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::runtime::TokioRuntimeProvider,
    proto::rr::RData,
};
use log::debug;
use tokio::task::JoinSet;

use crate::trace::graph::Trace;

/// How long one lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long all lookups together may take.
pub(crate) const TOTAL_TIMEOUT: Duration = Duration::from_secs(2);

use crate::output::Names;

/// A PTR resolver.
#[derive(Clone)]
pub struct ReverseDns {
    resolver: TokioResolver,
}

impl ReverseDns {
    /// The system's resolver (`/etc/resolv.conf`, `/etc/hosts`); `None` if
    /// its configuration cannot be read.
    pub fn system() -> Option<Self> {
        let mut builder = match TokioResolver::builder_tokio() {
            Ok(builder) => builder,
            Err(error) => {
                debug!("no reverse DNS: reading the resolver configuration: {error}");
                return None;
            }
        };
        let options = builder.options_mut();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 1;
        Self::build(builder.build())
    }

    /// A resolver asking only `servers` over UDP, without `/etc/hosts`.
    pub fn with_name_servers(servers: &[SocketAddr]) -> Option<Self> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut connection = ConnectionConfig::udp();
                connection.port = server.port();
                let mut config = NameServerConfig::udp(server.ip());
                config.connections = vec![connection];
                config
            })
            .collect();
        let mut options = ResolverOpts::default();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        let builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
        .with_options(options);
        Self::build(builder.build())
    }

    fn build(resolver: Result<TokioResolver, hickory_resolver::net::NetError>) -> Option<Self> {
        resolver
            .map(|resolver| Self { resolver })
            .map_err(|error| debug!("no reverse DNS: {error}"))
            .ok()
    }

    /// The names of `addresses`, looked up all at once; whatever has not
    /// answered within `total` stays unnamed.
    pub async fn names(
        &self,
        addresses: impl IntoIterator<Item = IpAddr>,
        total: Duration,
    ) -> Names {
        let mut lookups = JoinSet::new();
        for address in addresses {
            let resolver = self.resolver.clone();
            lookups.spawn(async move { (address, ptr_names(&resolver, address).await) });
        }
        let deadline = tokio::time::Instant::now() + total;
        let mut names = Names::new();
        while let Ok(Some(done)) = tokio::time::timeout_at(deadline, lookups.join_next()).await {
            if let Ok((address, found)) = done
                && !found.is_empty()
            {
                names.insert(address, found);
            }
        }
        // Dropping the set cancels the lookups still running.
        names
    }
}

async fn ptr_names(resolver: &TokioResolver, address: IpAddr) -> Vec<String> {
    match resolver.reverse_lookup(address).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::PTR(name) => Some(name.0.to_utf8().trim_end_matches('.').to_owned()),
                _ => None,
            })
            .collect(),
        Err(error) => {
            debug!("no name for {address}: {error}");
            Vec::new()
        }
    }
}

/// §11.11 for a run: the names of every responsive vertex of `traces`;
/// none if the system resolver cannot be set up.
pub(crate) async fn lookup<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> Names {
    match ReverseDns::system() {
        Some(dns) => dns.names(responsive_addresses(traces), TOTAL_TIMEOUT).await,
        None => Names::new(),
    }
}

/// Every responsive address of `traces`, each once.
pub(crate) fn responsive_addresses<'a>(
    traces: impl IntoIterator<Item = &'a Trace>,
) -> BTreeSet<IpAddr> {
    traces
        .into_iter()
        .flat_map(|trace| {
            trace
                .hops()
                .iter()
                .flat_map(|hop| hop.vertices.iter().filter_map(|&id| trace[id].address()))
        })
        .collect()
}
