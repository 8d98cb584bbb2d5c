//! Turning samples into figures, and reading what the kernel knows about a
//! process: its CPU, its resident memory, the memory of its BPF maps.

use std::{fs, io, os::unix::process::ExitStatusExt, process::ExitStatus, time::Duration};

/// Median and 90th percentile of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub p90: Duration,
    pub samples: usize,
}

impl Summary {
    /// The summary of `samples`; `None` if there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        samples.sort_unstable();
        let at = |percent: usize| samples[(samples.len() - 1) * percent / 100];
        (!samples.is_empty()).then(|| Self {
            median: at(50),
            p90: at(90),
            samples: samples.len(),
        })
    }
}

/// Pins the calling thread to `cpu`, so a timed loop never migrates and
/// its caches stay warm.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside
    // it, and sched_setaffinity reads exactly size_of::<cpu_set_t>() octets.
    let status = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The last CPU this process may run on (the first is busiest with
/// interrupts).
pub fn last_cpu() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get() - 1)
}

/// A field of `/proc/<pid>/status` in kibibytes (`VmRSS`, `VmHWM`, ...);
/// `pid` `None` is this process.
pub fn status_kib(pid: Option<u32>, field: &str) -> io::Result<u64> {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |pid| format!("/proc/{pid}/status"),
    );
    let status = fs::read_to_string(&path)?;
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(field)?.strip_prefix(':')?;
            value.trim().trim_end_matches(" kB").parse().ok()
        })
        .ok_or_else(|| io::Error::other(format!("no {field} in {path}")))
}

/// User plus system CPU time of process `pid` so far (`utime` and `stime`
/// of `/proc/<pid>/stat`, in clock ticks).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path)?;
    cpu_ticks(&stat)
        .map(|ticks| {
            // SAFETY: sysconf reads a constant of the system.
            let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
            Duration::from_secs_f64(ticks as f64 / per_second as f64)
        })
        .ok_or_else(|| io::Error::other(format!("no utime and stime in {path}")))
}

/// `utime + stime` of a `/proc/<pid>/stat` line: fields 14 and 15, counted
/// after the command name (in parentheses, which may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, fields) = stat.rsplit_once(')')?;
    let mut fields = fields.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Kernel memory charged to the BPF maps this process holds open: the sum
/// of the `memlock` fields of its map descriptors' fdinfo, in octets.
pub fn map_memory() -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir("/proc/self/fdinfo")? {
        // A descriptor may close while we read; it is not a map of ours then.
        let Ok(info) = fs::read_to_string(entry?.path()) else {
            continue;
        };
        if !info.contains("map_type:") {
            continue;
        }
        total += info
            .lines()
            .find_map(|line| line.strip_prefix("memlock:")?.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// What a child process cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time, from `wait4`.
    pub cpu: Duration,
    /// Peak resident memory in kibibytes: the highest `VmHWM` read while it
    /// ran. Not `wait4`'s `ru_maxrss`: exec records the spawning process's
    /// own peak there, so it reports this (larger) process, not the child.
    pub max_rss_kib: u64,
    /// How it ended, which a wrong run's reason names.
    pub status: ExitStatus,
}

/// Waits for child `pid`, reading its peak memory every millisecond, and
/// returns what it cost.
pub fn wait_child(pid: u32) -> io::Result<Usage> {
    let raw = i32::try_from(pid).map_err(io::Error::other)?;
    let mut status = 0;
    let mut max_rss_kib = 0;
    // SAFETY: a zeroed rusage is valid plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // The process may be between exec and exit: a failed read is skipped.
        if let Ok(kib) = status_kib(Some(pid), "VmHWM") {
            max_rss_kib = max_rss_kib.max(kib);
        }
        // SAFETY: wait4 fills `status` and `usage` for our own child `pid`.
        let waited = unsafe { libc::wait4(raw, &mut status, libc::WNOHANG, &mut usage) };
        match waited {
            0 => std::thread::sleep(Duration::from_millis(1)),
            _ if waited == raw => break,
            _ => return Err(io::Error::last_os_error()),
        }
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    Ok(Usage {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kib,
        status: ExitStatus::from_raw(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_are_order_statistics() {
        let samples = (1..=10).rev().map(Duration::from_nanos).collect();
        let summary = Summary::of(samples).expect("samples");
        assert_eq!(summary.median, Duration::from_nanos(5));
        assert_eq!(summary.p90, Duration::from_nanos(9));
        assert_eq!(summary.samples, 10);
        assert_eq!(Summary::of(Vec::new()), None);
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime() {
        let stat = "4242 (reverse tr) S 1 4242 4242 0 -1 4194560 300 0 0 0 17 5 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(22));
        assert_eq!(cpu_ticks("4242 (x"), None);
        assert!(cpu_time(std::process::id()).is_ok());
    }

    #[test]
    fn own_memory_is_read() {
        assert!(status_kib(None, "VmRSS").expect("VmRSS") > 0);
        assert!(status_kib(None, "NoSuchField").is_err());
    }
}
