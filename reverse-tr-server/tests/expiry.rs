//! Session expiry by the sweeper: every session ends with exactly one
//! timeout event, never before its deadline and within timeout + 1 s.
#![cfg(feature = "root-tests")]

mod support;

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use reverse_tr_common::{
    counter::Counter,
    event::{Event, EventKind},
    session::SessionKey,
};
use reverse_tr_server::{Config, event};
use support::*;

/// Drains the ring buffer into `each`.
fn drain(ring: &mut RingBuf<MapData>, mut each: impl FnMut(Event)) {
    while let Some(record) = ring.next() {
        each(event::decode(&record).expect("an event record"));
    }
}

#[test]
fn a_session_times_out_once() {
    let timeout = Duration::from_millis(300);
    let mut server = server(Config {
        max_sessions: 16,
        timeout,
    });
    let mut ring = server.take_events().expect("events");
    let created = Instant::now();
    let run = server
        .run(&request(
            IpAddr::V4(CLIENT_V4),
            IpAddr::V4(SERVER_V4),
            5,
            2,
            17,
            1234,
        ))
        .expect("test run");
    assert_eq!(run.verdict, REDIRECT);
    let mut kinds = Vec::new();
    while server.sessions().expect("sessions").len() == 1
        && created.elapsed() < timeout + Duration::from_secs(1)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone = created.elapsed();
    assert!(
        gone >= timeout,
        "removed after {gone:?}, before its timeout"
    );
    assert!(
        server.sessions().expect("sessions").is_empty(),
        "still there after timeout + 1 s"
    );
    drain(&mut ring, |event| {
        kinds.push(EventKind::from_raw(event.kind))
    });
    assert_eq!(kinds, [Some(EventKind::Created), Some(EventKind::TimedOut)]);
    assert_eq!(server.counter(Counter::TimedOut).expect("counter"), 1);
    assert!(
        server.counter(Counter::Sweeps).expect("counter") > 1,
        "the timer keeps sweeping"
    );
}

/// The sessions seen created and timed out, each at most once.
#[derive(Default)]
struct Tally {
    created: HashSet<SessionKey>,
    timed_out: HashSet<SessionKey>,
}

impl Tally {
    fn record(&mut self, event: Event) {
        let set = match EventKind::from_raw(event.kind) {
            Some(EventKind::Created) => &mut self.created,
            Some(EventKind::TimedOut) => &mut self.timed_out,
            other => panic!("unexpected event {other:?}"),
        };
        assert!(
            set.insert(event.key),
            "two {:?} events for {:?}",
            event.kind,
            event.key
        );
    }
}

#[test]
fn a_hundred_thousand_sessions_all_time_out() {
    const SESSIONS: u32 = 100_000;
    const IDENTIFIERS: u32 = 100;
    let timeout = Duration::from_secs(1);
    let mut server = server(Config {
        max_sessions: SESSIONS,
        timeout,
    });
    let mut ring = server.take_events().expect("events");
    let mut tally = Tally::default();
    // 1,000 clients with 100 identifiers each.
    for n in 0..SESSIONS {
        let client = (n / IDENTIFIERS).to_be_bytes();
        let client = IpAddr::V4(Ipv4Addr::new(10, client[1], client[2], client[3]));
        let identifier = (n % IDENTIFIERS + 1) as u16;
        let run = server
            .run(&request(
                client,
                IpAddr::V4(SERVER_V4),
                identifier,
                9,
                17,
                1234,
            ))
            .expect("test run");
        assert_eq!(run.verdict, REDIRECT, "request {n}");
        if n % 1000 == 0 {
            drain(&mut ring, |event| tally.record(event));
        }
    }
    let filled = Instant::now();
    let limit = timeout + Duration::from_secs(1);
    while tally.timed_out.len() < SESSIONS as usize && filled.elapsed() < limit {
        drain(&mut ring, |event| tally.record(event));
        std::thread::sleep(Duration::from_millis(5));
    }
    drain(&mut ring, |event| tally.record(event));
    assert_eq!(
        tally.created.len(),
        SESSIONS as usize,
        "a created event each"
    );
    assert_eq!(
        tally.timed_out.len(),
        SESSIONS as usize,
        "a timeout event each within timeout + 1 s"
    );
    assert_eq!(tally.created, tally.timed_out);
    assert!(
        server.sessions().expect("sessions").is_empty(),
        "every session gone"
    );
    assert_eq!(
        server.counter(Counter::TimedOut).expect("counter"),
        u64::from(SESSIONS)
    );
    assert_eq!(server.counter(Counter::EventsLost).expect("counter"), 0);
}
