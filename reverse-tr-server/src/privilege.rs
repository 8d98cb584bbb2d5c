//! Whether this process may load BPF programs and attach them.

/// CAP_NET_ADMIN's bit in the capability sets.
const CAP_NET_ADMIN: u32 = 12;
/// CAP_SYS_ADMIN's bit (grants BPF on kernels without CAP_BPF).
const CAP_SYS_ADMIN: u32 = 21;
/// CAP_BPF's bit (Linux 5.8+).
const CAP_BPF: u32 = 39;

/// True if the effective capabilities allow loading and attaching.
pub fn sufficient() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        // Cannot tell: let the kernel decide.
        return true;
    };
    let Some(effective) = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return true;
    };
    let has = |cap: u32| effective & (1 << cap) != 0;
    has(CAP_NET_ADMIN) && (has(CAP_BPF) || has(CAP_SYS_ADMIN))
}
