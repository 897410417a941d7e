//! How a worker shares out its attempt slots, so that no tenant's receivers can take them all.
//!
//! An attempt at a receiver that never answers holds its slot for the whole attempt timeout; if
//! the oldest due deliveries simply went first, one workspace's dead receivers would hold every
//! slot and every other workspace's webhooks would wait behind them. So each claim takes due
//! deliveries in turns, one workspace after another (the one with the fewest attempts in flight
//! first), and no endpoint holds more than [`Limits::per_endpoint`] slots (one, while its breaker
//! probes), no workspace's endpoints at one receiving host more than that host's limit, and no
//! workspace more than [`Limits::per_workspace`]. Slots a workspace does not use are lent to those
//! that have due deliveries, up to those limits; the workspace cap keeps enough back that another
//! workspace's next delivery finds a slot at once rather than after someone's timeout.
//!
//! A host's limit adapts to how long its attempts hold their slots (additive increase,
//! multiplicative decrease, as TCP's congestion window does): it starts at [`Limits::per_host`],
//! grows by one for every limit's worth of attempts that end within [`PROMPT`], up to
//! [`Limits::per_workspace`], and halves, down to [`Limits::host_floor`], whenever an attempt holds
//! its slot for [`SLOW`] or longer. A receiver that answers at once takes as many slots as a backlog
//! can use, which keeps claims large and commits few; one that hangs soon holds only a couple.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use url::Url;

use crate::store::webhook_deliveries::{Due, Full};
use crate::webhooks::ATTEMPT_TIMEOUT;

/// An attempt that ended within this time counts for its host's limit to grow.
pub const PROMPT: Duration = Duration::from_secs(1);
/// An attempt that held its slot this long (a third of the attempt timeout) halves its host's
/// limit.
pub const SLOW: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() / 3);
/// A host that has had nothing in flight and no attempt started for this long is forgotten: its
/// limit starts again from [`Limits::per_host`].
const FORGET: Duration = Duration::from_secs(600);

/// The most slots each holder may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_endpoint: usize,
    /// Where a host's limit starts.
    pub per_host: usize,
    /// The least a host's limit falls to.
    pub host_floor: usize,
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

impl Holder {
    fn host_key(&self) -> (String, String) {
        (self.workspace.clone(), self.host.clone())
    }
}

/// A workspace's endpoints at one host: how many attempts they have in flight, how many they may,
/// and which endpoints are known to be there (so that a claim can leave them all out while the
/// host is full).
struct Host {
    in_flight: usize,
    limit: f64,
    endpoints: HashSet<String>,
    /// When an attempt there last started or ended.
    used: Instant,
}

impl Host {
    fn new(limits: &Limits) -> Self {
        Self {
            in_flight: 0,
            limit: limits.per_host as f64,
            endpoints: HashSet::new(),
            used: Instant::now(),
        }
    }

    fn full(&self) -> bool {
        self.in_flight >= self.limit as usize
    }
}

#[derive(Default)]
struct InFlight {
    endpoints: HashMap<String, usize>,
    hosts: HashMap<(String, String), Host>,
    workspaces: HashMap<String, usize>,
}

/// Whether a delivery can start now, and if not, whether only its host is full.
enum Fits {
    Yes,
    HostFull,
    No,
}

impl InFlight {
    fn allows(&self, holder: &Holder, probe: bool, limits: &Limits) -> Fits {
        let endpoint_limit = if probe { 1 } else { limits.per_endpoint };
        let count = |map: &HashMap<String, usize>, key: &str| map.get(key).copied().unwrap_or(0);
        if count(&self.endpoints, &holder.endpoint) >= endpoint_limit
            || count(&self.workspaces, &holder.workspace) >= limits.per_workspace
        {
            Fits::No
        } else if self.hosts.get(&holder.host_key()).is_some_and(Host::full) {
            Fits::HostFull
        } else {
            Fits::Yes
        }
    }

    fn add(&mut self, holder: &Holder, limits: &Limits) {
        *self.endpoints.entry(holder.endpoint.clone()).or_default() += 1;
        let host = self
            .hosts
            .entry(holder.host_key())
            .or_insert_with(|| Host::new(limits));
        host.in_flight += 1;
        host.used = Instant::now();
        host.endpoints.insert(holder.endpoint.clone());
        *self.workspaces.entry(holder.workspace.clone()).or_default() += 1;
    }

    fn remove(&mut self, holder: &Holder) {
        fn decrement(map: &mut HashMap<String, usize>, key: &str) {
            if let Some(count) = map.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
        decrement(&mut self.endpoints, &holder.endpoint);
        decrement(&mut self.workspaces, &holder.workspace);
        if let Some(host) = self.hosts.get_mut(&holder.host_key()) {
            host.in_flight -= 1;
            if host.in_flight == 0 {
                // The endpoints seen there may since have moved; the next claim finds them again.
                host.endpoints.clear();
            }
        }
    }

    /// Drops what is remembered of hosts that have had nothing in flight for a while, so that
    /// the map holds only hosts in recent use.
    fn forget(&mut self, now: Instant) {
        self.hosts
            .retain(|_, host| host.in_flight > 0 || now.duration_since(host.used) < FORGET);
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

impl Share {
    /// The attempt ended after holding its slot for `held`: the host's limit follows (see the
    /// module's description), and the slot is given back.
    pub fn ended(self, held: Duration) {
        let limits = &self.shares.limits;
        let mut in_flight = self.shares.lock();
        if let Some(host) = in_flight.hosts.get_mut(&self.holder.host_key()) {
            host.used = Instant::now();
            if held >= SLOW {
                host.limit = (host.limit / 2.0).max(limits.host_floor as f64);
            } else if held < PROMPT {
                host.limit = (host.limit + 1.0 / host.limit).min(limits.per_workspace as f64);
            }
        }
    }
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

    /// The workspaces and endpoints that hold every slot they may, whose deliveries a claim need
    /// not read: none of them could start now.
    pub fn full(&self) -> Full {
        let in_flight = self.lock();
        let mut endpoints: HashSet<&String> = in_flight
            .endpoints
            .iter()
            .filter(|(_, count)| **count >= self.limits.per_endpoint)
            .map(|(endpoint, _)| endpoint)
            .collect();
        for host in in_flight.hosts.values().filter(|host| host.full()) {
            endpoints.extend(&host.endpoints);
        }
        Full {
            workspaces: in_flight
                .workspaces
                .iter()
                .filter(|(_, count)| **count >= self.limits.per_workspace)
                .map(|(workspace, _)| workspace.clone())
                .collect(),
            endpoints: endpoints.into_iter().cloned().collect(),
        }
    }

    /// Takes slots for up to `free` of the `due` deliveries (given oldest first within each
    /// workspace), in turns across workspaces and within the limits; the deliveries chosen, each
    /// with its slot.
    pub fn pick(self: &Arc<Self>, due: Vec<Due>, free: usize) -> Vec<(Due, Share)> {
        let mut in_flight = self.lock();
        in_flight.forget(Instant::now());
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
                    match in_flight.allows(&holder, delivery.probe, &self.limits) {
                        Fits::Yes => {
                            in_flight.add(&holder, &self.limits);
                            let share = Share {
                                shares: self.clone(),
                                holder,
                            };
                            chosen.push((delivery, share));
                            return !queue.is_empty();
                        }
                        Fits::HostFull => {
                            // Left out of claims until the host has room again.
                            if let Some(host) = in_flight.hosts.get_mut(&holder.host_key()) {
                                host.endpoints.insert(holder.endpoint);
                            }
                        }
                        Fits::No => {}
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
        host_floor: 1,
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
    fn a_claim_leaves_out_whoever_holds_every_slot_they_may() {
        let shares = Shares::new(LIMITS);
        assert!(shares.full().workspaces.is_empty() && shares.full().endpoints.is_empty());
        // a1 takes its two slots, a2 the host's third; a3, at the same host, is turned away.
        let mut backlog = due("a", "a1", "https://a.example/1", 2);
        backlog.extend(due("a", "a2", "https://a.example/2", 2));
        backlog.extend(due("a", "a3", "https://a.example/3", 1));
        let held = shares.pick(backlog, 10);
        assert_eq!(held.len(), 3);
        let mut full = shares.full().endpoints;
        full.sort();
        assert_eq!(full, ["a1", "a2", "a3"], "the endpoints of a full host");
        assert!(shares.full().workspaces.is_empty());
        let more = shares.pick(due("a", "a4", "https://b.example/", 1), 10);
        assert_eq!(shares.full().workspaces, ["a"], "at the workspace's limit");
        drop((held, more));
        assert!(shares.full().workspaces.is_empty() && shares.full().endpoints.is_empty());
    }

    /// Ends every one of `held`, each having held its slot for `held_for`.
    fn end_all(held: Vec<(Due, Share)>, held_for: Duration) {
        for (_, share) in held {
            share.ended(held_for);
        }
    }

    #[test]
    fn a_hosts_limit_grows_while_it_answers_promptly_and_halves_when_it_hangs() {
        let limits = Limits {
            per_endpoint: 100,
            per_host: 4,
            host_floor: 1,
            per_workspace: 8,
        };
        let shares = Shares::new(limits);
        let backlog = || due("a", "a1", "https://a.example/", 100);
        assert_eq!(shares.pick(backlog(), 100).len(), 4, "where a host starts");
        // Prompt answers: the limit grows by one for each limit's worth of them, up to the
        // workspace's.
        let mut taken = 4;
        for _ in 0..40 {
            let held = shares.pick(backlog(), 100);
            taken = held.len();
            end_all(held, Duration::from_millis(5));
        }
        assert_eq!(taken, 8);
        // Attempts that hang halve it, down to the floor.
        let held = shares.pick(backlog(), 100);
        let mut held = held.into_iter();
        end_all(held.by_ref().take(1).collect(), SLOW);
        drop(held);
        assert_eq!(shares.pick(backlog(), 100).len(), 4);
        end_all(shares.pick(backlog(), 100), ATTEMPT_TIMEOUT);
        assert_eq!(shares.pick(backlog(), 100).len(), 1);
        // Neither prompt nor slow: the limit stays.
        end_all(shares.pick(backlog(), 100), PROMPT);
        assert_eq!(shares.pick(backlog(), 100).len(), 1);
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
