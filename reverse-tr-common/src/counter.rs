//! Per-CPU counters of the eBPF program, indexed by [`Counter`].

/// What the program counts. The discriminant is the index in the per-CPU array.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Requests seen (Echo Request code 1 of at least 12 octets).
    Requests = 0,
    /// Probes sent.
    Probes,
    /// Error responses sent (invalid TTL or protocol, §7.3).
    ErrorResponses,
    /// Requests dropped because their session exists.
    Exists,
    /// Requests dropped because the table or the deadline FIFO is full.
    TableFull,
    /// Answers matched to a session.
    Answers,
    /// Success responses sent.
    Responses,
    /// Answers of our probe patterns without a matching session (passed).
    Unmatched,
    /// TCP answers cloned to the host stack so it resets the connection.
    TcpResets,
    /// Sessions removed by the sweeper.
    TimedOut,
    /// Sweeps run (timer ticks and watchdog runs).
    Sweeps,
    /// Events that did not fit in the ring buffer (transitions other than
    /// timeouts, which are retried instead).
    EventsLost,
    /// Rewrites or redirects that failed after the decision to answer.
    Failures,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Self; 13] = [
        Self::Requests,
        Self::Probes,
        Self::ErrorResponses,
        Self::Exists,
        Self::TableFull,
        Self::Answers,
        Self::Responses,
        Self::Unmatched,
        Self::TcpResets,
        Self::TimedOut,
        Self::Sweeps,
        Self::EventsLost,
        Self::Failures,
    ];

    /// Number of counters (the per-CPU array's length).
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// The counter's name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Probes => "probes",
            Self::ErrorResponses => "error responses",
            Self::Exists => "duplicate requests",
            Self::TableFull => "table full",
            Self::Answers => "answers",
            Self::Responses => "responses",
            Self::Unmatched => "unmatched answers",
            Self::TcpResets => "tcp answers handed to the host",
            Self::TimedOut => "timed out",
            Self::Sweeps => "sweeps",
            Self::EventsLost => "events lost",
            Self::Failures => "failures",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn indices_are_dense_and_ordered() {
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, index);
        }
    }
}
