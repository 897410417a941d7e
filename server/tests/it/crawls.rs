//! `url-crawl` and `sitemap` sources, crawled from websites served on loopback: robots.txt,
//! sitemaps, redirects, duplicates, failures, limits, scheduled re-syncs, and the SSRF guard.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use hoverbot_server::store::tenant::WorkspaceId;
use hoverbot_server::store::{knowledge_sources, workspaces};

use crate::site::{Page, Site};
use crate::support::{
    TestServer, assert_problem, assert_schema, cited_answer, eventually, workspace_of,
};

/// Servers that may crawl loopback sites, at a brisk but bounded pace.
async fn crawling_servers() -> Vec<TestServer> {
    TestServer::each_configured(|config| {
        config.allow_private_networks = true;
        config.crawl_host_requests_per_second = 50;
    })
    .await
}

fn article(title: &str, body: &str) -> Page {
    Page::html(&format!(
        r#"<!doctype html><html><head><title>{title} | Shop help</title></head><body>
        <header><a href="/">Help center</a></header>
        <nav><a href="/articles/shipping">Shipping</a> <a href="/articles/returns">Returns</a></nav>
        <main><h1>{title}</h1>{body}</main>
        <footer>Copyright Shop. Cookie settings.</footer></body></html>"#
    ))
}

/// Creates a source and waits for its sync to end.
async fn synced(server: &TestServer, source: Value) -> Value {
    let (status, created) = server
        .send(Method::POST, "/v1/knowledge-sources", Some(source))
        .await;
    assert!(status.is_success(), "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    settled(server, &id).await
}

/// The source once no sync is queued or running.
async fn settled(server: &TestServer, id: &str) -> Value {
    eventually("the sync", || async {
        let (_, source) = server
            .send(Method::GET, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        (source["status"] == "ready" || source["status"] == "failed").then_some(source)
    })
    .await
}

/// The workspace of a knowledge source, as an operator finds it.
async fn workspace(server: &TestServer, id: &str) -> WorkspaceId {
    let owner = workspace_of(server, "knowledge_sources", id).await;
    workspaces::find(&server.db, &owner).await.unwrap().unwrap()
}

/// The addresses of the source's chunks, each once, in order.
async fn chunk_urls(server: &TestServer, id: &str) -> Vec<String> {
    let workspace = workspace(server, id).await;
    let mut urls: Vec<String> = Vec::new();
    for chunk in knowledge_sources::chunks(&server.db, &workspace, id)
        .await
        .unwrap()
    {
        let url = chunk.url.unwrap();
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

fn error_for<'a>(source: &'a Value, url: &str) -> &'a str {
    source["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["url"] == url)
        .unwrap_or_else(|| panic!("no error for {url} in {source}"))["message"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn a_site_is_crawled_within_its_rules_and_answers_cite_its_pages() {
    let site = Site::serve(vec![
        (
            "/robots.txt",
            Page::typed(
                "text/plain",
                b"User-agent: *\nDisallow: /private/\n\nSitemap: /sitemap.xml\n".to_vec(),
            ),
        ),
        (
            "/sitemap.xml",
            Page::typed(
                "application/xml",
                br#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
                <url><loc>/articles/payments</loc></url></urlset>"#
                    .to_vec(),
            ),
        ),
        (
            "/",
            Page::html(
                r#"<html><head><title>Shop help</title></head><body><main><h1>Help center</h1>
                <p>Answers to common questions.</p>
                <ul><li><a href="/articles/shipping">Shipping</a></li>
                <li><a href="/articles/shipping?utm_source=home">Shipping (tracked link)</a></li>
                <li><a href="/old/returns">Returns</a></li>
                <li><a href="/articles/returns-copy">Returns (copy)</a></li>
                <li><a href="/articles/missing">Missing</a></li>
                <li><a href="/files/price-list.pdf">Price list</a></li>
                <li><a href="/leaving">Our blog</a></li>
                <li><a href="/private/drafts">Drafts</a></li>
                <li><a href="/articles/print/shipping">Print</a></li>
                <li><a href="mailto:help@shop.example">Mail us</a></li></ul></main></body></html>"#,
            ),
        ),
        (
            "/articles/shipping",
            article(
                "Shipping",
                "<h2>Changing your shipping address</h2><p>You can change the shipping address \
                 of an order until it ships. Open Orders, select the order and choose Change \
                 shipping address.</p><p>See <a href=\"/articles/deep\">carrier details</a>.</p>",
            ),
        ),
        (
            "/articles/shipping?utm_source=home",
            Page::html(
                r#"<html><head><link rel="canonical" href="/articles/shipping"></head>
                <body><main><h1>Shipping</h1><p>Same page, tracked.</p></main></body></html>"#,
            ),
        ),
        ("/old/returns", Page::redirect("/articles/returns")),
        (
            "/articles/returns",
            article(
                "Returns",
                "<p>You can return any item within 30 days of delivery for a full refund.</p>",
            ),
        ),
        (
            "/articles/returns-copy",
            article(
                "Returns",
                "<p>You can return any item within 30 days of delivery for a full refund.</p>",
            ),
        ),
        (
            "/articles/payments",
            Page::typed(
                "text/markdown",
                b"# Payment methods\n\nWe accept Visa, Mastercard and PayPal.".to_vec(),
            ),
        ),
        (
            "/files/price-list.pdf",
            Page::typed("application/pdf", b"%PDF-1.4".to_vec()),
        ),
        ("/leaving", Page::redirect("http://localhost:9/blog")),
        (
            "/private/drafts",
            article("Drafts", "<p>Not for crawlers.</p>"),
        ),
        (
            "/articles/print/shipping",
            article("Print", "<p>Printable.</p>"),
        ),
        (
            "/articles/deep",
            article("Carriers", "<p>Two links away from the seed.</p>"),
        ),
    ])
    .await;
    for server in crawling_servers().await {
        let source = synced(
            &server,
            json!({"type": "url-crawl", "name": "Help center", "seedUrls": [site.url("/")],
                   "maxDepth": 1, "excludePatterns": ["*/print/*"]}),
        )
        .await;
        assert_schema("KnowledgeSource", &source);
        assert_eq!(source["status"], "ready", "{source}");
        let id = source["id"].as_str().unwrap();
        let mut urls = chunk_urls(&server, id).await;
        urls.sort();
        assert_eq!(
            urls,
            [
                site.url("/"),
                site.url("/articles/payments"),
                site.url("/articles/returns"),
                site.url("/articles/shipping"),
            ],
            "the seed, the linked and the sitemap's pages, each once; no private, printable, \
             duplicate or too-deep page"
        );
        assert_eq!(source["pagesIndexed"], 4);
        assert!(
            source["pagesDiscovered"].as_i64().unwrap() >= 10,
            "{source}"
        );
        assert_eq!(
            error_for(&source, &site.url("/articles/missing")),
            "HTTP 404 Not Found"
        );
        assert!(error_for(&source, &site.url("/files/price-list.pdf")).contains("application/pdf"));
        assert!(
            error_for(&source, &site.url("/leaving")).contains("does not visit"),
            "a redirect off the site is not followed"
        );

        // What the main content said is searchable; the navigation and footer are not.
        let workspace = workspace(&server, id).await;
        let chunks = knowledge_sources::chunks(&server.db, &workspace, id)
            .await
            .unwrap();
        let shipping = chunks
            .iter()
            .find(|chunk| chunk.text.contains("change the shipping address"))
            .expect("the shipping article is chunked");
        assert_eq!(shipping.title, "Shipping | Shop help");
        assert_eq!(
            shipping.headings,
            r#"["Shipping","Changing your shipping address"]"#
        );
        assert!(
            chunks
                .iter()
                .all(|chunk| !chunk.text.contains("Cookie settings"))
        );

        // The index catches up with the sync within its bound; then the answer cites the page.
        let exchange = cited_answer(&server, "Can I change my shipping address?").await;
        let answer = &exchange["assistantMessage"];
        assert!(
            answer["text"]
                .as_str()
                .unwrap()
                .contains("You can change the shipping address of an order until it ships."),
            "{answer}"
        );
        assert_eq!(
            answer["citations"][0]["url"],
            site.url("/articles/shipping")
        );
        server.finish().await;
    }
    // robots.txt was read once per crawl, and kept to.
    assert!(site.hits("/robots.txt") >= 1);
    assert_eq!(site.hits("/private/drafts"), 0);
    assert_eq!(site.hits("/articles/print/shipping"), 0);
    assert_eq!(
        site.hits("/articles/deep"),
        0,
        "maxDepth 1 stops at the links of the seed"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_sitemap_source_reads_nested_indexes_and_stops_at_max_pages() {
    let site = Site::serve(vec![]).await;
    let urlset = |paths: &[&str]| {
        let urls: String = paths
            .iter()
            .map(|path| format!("<url><loc>{}</loc></url>", site.url(path)))
            .collect();
        format!(r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#)
    };
    site.set(
        "/sitemap_index.xml",
        Page::typed(
            "application/xml",
            format!(
                "<sitemapindex><sitemap><loc>{}</loc></sitemap><sitemap><loc>{}</loc></sitemap>\
                 </sitemapindex>",
                site.url("/sitemap-1.xml"),
                site.url("/sitemap-2.xml.gz")
            )
            .into_bytes(),
        ),
    );
    site.set(
        "/sitemap-1.xml",
        Page::typed(
            "text/xml",
            urlset(&["/docs/a", "/docs/b", "/blog/x"]).into_bytes(),
        ),
    );
    site.set(
        "/sitemap-2.xml.gz",
        Page::typed(
            "application/gzip",
            gzip(urlset(&["/docs/c", "/docs/d"]).as_bytes()),
        ),
    );
    for (path, topic) in [
        ("/docs/a", "alpha"),
        ("/docs/b", "bravo"),
        ("/docs/c", "charlie"),
        ("/docs/d", "delta"),
        ("/blog/x", "x-ray"),
    ] {
        site.set(path, article(topic, &format!("<p>All about {topic}.</p>")));
    }
    for server in crawling_servers().await {
        let source = synced(
            &server,
            json!({"type": "sitemap", "name": "Docs", "sitemapUrl": site.url("/sitemap_index.xml"),
                   "includePatterns": [format!("{}/docs/*", site.base)]}),
        )
        .await;
        assert_eq!(source["status"], "ready", "{source}");
        let mut urls = chunk_urls(&server, source["id"].as_str().unwrap()).await;
        urls.sort();
        assert_eq!(
            urls,
            ["/docs/a", "/docs/b", "/docs/c", "/docs/d"].map(|path| site.url(path))
        );

        let limited = synced(
            &server,
            json!({"type": "sitemap", "name": "Docs, 3 pages", "sitemapUrl": site.url("/sitemap_index.xml"),
                   "maxPages": 3}),
        )
        .await;
        assert_eq!(limited["pagesIndexed"], 3, "{limited}");
        assert_eq!(
            chunk_urls(&server, limited["id"].as_str().unwrap())
                .await
                .len(),
            3
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn a_failing_resync_keeps_the_chunks_it_had_and_says_why() {
    let site = Site::serve(vec![(
        "/",
        article(
            "Opening hours",
            "<p>Support answers from 9 to 17 on weekdays.</p>",
        ),
    )])
    .await;
    for server in crawling_servers().await {
        let source = synced(
            &server,
            json!({"type": "url-crawl", "name": "Site", "seedUrls": [site.url("/")]}),
        )
        .await;
        assert_eq!(source["status"], "ready", "{source}");
        assert_eq!(source["chunks"], 1);
        let id = source["id"].as_str().unwrap();

        // The site goes down: robots.txt answers 503, which forbids crawling (RFC 9309).
        site.set("/robots.txt", Page::status(503));
        let (status, _) = server
            .send(
                Method::POST,
                &format!("/v1/knowledge-sources/{id}/sync"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let failed = settled(&server, id).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["chunks"], 1, "the last good sync's chunks stay");
        assert!(
            error_for(&failed, &site.url("/")).contains("robots.txt could not be read"),
            "{failed}"
        );
        assert_eq!(chunk_urls(&server, id).await, [site.url("/")]);
        site.set("/robots.txt", Page::status(404));
        server.finish().await;
    }
}

#[tokio::test]
async fn pages_over_the_size_limit_or_nested_too_deep_are_recorded_and_skipped() {
    let huge = format!("<p>{}</p>", "a".repeat(6 * 1024 * 1024));
    let deep = format!("{}deep{}", "<div>".repeat(5_000), "</div>".repeat(5_000));
    let site = Site::serve(vec![
        (
            "/",
            Page::html(
                r#"<main><h1>Index</h1><p>Links.</p><a href="/huge">h</a><a href="/deep">d</a></main>"#,
            ),
        ),
        ("/huge", Page::html(&huge)),
        ("/deep", Page::html(&deep)),
    ])
    .await;
    for server in crawling_servers().await {
        let source = synced(
            &server,
            json!({"type": "url-crawl", "name": "Site", "seedUrls": [site.url("/")]}),
        )
        .await;
        assert_eq!(source["status"], "ready", "{source}");
        assert_eq!(source["pagesIndexed"], 1);
        assert!(error_for(&source, &site.url("/huge")).contains("larger than 5 MiB"));
        assert!(error_for(&source, &site.url("/deep")).contains("nests elements"));
        server.finish().await;
    }
}

#[tokio::test]
async fn a_source_with_a_refresh_rate_syncs_again_when_due() {
    let site = Site::serve(vec![(
        "/",
        article("Prices", "<p>The basic plan costs 10 euros a month.</p>"),
    )])
    .await;
    for server in crawling_servers().await {
        let source = synced(
            &server,
            json!({"type": "url-crawl", "name": "Site", "seedUrls": [site.url("/")], "refreshRate": "daily"}),
        )
        .await;
        assert_eq!(source["refreshRate"], "daily");
        let id = source["id"].as_str().unwrap();
        let first_sync = source["lastSyncedAt"].as_str().unwrap().to_string();
        site.set(
            "/",
            article("Prices", "<p>The basic plan costs 12 euros a month.</p>"),
        );
        // A day passes, as far as the schedule can tell.
        let workspace = workspace(&server, id).await;
        let row = knowledge_sources::get(&server.db, &workspace, id)
            .await
            .unwrap()
            .unwrap();
        let due = row.next_sync_at.expect("a daily source has a next sync");
        let last = row.last_synced_at.unwrap();
        assert_eq!(due - last, chrono::TimeDelta::days(1));
        use sea_orm::{ActiveModelTrait, Set};
        let mut model: hoverbot_server::store::entity::knowledge_source::ActiveModel = row.into();
        model.next_sync_at = Set(Some(chrono::Utc::now() - chrono::TimeDelta::seconds(1)));
        model.update(&server.db).await.unwrap();

        eventually("the scheduled sync", || async {
            let (_, source) = server
                .send(Method::GET, &format!("/v1/knowledge-sources/{id}"), None)
                .await;
            (source["status"] == "ready" && source["lastSyncedAt"] != first_sync.as_str())
                .then_some(())
        })
        .await;
        let chunks = knowledge_sources::chunks(&server.db, &workspace, id)
            .await
            .unwrap();
        assert!(chunks[0].text.contains("12 euros"), "{}", chunks[0].text);
        server.finish().await;
    }
}

#[tokio::test]
async fn crawls_of_private_addresses_are_refused_unless_the_deployment_allows_them() {
    for server in TestServer::each().await {
        for (source, pointer) in [
            (
                json!({"type": "url-crawl", "name": "Metadata", "seedUrls": ["https://help.example.com/", "http://169.254.169.254/latest/meta-data/"]}),
                "/seedUrls/1",
            ),
            (
                json!({"type": "url-crawl", "name": "Local", "seedUrls": ["http://localhost:8080/"]}),
                "/seedUrls/0",
            ),
            (
                json!({"type": "sitemap", "name": "Private", "sitemapUrl": "http://10.0.0.7/sitemap.xml"}),
                "/sitemapUrl",
            ),
        ] {
            let response = server
                .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
                .json(&source)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "url_not_allowed",
            )
            .await;
            assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
        }
        let (_, list) = server
            .send(Method::GET, "/v1/knowledge-sources", None)
            .await;
        assert_eq!(list["data"], json!([]), "nothing was created");
        server.finish().await;
    }
}
