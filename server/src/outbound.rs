//! Which URLs the server may call (webhook receivers, crawled pages), so that a tenant cannot
//! point the server at its own network: loopback, private, link-local (cloud metadata lives there),
//! and other non-global addresses are refused unless the deployment allows private networks.
//!
//! A URL is checked when it is registered, by resolving its host and checking every address, and
//! again when it is called (a name may resolve elsewhere by then: DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use url::{Host, Url};

/// How long registering a URL waits for its host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The deployment's rule for outbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub allow_private_networks: bool,
}

/// Why a URL may not be called; the text is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

impl Policy {
    /// Whether the server may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private_networks || is_global(ip)
    }

    /// Checks a webhook receiver URL to register: `https` (or `http` to a non-global address where
    /// those are allowed), no credentials, and a host whose every address the server may reach. A
    /// name that does not resolve now is accepted: it is checked again at each call. Registration
    /// checks run before the request writes anything: a slow resolver delays this request, not
    /// every writer's.
    pub async fn check(&self, url: &Url) -> Result<(), Refused> {
        let addresses = self.addresses(url).await?;
        match url.scheme() {
            "https" => Ok(()),
            "http" if !addresses.is_empty() && addresses.iter().all(|ip| !is_global(*ip)) => Ok(()),
            "http" => Err(Refused(
                "the URL must use https (http is accepted only for loopback and private \
                 addresses, in deployments that allow them)"
                    .into(),
            )),
            other => Err(Refused(format!(
                "the URL's scheme must be https, not `{other}`"
            ))),
        }
    }

    /// Checks the URLs of pages to crawl: each `http` or `https` (public web pages are still
    /// served over both), without credentials, and with a host whose every address the server may
    /// reach. Each distinct host is resolved once, all at once: a crawl's seeds often share a
    /// host, and each lookup is a chance to wait for a slow resolver.
    pub async fn check_pages(&self, urls: &[Url]) -> Vec<Result<(), Refused>> {
        let mut names: Vec<(&str, u16)> = urls
            .iter()
            .filter(|url| literal_ip(url).is_none() && url.username().is_empty())
            .filter(|url| url.password().is_none() && matches!(url.scheme(), "http" | "https"))
            .filter_map(|url| Some((url.host_str()?, port_of(url))))
            .collect();
        names.sort_unstable();
        names.dedup();
        let resolved: Vec<((&str, u16), Vec<IpAddr>)> = futures_util::future::join_all(
            names
                .into_iter()
                .map(|(name, port)| async move { ((name, port), resolve(name, port).await) }),
        )
        .await;
        urls.iter()
            .map(|url| {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(Refused(format!(
                        "the URL's scheme must be http or https, not `{}`",
                        url.scheme()
                    )));
                }
                let found = url.host_str().and_then(|name| {
                    resolved
                        .iter()
                        .find(|(key, _)| *key == (name, port_of(url)))
                        .map(|(_, addresses)| addresses.clone())
                });
                self.judge(url, found.unwrap_or_default()).map(drop)
            })
            .collect()
    }

    /// The addresses of the URL's host, all of which the policy allows.
    async fn addresses(&self, url: &Url) -> Result<Vec<IpAddr>, Refused> {
        let resolved = match (literal_ip(url), url.host_str()) {
            (None, Some(name)) if url.username().is_empty() && url.password().is_none() => {
                resolve(name, port_of(url)).await
            }
            _ => Vec::new(),
        };
        self.judge(url, resolved)
    }

    /// The URL's addresses (its literal one, or `resolved` for a name), all of which the policy
    /// allows.
    fn judge(&self, url: &Url, resolved: Vec<IpAddr>) -> Result<Vec<IpAddr>, Refused> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("the URL must not hold credentials".into()));
        }
        let addresses: Vec<IpAddr> = match (literal_ip(url), url.host_str()) {
            (Some(ip), _) => vec![ip],
            (None, Some(_)) => resolved,
            (None, None) => return Err(Refused("the URL has no host".into())),
        };
        if let Some(refused) = addresses.iter().find(|ip| !self.allows(**ip)) {
            return Err(Refused(format!(
                "the URL's host resolves to {refused}, a loopback, private or otherwise non-public \
                 address, which this deployment does not call"
            )));
        }
        Ok(addresses)
    }

    /// An HTTP client builder whose connections obey the policy: names resolve through
    /// [`GuardedResolver`], so a name that resolves to a refused address when it is called is not
    /// called (DNS rebinding); proxy variables are ignored (a proxy would resolve names where the
    /// policy cannot see) and redirects are not followed (each hop must be checked by the caller).
    /// Literal addresses never reach a resolver: callers check them with [`Policy::allows`].
    pub fn client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy: *self }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    }
}

/// Resolves names, and refuses the whole name if any address is refused: an attacker who controls
/// a name's records must not get a connection to a private address by listing it second.
struct GuardedResolver {
    policy: Policy,
}

#[derive(Debug, thiserror::Error)]
#[error("refused: {0} resolves to {1}, which is not a public address")]
struct RefusedAddress(String, IpAddr);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses = lookup(&host, 0).await?;
            if let Some(refused) = addresses
                .iter()
                .find(|address| !policy.allows(address.ip()))
            {
                return Err(Box::new(RefusedAddress(host, refused.ip())) as _);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The port a URL reaches: its own, or its scheme's.
fn port_of(url: &Url) -> u16 {
    url.port_or_known_default().unwrap_or(443)
}

/// The URL's host when it is an address rather than a name (names are resolved, addresses not).
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// A log-friendly reason for a failed request (`timeout` is the client's), with its causes and
/// without reqwest's nested wording.
pub fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    let mut text = if err.is_timeout() {
        format!("timed out after {} s", timeout.as_secs())
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

async fn resolve(name: &str, port: u16) -> Vec<IpAddr> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup(name, port)).await {
        Ok(Ok(addresses)) => addresses.into_iter().map(|address| address.ip()).collect(),
        _ => Vec::new(),
    }
}

/// The system resolver's answer for `name`, except for names under `invalid`: RFC 6761 (6.4)
/// reserves them never to resolve and asks resolver libraries to refuse them at once, which the
/// system's does not. Clients and test suites use them for URLs that must reach no one; each
/// costs nothing here, where a lookup could wait seconds on a slow resolver.
async fn lookup(name: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    if is_reserved_invalid(name) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{name} does not exist: names under .invalid never resolve (RFC 6761)"),
        ));
    }
    Ok(tokio::net::lookup_host((name, port)).await?.collect())
}

fn is_reserved_invalid(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    let tld = name.rsplit('.').next().unwrap_or(name);
    tld.eq_ignore_ascii_case("invalid")
}

/// Whether `ip` is a globally reachable unicast address: not loopback, private, link-local, shared
/// (carrier-grade NAT), documentation, benchmarking, reserved, multicast or unspecified. IPv6 forms
/// of IPv4 addresses are judged as the IPv4 address. (The standard library's `is_global` is not
/// stable yet.)
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_global_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(ip),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 to IPv4, judged unsafe
        || ip.to_ipv4().is_some_and(|v4| !is_global_v4(v4))) // IPv4-compatible forms
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_private_networks: false,
    };
    const LENIENT: Policy = Policy {
        allow_private_networks: true,
    };

    #[tokio::test]
    async fn each_page_gets_its_own_verdict_when_hosts_are_shared() {
        let urls: Vec<Url> = [
            "http://localhost:1/a",
            "https://localhost:1/b",
            "ftp://localhost/c",
            "https://user:pw@localhost/d",
            "http://10.0.0.7/e",
        ]
        .iter()
        .map(|url| Url::parse(url).unwrap())
        .collect();
        let verdicts = |checked: Vec<Result<(), Refused>>| {
            checked
                .into_iter()
                .map(|checked| checked.err().map(|refused| refused.0))
                .collect::<Vec<_>>()
        };
        let strict = verdicts(STRICT.check_pages(&urls).await);
        assert_eq!(strict.len(), urls.len());
        for (verdict, why) in strict.iter().zip([
            "resolves to",
            "resolves to",
            "scheme",
            "credentials",
            "10.0.0.7",
        ]) {
            assert!(verdict.as_deref().unwrap().contains(why), "{strict:?}");
        }
        let lenient = verdicts(LENIENT.check_pages(&urls).await);
        assert_eq!(lenient[0], None);
        assert_eq!(lenient[1], None);
        assert!(lenient[2].is_some() && lenient[3].is_some(), "{lenient:?}");
        assert_eq!(lenient[4], None);
    }

    #[test]
    fn only_global_addresses_are_global() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip} is not global");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(is_global(ip.parse().unwrap()), "{ip} is global");
        }
    }

    async fn check(policy: Policy, url: &str) -> Result<(), Refused> {
        policy.check(&Url::parse(url).unwrap()).await
    }

    #[tokio::test]
    async fn refuses_private_receivers_unless_allowed() {
        for url in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/",
            "https://localhost:8443/hook",
            "http://127.0.0.1:9000/hook",
        ] {
            assert!(check(STRICT, url).await.is_err(), "{url}");
        }
        assert!(check(LENIENT, "http://127.0.0.1:9000/hook").await.is_ok());
        assert!(check(LENIENT, "https://localhost:8443/hook").await.is_ok());
    }

    #[tokio::test]
    async fn wants_https_to_public_hosts_and_no_credentials() {
        assert!(check(STRICT, "https://93.184.216.34/hook").await.is_ok());
        for policy in [STRICT, LENIENT] {
            assert!(check(policy, "http://93.184.216.34/hook").await.is_err());
            assert!(check(policy, "ftp://93.184.216.34/hook").await.is_err());
            assert!(
                check(policy, "https://user:pw@93.184.216.34/")
                    .await
                    .is_err()
            );
        }
    }

    #[tokio::test]
    async fn names_under_invalid_are_refused_without_a_lookup() {
        for name in ["receiver.invalid", "INVALID", "a.b.Invalid."] {
            let err = lookup(name, 443).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{name}");
            assert!(err.to_string().contains("RFC 6761"), "{name}: {err}");
        }
        for name in ["invalid.example.com", "invalidate.net", "localhost"] {
            assert!(!is_reserved_invalid(name), "{name}");
        }
        // Through the HTTP client the policy builds, as webhook attempts and crawls call out.
        let client = LENIENT.client().build().unwrap();
        let err = client
            .get("http://receiver.invalid:9/hook")
            .send()
            .await
            .unwrap_err();
        assert!(
            describe(&err, Duration::from_secs(1)).contains("RFC 6761"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_now_is_checked_later() {
        assert!(check(STRICT, "https://receiver.invalid/hook").await.is_ok());
        assert!(
            check(LENIENT, "http://receiver.invalid/hook")
                .await
                .is_err()
        );
    }
}
