//! How a worker shares out its attempt slots, so that no tenant's receivers can take them all.
//!
//! An attempt at a receiver that never answers holds its slot for the whole attempt timeout; if
//! the oldest due deliveries simply went first, one workspace's dead receivers would hold every
//! slot and every other workspace's webhooks would wait behind them. So each claim takes due
//! deliveries in turns, one workspace after another (the one with the fewest attempts in flight
//! first), and no endpoint holds more than [`Limits::per_endpoint`] slots (one, while its breaker
//! probes), no workspace's endpoints at one receiving host more than [`Limits::per_host`], and no
//! workspace more than [`Limits::per_workspace`]. Slots a workspace does not use are lent to those
//! that have due deliveries, up to those limits; the workspace cap keeps enough back that another
//! workspace's next delivery finds a slot at once rather than after someone's timeout.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use url::Url;

use crate::store::webhook_deliveries::Due;

/// The most slots each holder may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_endpoint: usize,
    pub per_host: usize,
    pub per_workspace: usize,
}

/// What one attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Holder {
    workspace: String,
    endpoint: String,
    /// The receiver's `host:port`, within the workspace.
    host: String,
}

#[derive(Default)]
struct InFlight {
    endpoints: HashMap<String, usize>,
    hosts: HashMap<(String, String), usize>,
    workspaces: HashMap<String, usize>,
}

impl InFlight {
    fn allows(&self, holder: &Holder, probe: bool, limits: &Limits) -> bool {
        let endpoint_limit = if probe { 1 } else { limits.per_endpoint };
        let count = |map: &HashMap<String, usize>, key: &str| map.get(key).copied().unwrap_or(0);
        count(&self.endpoints, &holder.endpoint) < endpoint_limit
            && self
                .hosts
                .get(&(holder.workspace.clone(), holder.host.clone()))
                .copied()
                .unwrap_or(0)
                < limits.per_host
            && count(&self.workspaces, &holder.workspace) < limits.per_workspace
    }

    fn add(&mut self, holder: &Holder) {
        *self.endpoints.entry(holder.endpoint.clone()).or_default() += 1;
        *self
            .hosts
            .entry((holder.workspace.clone(), holder.host.clone()))
            .or_default() += 1;
        *self.workspaces.entry(holder.workspace.clone()).or_default() += 1;
    }

    fn remove(&mut self, holder: &Holder) {
        fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
            if let Some(count) = map.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(&key);
                }
            }
        }
        decrement(&mut self.endpoints, holder.endpoint.clone());
        decrement(
            &mut self.hosts,
            (holder.workspace.clone(), holder.host.clone()),
        );
        decrement(&mut self.workspaces, holder.workspace.clone());
    }
}

/// A worker's slots and who holds them.
pub struct Shares {
    limits: Limits,
    in_flight: Mutex<InFlight>,
}

/// One slot taken for one delivery; given back when dropped.
pub struct Share {
    shares: Arc<Shares>,
    holder: Holder,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.shares.lock().remove(&self.holder);
    }
}

impl Shares {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            in_flight: Mutex::new(InFlight::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, InFlight> {
        // The counts are updated in single statements; a panic elsewhere leaves them whole.
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes slots for up to `free` of the `due` deliveries (given oldest first within each
    /// workspace), in turns across workspaces and within the limits; the deliveries chosen, each
    /// with its slot.
    pub fn pick(self: &Arc<Self>, due: Vec<Due>, free: usize) -> Vec<(Due, Share)> {
        let mut in_flight = self.lock();
        let mut queues: Vec<(String, VecDeque<Due>)> = Vec::new();
        for delivery in due {
            match queues
                .iter_mut()
                .find(|(workspace, _)| *workspace == delivery.workspace_id)
            {
                Some((_, queue)) => queue.push_back(delivery),
                None => queues.push((delivery.workspace_id.clone(), VecDeque::from([delivery]))),
            }
        }
        // The workspace with the fewest attempts in flight goes first (a stable sort keeps the
        // oldest due first among equals).
        queues.sort_by_key(|(workspace, _)| {
            in_flight.workspaces.get(workspace).copied().unwrap_or(0)
        });
        let mut chosen = Vec::new();
        while chosen.len() < free && !queues.is_empty() {
            queues.retain_mut(|(_, queue)| {
                if chosen.len() >= free {
                    return true;
                }
                // This workspace's turn: its oldest delivery that its limits allow.
                while let Some(delivery) = queue.pop_front() {
                    let holder = Holder {
                        workspace: delivery.workspace_id.clone(),
                        endpoint: delivery.endpoint_id.clone(),
                        host: host_of(&delivery.url),
                    };
                    if in_flight.allows(&holder, delivery.probe, &self.limits) {
                        in_flight.add(&holder);
                        let share = Share {
                            shares: self.clone(),
                            holder,
                        };
                        chosen.push((delivery, share));
                        return !queue.is_empty();
                    }
                }
                false
            });
        }
        chosen
    }
}

/// `host:port` of a receiver's URL (the URL itself if it does not parse: the attempt fails on it).
fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_ascii_lowercase();
            Some(format!("{host}:{}", url.port_or_known_default()?))
        })
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_endpoint: 2,
        per_host: 3,
        per_workspace: 4,
    };

    fn due(workspace: &str, endpoint: &str, url: &str, count: usize) -> Vec<Due> {
        (0..count)
            .map(|n| Due {
                id: format!("{endpoint}-{n}"),
                workspace_id: workspace.to_string(),
                endpoint_id: endpoint.to_string(),
                url: url.to_string(),
                probe: false,
            })
            .collect()
    }

    fn ids(chosen: &[(Due, Share)]) -> Vec<&str> {
        chosen.iter().map(|(due, _)| due.id.as_str()).collect()
    }

    #[test]
    fn workspaces_take_turns_and_an_endpoint_holds_at_most_its_share() {
        let shares = Shares::new(LIMITS);
        let mut backlog = due("a", "a1", "https://dead.example/1", 10);
        backlog.extend(due("a", "a2", "https://dead.example/2", 10));
        backlog.extend(due("b", "b1", "https://ok.example/", 1));
        let chosen = shares.pick(backlog, 10);
        // a1 takes its two slots; a2 one, as a's host allows three; b's one is taken in b's turn.
        assert_eq!(ids(&chosen), ["a1-0", "b1-0", "a1-1", "a2-0"]);
    }

    #[test]
    fn a_workspace_with_fewer_attempts_in_flight_goes_first() {
        let shares = Shares::new(LIMITS);
        let held = shares.pick(due("a", "a1", "https://a.example/", 1), 1);
        let mut backlog = due("a", "a2", "https://a2.example/", 1);
        backlog.extend(due("b", "b1", "https://b.example/", 1));
        assert_eq!(ids(&shares.pick(backlog, 1)), ["b1-0"]);
        drop(held);
    }

    #[test]
    fn a_workspace_holds_at_most_its_share_and_gives_it_back() {
        let shares = Shares::new(LIMITS);
        let mut backlog = Vec::new();
        for endpoint in 0..5 {
            let name = format!("a{endpoint}");
            backlog.extend(due("a", &name, &format!("https://{name}.example/"), 2));
        }
        let held = shares.pick(backlog.clone(), 100);
        assert_eq!(held.len(), 4, "the workspace's limit");
        assert!(shares.pick(backlog.clone(), 100).is_empty());
        // Other workspaces still find slots.
        assert_eq!(
            shares
                .pick(due("b", "b1", "https://b.example/", 1), 1)
                .len(),
            1
        );
        drop(held);
        assert_eq!(
            shares.pick(backlog, 100).len(),
            4,
            "given back when dropped"
        );
    }

    #[test]
    fn a_probing_endpoint_gets_one_attempt() {
        let shares = Shares::new(LIMITS);
        let mut backlog = due("a", "a1", "https://a.example/", 3);
        for delivery in &mut backlog {
            delivery.probe = true;
        }
        assert_eq!(ids(&shares.pick(backlog, 3)), ["a1-0"]);
    }

    #[test]
    fn hosts_are_told_apart_by_port_and_not_by_path() {
        assert_eq!(
            host_of("https://Hooks.Example.com/a"),
            "hooks.example.com:443"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(host_of("not a url"), "not a url");
    }
}
