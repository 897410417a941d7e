//! HTML pages to a [`Document`]: the page's main content (its `main` or `article`, else its
//! `body`, without navigation, headers, footers, sidebars, forms and scripts), with `h1`–`h6`
//! making the heading path, and what a crawler needs besides: the links to follow, the canonical
//! address and the page's robots directives.
//!
//! The tree is walked without recursion, so a page nested thousands of elements deep cannot
//! exhaust the stack.

use std::sync::LazyLock;

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node, Selector};
use url::Url;

use super::document::{Blocks, Document, collapse};

/// The most links taken from one page: enough for any index page, bounded against link farms.
const MAX_LINKS: usize = 2_000;

/// A page as the crawler reads it.
#[derive(Debug)]
pub struct Page {
    pub document: Document,
    /// The `http` and `https` links of the page, absolute, without fragments, in page order.
    pub links: Vec<Url>,
    /// The page's `<link rel="canonical">`, absolute.
    pub canonical: Option<Url>,
    /// `<meta name="robots" content="noindex">`: the page asks not to be indexed.
    pub noindex: bool,
    /// `<meta name="robots" content="nofollow">`: the page asks that its links not be followed.
    pub nofollow: bool,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("the selector is valid CSS")
}

static TITLE: LazyLock<Selector> = LazyLock::new(|| selector("head title"));
static BASE: LazyLock<Selector> = LazyLock::new(|| selector("base[href]"));
static CANONICAL: LazyLock<Selector> = LazyLock::new(|| selector("link[rel~=canonical][href]"));
static ROBOTS: LazyLock<Selector> = LazyLock::new(|| selector("meta[name][content]"));
static LINKS: LazyLock<Selector> = LazyLock::new(|| selector("a[href]"));
/// Where the main content is, best first.
static MAIN: LazyLock<[Selector; 4]> = LazyLock::new(|| {
    [
        selector("main"),
        selector("[role=main]"),
        selector("article"),
        selector("body"),
    ]
});

/// Elements whose content is not the page's content.
const SKIPPED: &[&str] = &[
    "nav", "header", "footer", "aside", "script", "style", "noscript", "template", "form", "svg",
    "iframe", "button", "select", "textarea", "object", "canvas", "dialog", "menu",
];
/// ARIA roles of the same.
const SKIPPED_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "menu",
    "menubar",
    "dialog",
];
/// Elements that end a run of text (the rest are inline: their text joins their neighbours').
const BLOCKS: &[&str] = &[
    "p",
    "li",
    "pre",
    "blockquote",
    "td",
    "th",
    "dd",
    "dt",
    "div",
    "section",
    "tr",
    "table",
    "ul",
    "ol",
    "dl",
    "figcaption",
    "figure",
    "br",
    "hr",
    "caption",
    "summary",
    "details",
    "address",
];

/// The deepest element nesting read. The HTML parser's scope checks walk the stack of open
/// elements, so its time grows with depth times tags: a hostile page of nothing but `<div>`s
/// would hold a core for hours. Real pages nest a few dozen deep.
pub const MAX_DEPTH: usize = 1_000;

/// Reads the page served at `url`; an error when it nests deeper than [`MAX_DEPTH`].
pub fn page(url: &Url, html: &str) -> Result<Page, String> {
    if nesting(html) > MAX_DEPTH {
        return Err(format!(
            "the page nests elements more than {MAX_DEPTH} deep, more than this crawler reads"
        ));
    }
    let html = Html::parse_document(html);
    let base = html
        .select(&BASE)
        .next()
        .and_then(|base| url.join(base.attr("href")?).ok())
        .unwrap_or_else(|| url.clone());
    let (mut noindex, mut nofollow) = (false, false);
    for meta in html.select(&ROBOTS) {
        let name = meta.attr("name").unwrap_or_default();
        if name.eq_ignore_ascii_case("robots") || name.eq_ignore_ascii_case("hoverbot") {
            let content = meta
                .attr("content")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let says = |directive: &str| content.split(',').any(|d| d.trim() == directive);
            noindex |= says("noindex") || says("none");
            nofollow |= says("nofollow") || says("none");
        }
    }
    let canonical = html
        .select(&CANONICAL)
        .next()
        .and_then(|link| absolute(&base, link.attr("href")?));
    let links = html
        .select(&LINKS)
        .filter(|link| {
            !link
                .attr("rel")
                .is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r == "nofollow"))
        })
        .filter_map(|link| absolute(&base, link.attr("href")?))
        .take(MAX_LINKS)
        .collect();
    let blocks = content(&html).finish();
    let title = html
        .select(&TITLE)
        .next()
        .map(|title| collapse(&title.text().collect::<String>()))
        .filter(|title| !title.is_empty())
        .or_else(|| blocks.first()?.headings.first().cloned())
        .unwrap_or_else(|| url.path().to_string());
    Ok(Page {
        document: Document {
            url: Some(url.to_string()),
            title,
            blocks,
        },
        links,
        canonical,
        noindex,
        nofollow,
    })
}

/// Elements that never hold others, or whose end tag may be left out (and usually is): neither
/// deepens the nesting for long.
const SHALLOW: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody",
    "tfoot", "colgroup", "caption", "rt", "rp", "html", "head", "body",
];

/// How deep the page's elements nest, counted from its tags in one pass without parsing: an
/// estimate that can only err upwards on malformed markup (a `<div>` never closed), which is
/// what it guards against.
fn nesting(html: &str) -> usize {
    // Lower-cased once, so that finding each script's end stays linear in the page.
    let lower = html.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while let Some(offset) = bytes[at..].iter().position(|b| *b == b'<') {
        at += offset + 1;
        let closing = bytes.get(at) == Some(&b'/');
        let start = at + usize::from(closing);
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
        if end == start {
            continue;
        }
        let name = &lower[start..end];
        if closing {
            if !SHALLOW.contains(&name) {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        // Script and style text is not markup: skip to its end tag.
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            match lower[end..].find(&close) {
                Some(found) => at = end + found,
                None => break,
            }
            continue;
        }
        let self_closing = bytes[end..]
            .iter()
            .position(|b| *b == b'>')
            .is_some_and(|gt| gt > 0 && bytes[end + gt - 1] == b'/');
        if !SHALLOW.contains(&name) && !self_closing {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

/// `href` resolved against `base`, when it is an `http` or `https` address; without its fragment,
/// which names a place in the same page.
fn absolute(base: &Url, href: &str) -> Option<Url> {
    let mut url = base.join(href.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

/// The blocks of the page's main content.
fn content(html: &Html) -> Blocks {
    let mut blocks = Blocks::default();
    let Some(root) = MAIN
        .iter()
        .find_map(|selector| html.select(selector).next())
    else {
        return blocks;
    };
    // While inside a skipped element or a heading, the node that opened it.
    let mut skipping: Option<ego_tree::NodeId> = None;
    let mut heading: Option<(ego_tree::NodeId, u8, String)> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(text) => match &mut heading {
                        Some((_, _, heading)) => heading.push_str(text),
                        None => blocks.text(text),
                    },
                    Node::Element(element) => {
                        let name = element.name();
                        if skipped(ElementRef::wrap(node).expect("an element")) {
                            skipping = Some(node.id());
                        } else if let Some(level) = heading_level(name) {
                            if heading.is_none() {
                                heading = Some((node.id(), level, String::new()));
                            }
                        } else if BLOCKS.contains(&name) {
                            match &mut heading {
                                Some((_, _, heading)) => heading.push(' '),
                                None => blocks.end_block(),
                            }
                        } else if name == "img" {
                            // An image's text alternative is part of what the page says.
                            if let (Some(alt), None) = (element.attr("alt"), &heading) {
                                blocks.text(&format!(" {alt} "));
                            }
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if skipping.is_some() {
                    if skipping == Some(node.id()) {
                        skipping = None;
                    }
                } else if heading.as_ref().is_some_and(|(id, ..)| *id == node.id()) {
                    let (_, level, text) = heading.take().expect("checked");
                    blocks.heading(level, &text);
                } else if let Node::Element(element) = node.value()
                    && BLOCKS.contains(&element.name())
                    && heading.is_none()
                {
                    blocks.end_block();
                }
            }
        }
    }
    blocks
}

fn skipped(element: ElementRef<'_>) -> bool {
    let value = element.value();
    SKIPPED.contains(&value.name())
        || value.attr("hidden").is_some()
        || value.attr("aria-hidden") == Some("true")
        || value
            .attr("role")
            .is_some_and(|role| SKIPPED_ROLES.contains(&role))
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::document::Block;

    fn block(headings: &[&str], text: &str) -> Block {
        Block {
            headings: headings.iter().map(|h| h.to_string()).collect(),
            text: text.to_string(),
        }
    }

    fn read(html: &str) -> Page {
        page(
            &Url::parse("https://help.example.com/articles/shipping").unwrap(),
            html,
        )
        .unwrap()
    }

    #[test]
    fn keeps_the_main_content_under_its_headings() {
        let page = read(
            r#"<!doctype html><html><head><title> Shipping | Help </title>
            <script>var tracking = "drop me";</script></head>
            <body><header><a href="/">Home</a> Menu</header>
            <nav><a href="/articles/returns">Returns</a></nav>
            <main><h1>Shipping</h1><p>We ship <b>worldwide</b> in 3&nbsp;days.</p>
            <h2>Changing <em>an</em> address</h2><ul><li>Open Orders</li><li>Choose <a href="/x">Change</a></li></ul>
            <div hidden>Secret draft</div><img src="a.png" alt="Map of zones">
            <h3>Fees</h3><table><tr><td>EU</td><td>5 EUR</td></tr></table></main>
            <aside>Popular articles</aside><footer>© Shop</footer></body></html>"#,
        );
        assert_eq!(page.document.title, "Shipping | Help");
        assert_eq!(
            page.document.blocks,
            vec![
                block(&["Shipping"], "We ship worldwide in 3 days."),
                block(&["Shipping", "Changing an address"], "Open Orders"),
                block(&["Shipping", "Changing an address"], "Choose Change"),
                block(&["Shipping", "Changing an address"], "Map of zones"),
                block(&["Shipping", "Changing an address", "Fees"], "EU"),
                block(&["Shipping", "Changing an address", "Fees"], "5 EUR"),
            ]
        );
        let links: Vec<String> = page.links.iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://help.example.com/",
                "https://help.example.com/articles/returns",
                "https://help.example.com/x"
            ]
        );
    }

    #[test]
    fn without_main_the_body_is_read_and_the_title_falls_back_to_the_first_heading() {
        let page = read("<body><nav>Menu</nav><h2>Returns</h2>Within 30 days.</body>");
        assert_eq!(page.document.title, "Returns");
        assert_eq!(
            page.document.blocks,
            vec![block(&["Returns"], "Within 30 days.")]
        );
    }

    #[test]
    fn links_resolve_against_base_and_drop_fragments_and_other_schemes() {
        let page = read(
            r##"<head><base href="https://help.example.com/docs/"><link rel="canonical" href="/articles/shipping?ref=x"></head>
            <body><a href="page#part">a</a><a href="mailto:x@example.com">m</a><a href="javascript:void(0)">j</a>
            <a href="#top">t</a><a rel="nofollow" href="/login">l</a><a href="http://other.example/">o</a></body>"##,
        );
        let links: Vec<String> = page.links.iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://help.example.com/docs/page",
                "https://help.example.com/docs/",
                "http://other.example/"
            ]
        );
        assert_eq!(
            page.canonical.unwrap().as_str(),
            "https://help.example.com/articles/shipping?ref=x"
        );
    }

    #[test]
    fn robots_meta_directives_are_read() {
        let page = read(r#"<head><meta name="ROBOTS" content="NoIndex, follow"></head><p>x</p>"#);
        assert!(page.noindex && !page.nofollow);
        let page = read(r#"<head><meta name="robots" content="none"></head><p>x</p>"#);
        assert!(page.noindex && page.nofollow);
    }

    #[test]
    fn a_page_nested_too_deep_is_refused_before_parsing() {
        let url = Url::parse("https://help.example.com/").unwrap();
        let deep = format!("{}deep{}", "<div>".repeat(50_000), "</div>".repeat(50_000));
        assert!(page(&url, &deep).is_err());
        let nested = format!(
            "{}deep{}",
            "<div>".repeat(MAX_DEPTH),
            "</div>".repeat(MAX_DEPTH)
        );
        assert_eq!(nesting(&nested), MAX_DEPTH);
        assert!(page(&url, &nested).is_ok());
        // Unclosed list items and paragraphs, void elements, self-closing SVG and script text
        // do not count as nesting.
        let flat = format!(
            "<ul>{}</ul><svg><path/></svg><script>if (a<b) {{ '<div><div>' }}</script>",
            "<li><p>item<br><img src=x>".repeat(5_000)
        );
        assert_eq!(nesting(&flat), 1);
    }
}
