//! Which pages a crawl visits and which it indexes: the hosts it may visit, and the source's
//! include and exclude patterns (`*` matches any characters, everything else itself, and a
//! pattern matches the whole URL).

use std::collections::HashSet;

use regex::RegexSet;
use url::Url;

pub struct Scope {
    hosts: HashSet<String>,
    include: Option<RegexSet>,
    exclude: RegexSet,
}

impl Scope {
    /// A scope over `hosts` (host names, any port and scheme: sites move from http to https and
    /// back on the same name).
    pub fn new(
        hosts: impl IntoIterator<Item = String>,
        include: &[String],
        exclude: &[String],
    ) -> Self {
        Self {
            hosts: hosts.into_iter().collect(),
            include: (!include.is_empty()).then(|| patterns(include)),
            exclude: patterns(exclude),
        }
    }

    /// Whether the crawl may fetch `url`: on its hosts and not excluded.
    pub fn may_visit(&self, url: &Url) -> bool {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|host| self.hosts.contains(host))
            && !self.exclude.is_match(url.as_str())
    }

    /// Whether a fetched page is indexed: it matches the include patterns, if any.
    pub fn indexes(&self, url: &Url) -> bool {
        self.include
            .as_ref()
            .is_none_or(|include| include.is_match(url.as_str()))
            && !self.exclude.is_match(url.as_str())
    }
}

fn patterns(globs: &[String]) -> RegexSet {
    let regexes = globs.iter().map(|glob| {
        let escaped: Vec<String> = glob.split('*').map(regex::escape).collect();
        format!("^{}$", escaped.join(".*"))
    });
    // Escaped text and `.*` always compile; the size is bounded by the API's limits on patterns.
    RegexSet::new(regexes).expect("escaped globs are valid regular expressions")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn hosts_and_patterns_decide() {
        let scope = Scope::new(
            ["help.example.com".to_string()],
            &["https://help.example.com/articles/*".into()],
            &["*/print/*".into(), "*?page=*".into()],
        );
        assert!(scope.may_visit(&url("http://help.example.com:8080/")));
        assert!(!scope.may_visit(&url("https://www.example.com/")));
        assert!(!scope.may_visit(&url("https://help.example.com/articles/print/1")));
        assert!(scope.indexes(&url("https://help.example.com/articles/returns")));
        assert!(!scope.indexes(&url("https://help.example.com/")));
        assert!(!scope.indexes(&url("https://help.example.com/articles/x?page=2")));
        // Regex syntax in a pattern is literal text.
        let scope = Scope::new(
            ["h.example".to_string()],
            &["https://h.example/a.b".into()],
            &[],
        );
        assert!(!scope.indexes(&url("https://h.example/aXb")));
    }
}
