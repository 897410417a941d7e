//! The per-host rate bound: requests to one host start at least an interval apart, whatever the
//! crawl's concurrency. Each request reserves the host's next free slot and sleeps until it, so
//! waiting requests queue in order without a timer per host.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Default)]
pub struct Pacer {
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Waits for the next slot of `host`, `interval` after the one before.
    pub async fn wait(&self, host: &str, interval: Duration) {
        let slot = {
            let mut next_free = self.next_free.lock().expect("the pacer is never poisoned");
            let now = Instant::now();
            let slot = next_free
                .get(host)
                .copied()
                .filter(|free| *free > now)
                .unwrap_or(now);
            next_free.insert(host.to_string(), slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_and_other_hosts_are_not_held_up() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        for _ in 0..3 {
            pacer.wait("a.example", interval).await;
        }
        assert_eq!(start.elapsed(), 2 * interval);
        pacer.wait("b.example", interval).await;
        assert_eq!(start.elapsed(), 2 * interval);
    }
}
