//! CPU time used by a process's threads, read from Linux's `/proc` (unknown elsewhere).

use std::fs;
use std::time::Duration;

/// Some threads of a process: all of them, or those with one name.
pub struct Threads {
    pid: u32,
    name: Option<&'static str>,
}

impl Threads {
    pub fn of_process(pid: u32) -> Self {
        Self { pid, name: None }
    }

    /// This process's threads called `name`.
    pub fn named(name: &'static str) -> Self {
        Self {
            pid: std::process::id(),
            name: Some(name),
        }
    }

    /// The CPU time the threads have used so far.
    pub fn used(&self) -> Option<Duration> {
        let tasks = fs::read_dir(format!("/proc/{}/task", self.pid)).ok()?;
        let mut nanos = 0;
        for task in tasks.flatten() {
            let path = task.path();
            if let Some(name) = self.name
                && fs::read_to_string(path.join("comm")).ok().as_deref()
                    != Some(&format!("{name}\n"))
            {
                continue;
            }
            // A thread that exits meanwhile takes its time with it; runtime threads live on.
            let Ok(schedstat) = fs::read_to_string(path.join("schedstat")) else {
                continue;
            };
            // An exiting thread's file may read empty.
            if let Some(Ok(ran)) = schedstat.split_whitespace().next().map(str::parse::<u64>) {
                nanos += ran;
            }
        }
        Some(Duration::from_nanos(nanos))
    }
}

/// The CPU time this process's children used, counted when they were waited for (`cutime` and
/// `cstime` of `/proc/self/stat`).
pub fn waited_children() -> Option<Duration> {
    const TICK: Duration = Duration::from_millis(10);
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the whole line; 14 and 15 after the name.
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(TICK * u32::try_from(ticks).ok()?)
}

/// The CPU time the whole machine has spent busy (every process, and time taken by the hypervisor),
/// to tell whether something besides the benchmark ran.
pub fn machine() -> Option<Duration> {
    // `/proc/stat` counts in USER_HZ, which Linux fixes at 100 for user space.
    const TICK: Duration = Duration::from_millis(10);
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<u64>();
    Some(TICK * u32::try_from(busy).ok()?)
}
