//! The batch primitive of §11.6, shared by both directions: every probe of
//! a batch goes out (paced by the [`Pacer`]) while receive tasks hand each
//! answer to the probe whose key it carries; the batch is over when every
//! probe has its outcome or `timeout` has passed since the last send.
//! What differs between directions — packets and keys — is a [`Wire`].

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use log::debug;
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};

use super::{
    pacer::Pacer,
    quiet::Wait,
    socket::{RawSocket, Received},
};
use crate::{
    trace::Result,
    trace::probe::{ErrorState, ProbeOutcome, ProbeSpec, Prober, Within},
};

/// Largest packet a receive task reads.
const RECEIVE_BUFFER: usize = 2048;

/// What an answer says about its probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `hop` answered. `span` is the round-trip time measured elsewhere (the
    /// server's, reverse); without it the time since sending counts.
    /// `flow`, when the answer shows it, must be the probe's.
    Hop {
        hop: IpAddr,
        span: Option<Duration>,
        flow: Option<u16>,
    },
    /// The server refused the request with this error state.
    Refused { state: ErrorState },
    /// TARGET echoed the request: no server runs there (§11.5.3).
    NotServer,
    /// An ICMP error from `from` says the request never reached TARGET.
    Unreachable { from: IpAddr },
}

/// The packets of one direction.
pub trait Wire: Send + Sync + 'static {
    /// What ties an answer to its probe (a probe id or request identifier).
    type Key: Copy + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;

    /// Picks the key of the next probe, or None if every key is in use.
    fn next_key(&self) -> Option<Self::Key>;

    /// Sends `probe` carrying `key`.
    fn transmit(&self, probe: ProbeSpec, key: Self::Key)
    -> impl Future<Output = Result<()>> + Send;

    /// The probe key and meaning of a received packet, if it answers one of
    /// ours; called by the receive task of the socket it arrived on.
    fn recognise(&self, packet: &Received<'_>) -> Option<(Self::Key, Reply)>;

    /// See [`Prober::one_first_hop`].
    fn one_first_hop(&self) -> bool {
        false
    }
}

/// A probe waiting for its answer: its batch's channel and its place there.
struct Waiter {
    batch: u64,
    flow: u16,
    index: usize,
    answer: mpsc::UnboundedSender<(usize, Reply, Instant)>,
}

/// Probes in flight, by key.
struct InFlight<K> {
    waiting: Mutex<HashMap<K, Waiter>>,
}

impl<K: Eq + Hash> InFlight<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Waiter>> {
        // Every critical section is a single map operation: a panic inside
        // one cannot leave the map half-updated.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `reply` to the probe waiting on `key`; the first answer wins,
    /// and an answer quoting another flow is not this probe's.
    fn resolve(&self, key: K, reply: Reply, at: Instant) {
        let mut waiting = self.lock();
        if let (
            Some(waiter),
            Reply::Hop {
                flow: Some(flow), ..
            },
        ) = (waiting.get(&key), reply)
            && waiter.flow != flow
        {
            return;
        }
        if let Some(waiter) = waiting.remove(&key) {
            // The batch may have ended and dropped the receiver already.
            let _ = waiter.answer.send((waiter.index, reply, at));
        }
    }
}

/// A [`Prober`] over a [`Wire`], with one receive task per socket.
pub struct Engine<W: Wire> {
    wire: Arc<W>,
    in_flight: Arc<InFlight<W::Key>>,
    /// Numbers the batches, so that each forgets only its own probes.
    batches: AtomicU64,
    pacer: Arc<Pacer>,
    timeout: Duration,
    receivers: Vec<JoinHandle<()>>,
}

/// A batch's probes in the in-flight map; they leave it when the batch
/// ends, also when discovery drops a batch it stopped waiting for, so
/// late answers to them are ignored and their keys are free again.
struct Registered<'e, K: Eq + Hash> {
    in_flight: &'e InFlight<K>,
    batch: u64,
}

impl<K: Eq + Hash> Drop for Registered<'_, K> {
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .retain(|_, waiter| waiter.batch != self.batch);
    }
}

impl<W: Wire> Engine<W> {
    /// Starts receiving on `sockets` (the ones answers arrive on).
    pub fn new(
        wire: W,
        sockets: Vec<Arc<RawSocket>>,
        pacer: Arc<Pacer>,
        timeout: Duration,
    ) -> Self {
        let wire = Arc::new(wire);
        let in_flight = Arc::new(InFlight {
            waiting: Mutex::new(HashMap::new()),
        });
        let receivers = sockets
            .into_iter()
            .map(|socket| tokio::spawn(receive(socket, Arc::clone(&wire), Arc::clone(&in_flight))))
            .collect();
        Self {
            wire,
            in_flight,
            batches: AtomicU64::new(0),
            pacer,
            timeout,
            receivers,
        }
    }

    /// The wire, for direction-specific work such as the presence check.
    pub fn wire(&self) -> &W {
        &self.wire
    }

    /// Sends one probe and returns what its answer said, unconverted;
    /// waits `patience` for it if given, else the timeout.
    pub async fn exchange(
        &self,
        probe: ProbeSpec,
        patience: Option<Duration>,
    ) -> Result<Option<(Reply, Duration)>> {
        let within = patience.map(|patience| Within {
            patience,
            enough: 1,
        });
        let mut answers = self.exchange_all(&[probe], within).await?;
        Ok(answers.pop().flatten())
    }

    /// Sends `probes` and waits for their answers (reply and time since
    /// sending), in the order of `probes`. Each probe has its own deadline,
    /// `timeout` after it left; the wait ends when every probe has its
    /// outcome or deadline, or earlier once the batch has fallen [`quiet`]
    /// or has the answers `within` calls enough.
    async fn exchange_all(
        &self,
        probes: &[ProbeSpec],
        within: Option<Within>,
    ) -> Result<Vec<Option<(Reply, Duration)>>> {
        let (answers_in, mut answers_out) = mpsc::unbounded_channel();
        let registered = Registered {
            in_flight: &self.in_flight,
            batch: self.batches.fetch_add(1, Ordering::Relaxed),
        };
        let mut sent = Vec::with_capacity(probes.len());
        for (index, &probe) in probes.iter().enumerate() {
            let Some(key) = self.wire.next_key() else {
                // Every key is taken (65,535 probes in flight): this one is lost.
                sent.push(None);
                continue;
            };
            self.pacer.wait().await;
            let at = Instant::now();
            // Registered before sending so that no answer can be too quick.
            self.in_flight.lock().insert(
                key,
                Waiter {
                    batch: registered.batch,
                    flow: probe.flow,
                    index,
                    answer: answers_in.clone(),
                },
            );
            if let Err(error) = self.wire.transmit(probe, key).await {
                self.in_flight.lock().remove(&key);
                return Err(error);
            }
            sent.push(Some((key, at)));
        }
        drop(answers_in);
        let mut answers: Vec<Option<(Reply, Duration)>> = vec![None; probes.len()];
        let mut waiting: usize = sent.iter().flatten().count();
        let last_send = sent.iter().flatten().map(|&(_, at)| at).max();
        let mut wait = Wait::new(last_send.unwrap_or_else(Instant::now), self.timeout);
        if let Some(within) = within {
            wait = wait.within(within);
        }
        let mut hops = 0;
        while waiting > 0 && !wait.enough(hops) {
            let deadline = wait.until();
            match tokio::time::timeout_at(deadline, answers_out.recv()).await {
                Ok(Some((index, reply, at))) => {
                    if let Some(Some((_, sent_at))) = sent.get(index)
                        && answers[index].is_none()
                    {
                        let rtt = at.duration_since(*sent_at);
                        hops += usize::from(matches!(reply, Reply::Hop { .. }));
                        answers[index] = Some((reply, rtt));
                        waiting -= 1;
                        wait.answered(at, rtt);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Late answers to the probes given up are ignored from now on.
        drop(registered);
        Ok(answers)
    }
}

impl<W: Wire> Engine<W> {
    async fn outcomes(
        &self,
        probes: &[ProbeSpec],
        within: Option<Within>,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        let answers = self.exchange_all(probes, within).await?;
        Ok(probes
            .iter()
            .zip(answers)
            .map(|(&probe, answer)| (probe, outcome(answer)))
            .collect())
    }
}

impl<W: Wire> Prober for Engine<W> {
    fn one_first_hop(&self) -> bool {
        self.wire.one_first_hop()
    }

    async fn send_batch(&self, probes: &[ProbeSpec]) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.outcomes(probes, None).await
    }

    async fn send_batch_within(
        &self,
        probes: &[ProbeSpec],
        within: Within,
    ) -> Result<Vec<(ProbeSpec, ProbeOutcome)>> {
        self.outcomes(probes, Some(within)).await
    }
}

/// The outcome discovery sees for an answer (or its absence).
fn outcome(answer: Option<(Reply, Duration)>) -> ProbeOutcome {
    match answer {
        Some((Reply::Hop { hop, span, .. }, elapsed)) => ProbeOutcome::Answered {
            hop,
            rtt: span.unwrap_or(elapsed),
        },
        Some((Reply::Refused { state }, _)) => ProbeOutcome::Refused { state },
        // A host echoing requests mid-trace: nothing learnt about the hop.
        Some((Reply::NotServer | Reply::Unreachable { .. }, _)) | None => ProbeOutcome::Lost,
    }
}

impl<W: Wire> Drop for Engine<W> {
    fn drop(&mut self) {
        for receiver in &self.receivers {
            receiver.abort();
        }
    }
}

/// A receive task: reads `socket` until the engine is dropped.
async fn receive<W: Wire>(socket: Arc<RawSocket>, wire: Arc<W>, in_flight: Arc<InFlight<W::Key>>) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        match socket.receive(&mut buffer).await {
            Ok(packet) => {
                let at = Instant::now();
                if let Some((key, reply)) = wire.recognise(&packet) {
                    debug!("answer {reply:?} for {key:?} from {}", packet.source);
                    in_flight.resolve(key, reply, at);
                }
            }
            // A receive error (e.g. ICMP errors queued on the socket) is
            // about one packet, never about the socket: keep reading.
            Err(error) => debug!("receive: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use reverse_tr_common::response::State;

    use super::*;

    const PROTOCOL_REFUSED: ErrorState = ErrorState::Known(State::InvalidProtocol);

    fn hop(flow: Option<u16>) -> Reply {
        Reply::Hop {
            hop: IpAddr::V4(Ipv4Addr::LOCALHOST),
            span: None,
            flow,
        }
    }

    #[test]
    fn first_answer_with_the_right_flow_wins() {
        let in_flight = InFlight {
            waiting: Mutex::new(HashMap::new()),
        };
        let (answer, mut receiver) = mpsc::unbounded_channel();
        let sent = Instant::now();
        in_flight.lock().insert(
            7u16,
            Waiter {
                batch: 0,
                flow: 33435,
                index: 0,
                answer,
            },
        );
        in_flight.resolve(7, hop(Some(40000)), sent);
        assert!(
            receiver.try_recv().is_err(),
            "an answer quoting another flow is not this probe's"
        );
        in_flight.resolve(8, hop(None), sent);
        assert!(receiver.try_recv().is_err(), "another key");
        in_flight.resolve(7, hop(Some(33435)), sent);
        in_flight.resolve(
            7,
            Reply::Refused {
                state: PROTOCOL_REFUSED,
            },
            sent,
        );
        assert_eq!(
            receiver.try_recv().ok().map(|(_, reply, _)| reply),
            Some(hop(Some(33435)))
        );
        assert!(in_flight.lock().is_empty());
    }

    #[test]
    fn outcomes_take_the_servers_span_over_the_local_time() {
        let span = Duration::from_micros(1500);
        let local = Duration::from_millis(3);
        let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let cases = [
            (
                Some((
                    Reply::Hop {
                        hop: address,
                        span: Some(span),
                        flow: None,
                    },
                    local,
                )),
                ProbeOutcome::Answered {
                    hop: address,
                    rtt: span,
                },
            ),
            (
                Some((hop(None), local)),
                ProbeOutcome::Answered {
                    hop: address,
                    rtt: local,
                },
            ),
            (
                Some((
                    Reply::Refused {
                        state: PROTOCOL_REFUSED,
                    },
                    local,
                )),
                ProbeOutcome::Refused {
                    state: PROTOCOL_REFUSED,
                },
            ),
            (Some((Reply::NotServer, local)), ProbeOutcome::Lost),
            (None, ProbeOutcome::Lost),
        ];
        for (answer, expected) in cases {
            assert_eq!(outcome(answer), expected, "{answer:?}");
        }
    }
}
