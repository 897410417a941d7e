//! robots.txt, per RFC 9309, read by `texting_robots`: fetched once per origin and crawl. A
//! missing file (4xx) allows everything; an unreachable one (5xx, network errors) allows nothing,
//! as the RFC asks, and says why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use texting_robots::Robot;
use tokio::sync::OnceCell;
use url::Url;

use super::fetch::{AGENT, FetchError, Fetcher, Kind};

/// The longest `Crawl-delay` honoured; a longer one is taken as this (a crawl of a few hundred
/// pages must still end the same day).
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);

/// What an origin's robots.txt says to this crawler.
#[derive(Debug)]
pub enum Rules {
    /// No robots.txt: everything may be crawled.
    All,
    /// robots.txt could not be read: nothing may be crawled, for this reason.
    Unreachable(String),
    Robot(Robot),
}

impl Rules {
    pub fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::All => true,
            Rules::Unreachable(_) => false,
            Rules::Robot(robot) => robot.allowed(url.as_str()),
        }
    }

    pub fn delay(&self) -> Option<Duration> {
        match self {
            Rules::Robot(robot) => robot
                .delay
                .filter(|delay| delay.is_finite() && *delay > 0.0)
                .map(|delay| Duration::from_secs_f32(delay).min(MAX_CRAWL_DELAY)),
            _ => None,
        }
    }

    pub fn sitemaps(&self) -> &[String] {
        match self {
            Rules::Robot(robot) => &robot.sitemaps,
            _ => &[],
        }
    }

    fn read(fetched: Result<Vec<u8>, FetchError>) -> Self {
        match fetched {
            Ok(body) => match Robot::new(AGENT, &body) {
                Ok(robot) => Rules::Robot(robot),
                // The parser is lenient; what it cannot read at all is not a rule.
                Err(_) => Rules::All,
            },
            Err(FetchError::Status(status, _)) if (400..500).contains(&status) => Rules::All,
            // A robots.txt of an unexpected type or size is not a rule either.
            Err(FetchError::Unreadable(_)) => Rules::All,
            Err(err) => Rules::Unreachable(format!("robots.txt could not be read ({err})")),
        }
    }
}

/// The rules of each origin met in one crawl, each fetched once even when many pages of the
/// origin are fetched at once.
#[derive(Default)]
pub struct RobotsCache {
    origins: Mutex<HashMap<String, Arc<OnceCell<Arc<Rules>>>>>,
}

impl RobotsCache {
    /// The rules for `url`'s origin, fetched (through `before_fetch`, which paces it like any
    /// request to the host) when first asked for.
    pub async fn rules<F: Future<Output = ()>>(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        may_visit: impl Fn(&Url) -> bool,
        before_fetch: impl FnOnce() -> F,
    ) -> Arc<Rules> {
        let origin = url.origin().ascii_serialization();
        let cell = self
            .origins
            .lock()
            .expect("the robots cache is never poisoned")
            .entry(origin.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let Ok(robots) = Url::parse(&origin).and_then(|origin| origin.join("/robots.txt"))
            else {
                return Arc::new(Rules::All);
            };
            before_fetch().await;
            let fetched = fetcher
                .get(
                    &robots,
                    &[Kind::Text, Kind::Html, Kind::Markdown],
                    may_visit,
                )
                .await
                .map(|fetched| fetched.body);
            Arc::new(Rules::read(fetched))
        })
        .await
        .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        Rules::read(Ok(text.as_bytes().to_vec()))
    }

    #[test]
    fn the_group_for_hoverbot_wins_over_the_wildcard() {
        let rules = rules(
            "User-agent: *\nDisallow: /\n\nUser-agent: HoverBot\nDisallow: /private/\n\
             Crawl-delay: 2\nSitemap: https://help.example.com/sitemap.xml\n",
        );
        let url = |path: &str| Url::parse(&format!("https://help.example.com{path}")).unwrap();
        assert!(rules.allows(&url("/articles/shipping")));
        assert!(!rules.allows(&url("/private/drafts")));
        assert_eq!(rules.delay(), Some(Duration::from_secs(2)));
        assert_eq!(rules.sitemaps(), ["https://help.example.com/sitemap.xml"]);
    }

    #[test]
    fn a_missing_file_allows_all_and_an_unreachable_one_nothing() {
        let url = Url::parse("https://help.example.com/a").unwrap();
        let missing = Rules::read(Err(FetchError::Status(404, "404 Not Found".into())));
        assert!(missing.allows(&url));
        let erroring = Rules::read(Err(FetchError::Status(
            503,
            "503 Service Unavailable".into(),
        )));
        assert!(!erroring.allows(&url));
        let unreachable = Rules::read(Err(FetchError::Failed("could not connect".into())));
        assert!(!unreachable.allows(&url));
    }

    #[test]
    fn crawl_delay_is_capped() {
        let rules = rules("User-agent: *\nCrawl-delay: 3600\n");
        assert_eq!(rules.delay(), Some(MAX_CRAWL_DELAY));
    }
}
