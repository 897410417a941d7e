//! Fetching one page (or robots.txt, or a sitemap) for a crawl: under the outbound policy, with
//! redirects followed hop by hop only to hosts the crawl may visit, only the content types the
//! caller reads, and bounded in size and time.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use url::Url;

use crate::outbound::{Policy, describe, literal_ip};

/// How long one fetch may take, redirects and body included.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest body read; a larger one is refused, not cut (half a page would be indexed as if
/// it were all of it).
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// The name the crawler goes by, in `User-Agent` and in robots.txt groups.
pub const AGENT: &str = "HoverBot";

/// What a fetch brought back.
#[derive(Debug)]
pub struct Fetched {
    /// Where the content was found, after redirects.
    pub url: Url,
    pub kind: Kind,
    pub body: Vec<u8>,
}

/// The content types a crawl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Markdown,
    Text,
    Xml,
    /// A gzip file (a compressed sitemap).
    Gzip,
}

impl Kind {
    fn of(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/html" | "application/xhtml+xml" => Some(Kind::Html),
            "text/markdown" | "text/x-markdown" => Some(Kind::Markdown),
            "text/plain" => Some(Kind::Text),
            "application/xml" | "text/xml" => Some(Kind::Xml),
            "application/gzip" | "application/x-gzip" => Some(Kind::Gzip),
            _ => None,
        }
    }
}

/// Why a fetch brought nothing back; the text is for the source's error list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status (code, and code with reason).
    #[error("HTTP {1}")]
    Status(u16, String),
    /// The server answered with something the crawl does not read: a content type, a size, a
    /// redirect elsewhere.
    #[error("{0}")]
    Unreadable(String),
    /// No answer: refused address, connection error, timeout.
    #[error("{0}")]
    Failed(String),
}

/// The crawl's HTTP client.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Policy,
}

impl Fetcher {
    pub fn new(policy: Policy) -> Self {
        let client = policy
            .client()
            .timeout(PAGE_TIMEOUT)
            .connect_timeout(PAGE_TIMEOUT)
            .user_agent(concat!(
                "Mozilla/5.0 (compatible; HoverBot/",
                env!("CARGO_PKG_VERSION"),
                "; knowledge crawler)"
            ))
            .build()
            .expect("the crawler's HTTP client builds");
        Self { client, policy }
    }

    /// GETs `url`, following redirects to addresses `may_visit` accepts, and returns the body if
    /// its type is one of `kinds`.
    pub async fn get(
        &self,
        url: &Url,
        kinds: &[Kind],
        may_visit: impl Fn(&Url) -> bool,
    ) -> Result<Fetched, FetchError> {
        tokio::time::timeout(PAGE_TIMEOUT, self.follow(url, kinds, may_visit))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Failed(format!(
                    "timed out after {} s",
                    PAGE_TIMEOUT.as_secs()
                )))
            })
    }

    async fn follow(
        &self,
        url: &Url,
        kinds: &[Kind],
        may_visit: impl Fn(&Url) -> bool,
    ) -> Result<Fetched, FetchError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            // Literal addresses never reach the guarded resolver: check them here.
            if let Some(ip) = literal_ip(&url).filter(|ip| !self.policy.allows(*ip)) {
                return Err(FetchError::Failed(format!(
                    "refused: {ip} is a loopback, private or otherwise non-public address"
                )));
            }
            let mut response = self
                .client
                .get(url.clone())
                .header(ACCEPT, accept(kinds))
                .send()
                .await
                .map_err(|err| FetchError::Failed(describe(&err, PAGE_TIMEOUT)))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|location| location.to_str().ok())
                    .and_then(|location| url.join(location).ok())
                    .ok_or_else(|| {
                        FetchError::Unreadable(format!("HTTP {status} without a usable Location"))
                    })?;
                if !matches!(next.scheme(), "http" | "https") || !may_visit(&next) {
                    return Err(FetchError::Unreadable(format!(
                        "redirects to {next}, which this crawl does not visit"
                    )));
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16(), describe_status(status)));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let kind = Kind::of(&content_type)
                .filter(|kind| kinds.contains(kind))
                .ok_or_else(|| {
                    FetchError::Unreadable(format!(
                        "the content type `{content_type}` is not one this crawl reads"
                    ))
                })?;
            if response
                .content_length()
                .is_some_and(|length| length > MAX_BODY_BYTES as u64)
            {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| FetchError::Failed(describe(&err, PAGE_TIMEOUT)))?
            {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(Fetched { url, kind, body });
        }
        Err(FetchError::Unreadable(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

fn accept(kinds: &[Kind]) -> &'static str {
    if kinds.contains(&Kind::Xml) {
        "application/xml, text/xml;q=0.9, */*;q=0.1"
    } else {
        "text/html, application/xhtml+xml, text/markdown;q=0.9, text/plain;q=0.8"
    }
}

fn too_large() -> FetchError {
    FetchError::Unreadable(format!(
        "larger than {} MiB, the most a page may be",
        MAX_BODY_BYTES / (1024 * 1024)
    ))
}

fn describe_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}
