//! Memory of a process from /proc/<pid>/status.

use std::fs;
use std::io;

/// Resident set size now and at its peak, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS.
    pub rss_kib: u64,
    /// VmHWM, the peak RSS since start or since [`reset_peak`].
    pub peak_kib: u64,
}

pub fn read(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&status).ok_or_else(|| io::Error::other("no VmRSS/VmHWM in /proc/<pid>/status"))
}

pub fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        peak_kib: field("VmHWM")?,
    })
}

/// Sets the process's peak RSS back to its current RSS (`echo 5 > /proc/<pid>/clear_refs`), so
/// each scenario reports its own peak. Best effort: without it the peak is since start.
pub fn reset_peak(pid: u32) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let status = "Name:\tfaro-backend\nVmPeak:\t  123456 kB\nVmHWM:\t   14320 kB\nVmRSS:\t   12048 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kib: 12048,
                peak_kib: 14320
            })
        );
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_our_own_memory() {
        let memory = read(std::process::id()).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
    }
}
