//! The crawler behind `url-crawl` and `sitemap` sources: from seed pages (following links on the
//! seed hosts, breadth first, up to a depth) or from a sitemap, it fetches pages politely
//! (robots.txt, a per-host rate, a bound on requests in flight) and safely (the outbound policy,
//! size and time limits, redirects only within scope), reads them into documents, and drops
//! duplicates by address (redirects included), canonical address and content. A page that fails is recorded and the
//! crawl goes on.

pub mod fetch;
mod pacer;
mod robots;
mod scope;
pub mod sitemap;

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sha2::{Digest, Sha256};
use url::Url;

use self::fetch::{FetchError, Fetched, Fetcher, Kind};
use self::pacer::Pacer;
use self::robots::RobotsCache;
use self::scope::Scope;
use self::sitemap::Sitemap;
use super::document::Document;
use super::{html, markdown};
use crate::outbound::Policy;

/// The most problems a sync keeps (the API shows the newest).
pub const MAX_ERRORS: usize = 50;
/// The most page addresses one crawl keeps track of (queued or fetched).
const MAX_KNOWN_URLS: usize = 100_000;
/// The most sitemap files one crawl reads (indexes nest).
const MAX_SITEMAPS: usize = 100;

/// How hard a crawl may press on the sites it reads.
#[derive(Debug, Clone, Copy)]
pub struct Politeness {
    /// Requests in flight at once, across hosts.
    pub concurrency: usize,
    /// The least time between two requests to one host (robots.txt may ask for more).
    pub host_interval: Duration,
}

/// What to crawl.
pub struct Plan {
    pub start: Start,
    pub max_pages: usize,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

pub enum Start {
    /// Follow links from these pages, on their hosts, up to `max_depth` links away; sitemaps
    /// listed in the hosts' robots.txt add pages one link away.
    Seeds { urls: Vec<Url>, max_depth: usize },
    /// The pages a sitemap (or sitemap index) lists, on the sitemap's host.
    Sitemap(Url),
}

/// A problem met on one page, or (`url: None`) with the whole crawl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub url: Option<String>,
    pub message: String,
}

/// What a crawl found.
#[derive(Debug, Default)]
pub struct Crawled {
    pub documents: Vec<Document>,
    /// Distinct in-scope page addresses found.
    pub discovered: usize,
    /// The newest [`MAX_ERRORS`] problems, newest first.
    pub errors: Vec<PageError>,
}

/// The crawler of a process; each crawl has its own robots.txt cache and pacing.
pub struct Crawler {
    fetcher: Fetcher,
    politeness: Politeness,
}

impl Crawler {
    pub fn new(policy: Policy, politeness: Politeness) -> Self {
        Self {
            fetcher: Fetcher::new(policy),
            politeness,
        }
    }

    pub async fn crawl(&self, plan: Plan) -> Crawled {
        let hosts: Vec<String> = match &plan.start {
            Start::Seeds { urls, .. } => urls.iter().filter_map(host).collect(),
            Start::Sitemap(url) => host(url).into_iter().collect(),
        };
        let crawl = Crawl {
            fetcher: &self.fetcher,
            politeness: self.politeness,
            scope: Scope::new(hosts, &plan.include, &plan.exclude),
            robots: RobotsCache::default(),
            pacer: Pacer::default(),
        };
        let mut state = State::new(plan.max_pages);
        match &plan.start {
            Start::Seeds { urls, max_depth } => {
                for url in urls {
                    state.discover(&crawl.scope, url.clone(), 0, true);
                }
                if *max_depth > 0 {
                    let sitemaps = crawl.robots_sitemaps(urls).await;
                    crawl.read_sitemaps(&mut state, sitemaps, 1).await;
                }
                crawl.run(&mut state, *max_depth).await;
            }
            Start::Sitemap(url) => {
                crawl.read_sitemaps(&mut state, vec![url.clone()], 0).await;
                crawl.run(&mut state, 0).await;
            }
        }
        state.finish()
    }
}

fn host(url: &Url) -> Option<String> {
    url.host_str().map(str::to_string)
}

/// A URL as the crawl compares them: without its fragment (the `url` crate already lowercases
/// the host, drops default ports and resolves dot segments).
fn normal(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// One crawl's shared, read-mostly parts, borrowed by the fetches in flight.
struct Crawl<'a> {
    fetcher: &'a Fetcher,
    politeness: Politeness,
    scope: Scope,
    robots: RobotsCache,
    pacer: Pacer,
}

/// What a fetch in flight comes back with.
enum Visit {
    Fetched(Fetched),
    Failed(FetchError),
    /// robots.txt says no, with the reason when it could not be read.
    Disallowed(Option<String>),
}

impl Crawl<'_> {
    /// Waits for the host's next slot, as robots.txt and the deployment allow.
    async fn pace(&self, url: &Url, delay: Option<Duration>) {
        let interval = delay.map_or(self.politeness.host_interval, |delay| {
            delay.max(self.politeness.host_interval)
        });
        self.pacer
            .wait(url.host_str().unwrap_or_default(), interval)
            .await;
    }

    async fn rules(&self, url: &Url) -> std::sync::Arc<robots::Rules> {
        self.robots
            .rules(
                self.fetcher,
                url,
                |next| self.scope.may_visit(next) || next.path() == "/robots.txt",
                || self.pace(url, None),
            )
            .await
    }

    /// Fetches `url` if robots.txt allows it.
    async fn visit(&self, url: Url, kinds: &[Kind]) -> Visit {
        let rules = self.rules(&url).await;
        if !rules.allows(&url) {
            return Visit::Disallowed(match &*rules {
                robots::Rules::Unreachable(reason) => Some(reason.clone()),
                _ => None,
            });
        }
        self.pace(&url, rules.delay()).await;
        match self
            .fetcher
            .get(&url, kinds, |next| self.scope.may_visit(next))
            .await
        {
            Ok(fetched) => Visit::Fetched(fetched),
            Err(err) => Visit::Failed(err),
        }
    }

    /// The sitemaps the seed hosts' robots.txt files list.
    async fn robots_sitemaps(&self, seeds: &[Url]) -> Vec<Url> {
        let mut sitemaps = Vec::new();
        let mut origins = HashSet::new();
        for seed in seeds {
            if !origins.insert(seed.origin()) {
                continue;
            }
            let rules = self.rules(seed).await;
            sitemaps.extend(
                rules
                    .sitemaps()
                    .iter()
                    .filter_map(|sitemap| seed.join(sitemap).ok())
                    .filter(|sitemap| self.scope.may_visit(sitemap)),
            );
        }
        sitemaps
    }

    /// Reads sitemaps (and the sitemaps their indexes list, up to [`MAX_SITEMAPS`] files) and
    /// queues their pages at `depth`.
    async fn read_sitemaps(&self, state: &mut State, sitemaps: Vec<Url>, depth: usize) {
        let mut queue: VecDeque<Url> = sitemaps.into();
        let mut seen = HashSet::new();
        while let Some(url) = queue.pop_front() {
            if !seen.insert(url.clone()) || seen.len() > MAX_SITEMAPS || state.enough_known() {
                continue;
            }
            let listed = match self
                .visit(url.clone(), &[Kind::Xml, Kind::Gzip, Kind::Text])
                .await
            {
                Visit::Fetched(fetched) => sitemap::read(&fetched.body),
                Visit::Failed(err) => Err(err.to_string()),
                Visit::Disallowed(reason) => Err(reason
                    .unwrap_or_else(|| "robots.txt does not allow reading this sitemap".into())),
            };
            match listed {
                Ok(Sitemap::Index(sitemaps)) => queue.extend(
                    sitemaps
                        .iter()
                        .filter_map(|sitemap| url.join(sitemap).ok())
                        .filter(|sitemap| self.scope.may_visit(sitemap)),
                ),
                // The protocol wants absolute addresses; relative ones are read against the file.
                Ok(Sitemap::Pages(pages)) => {
                    for page in pages.iter().filter_map(|page| url.join(page).ok()) {
                        state.discover(&self.scope, page, depth, false);
                    }
                }
                Err(message) => state.error(Some(&url), message),
            }
        }
    }

    /// Fetches queued pages, a bounded number at a time, until the queue is empty, enough pages
    /// are indexed or the fetch budget is spent.
    async fn run(&self, state: &mut State, max_depth: usize) {
        const PAGES: &[Kind] = &[Kind::Html, Kind::Markdown, Kind::Text];
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.politeness.concurrency.max(1)
                && state.documents.len() + in_flight.len() < state.max_pages
                && state.fetches < state.fetch_budget
            {
                let Some(queued) = state.queue.pop_front() else {
                    break;
                };
                state.fetches += 1;
                in_flight.push(async move {
                    let visit = self.visit(queued.url.clone(), PAGES).await;
                    (queued, visit)
                });
            }
            let Some((queued, visit)) = in_flight.next().await else {
                break;
            };
            match visit {
                Visit::Fetched(fetched) => self.read_page(state, queued, fetched, max_depth),
                Visit::Failed(err) => state.error(Some(&queued.url), err.to_string()),
                Visit::Disallowed(Some(reason)) => state.error(Some(&queued.url), reason),
                Visit::Disallowed(None) if queued.seed => state.error(
                    Some(&queued.url),
                    "robots.txt does not allow crawling this page".into(),
                ),
                Visit::Disallowed(None) => {}
            }
        }
    }

    fn read_page(&self, state: &mut State, queued: Queued, fetched: Fetched, max_depth: usize) {
        let url = normal(fetched.url);
        // A redirect to a page the crawl knows already: that page is (or will be) read itself.
        if url != queued.url && !state.known.insert(url.clone()) {
            return;
        }
        let body = String::from_utf8_lossy(&fetched.body);
        let (mut document, links, canonical, index) = match fetched.kind {
            Kind::Html => {
                let page = match html::page(&url, &body) {
                    Ok(page) => page,
                    Err(message) => return state.error(Some(&url), message),
                };
                let links = if page.nofollow {
                    Vec::new()
                } else {
                    page.links
                };
                (page.document, links, page.canonical, !page.noindex)
            }
            _ => {
                let title = url
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .unwrap_or("");
                let mut document = markdown::document(Some(url.to_string()), "", &body);
                if document.title.is_empty() {
                    document.title = title.to_string();
                }
                (document, Vec::new(), None, true)
            }
        };
        if queued.depth < max_depth {
            for link in links {
                state.discover(&self.scope, link, queued.depth + 1, false);
            }
        }
        // A page that names another as its canonical address is a copy of it (a tracking
        // parameter, a print view): the canonical page is read instead, once.
        if let Some(canonical) = canonical
            .map(normal)
            .filter(|canonical| *canonical != url && self.scope.may_visit(canonical))
        {
            state.discover(&self.scope, canonical, queued.depth, false);
            return;
        }
        if !index || !self.scope.indexes(&url) || document.blocks.is_empty() {
            return;
        }
        // The same text under another address is indexed once.
        if !state.hashes.insert(content_hash(&document)) {
            return;
        }
        document.url = Some(url.to_string());
        state.documents.push(document);
    }
}

fn content_hash(document: &Document) -> [u8; 32] {
    let mut hash = Sha256::new();
    for block in &document.blocks {
        hash.update(block.text.as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

/// A page waiting to be fetched.
struct Queued {
    url: Url,
    depth: usize,
    seed: bool,
}

/// One crawl's progress, owned by its loop.
struct State {
    max_pages: usize,
    /// Fetches allowed, failed and unindexed pages included.
    fetch_budget: usize,
    fetches: usize,
    queue: VecDeque<Queued>,
    /// Every page address queued, fetched or redirected to.
    known: HashSet<Url>,
    hashes: HashSet<[u8; 32]>,
    documents: Vec<Document>,
    errors: VecDeque<PageError>,
}

impl State {
    fn new(max_pages: usize) -> Self {
        Self {
            max_pages,
            // Room for pages that fail, are not indexed (include patterns) or repeat others.
            fetch_budget: max_pages.saturating_mul(2).saturating_add(100),
            fetches: 0,
            queue: VecDeque::new(),
            known: HashSet::new(),
            hashes: HashSet::new(),
            documents: Vec::new(),
            errors: VecDeque::new(),
        }
    }

    fn enough_known(&self) -> bool {
        self.known.len() >= MAX_KNOWN_URLS
    }

    /// Queues `url` if it is in scope and new.
    fn discover(&mut self, scope: &Scope, url: Url, depth: usize, seed: bool) {
        let url = normal(url);
        if !scope.may_visit(&url) || self.enough_known() || !self.known.insert(url.clone()) {
            return;
        }
        self.queue.push_back(Queued { url, depth, seed });
    }

    fn error(&mut self, url: Option<&Url>, message: String) {
        if self.errors.len() == MAX_ERRORS {
            self.errors.pop_back();
        }
        self.errors.push_front(PageError {
            url: url.map(Url::to_string),
            message,
        });
    }

    fn finish(self) -> Crawled {
        Crawled {
            documents: self.documents,
            discovered: self.known.len(),
            errors: self.errors.into(),
        }
    }
}
