//! OAuth installs end to end over HTTP: the consent page signed in with an admin key and approved
//! through its form (as a browser would post it), the code exchanged with PKCE, refresh rotation,
//! revocation, introspection, uninstalling, and every way a step can be misused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hoverbot_api::Scope;
use hoverbot_server::oauth::apps;
use hoverbot_server::store::oauth_apps;
use regex::Regex;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, Method, StatusCode, redirect};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{TestServer, assert_schema};

const REDIRECT_URI: &str = "https://crm.example.com/oauth/callback";

/// A registered app.
struct App {
    client_id: String,
    secret: Option<String>,
}

async fn register(server: &TestServer, scopes: &[Scope], confidential: bool) -> App {
    let registration = apps::check(
        "Acme CRM connector",
        &[REDIRECT_URI.to_string(), "http://127.0.0.1/cb".to_string()],
        scopes,
        confidential,
    )
    .unwrap();
    let created = oauth_apps::create(&server.db, &registration).await.unwrap();
    App {
        client_id: created.app.id,
        secret: created.secret,
    }
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A browser: follows no redirects (the test reads them) and keeps the consent cookie.
struct Browser<'a> {
    server: &'a TestServer,
    client: Client,
    cookie: Option<String>,
}

/// The query parameters of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn location(headers: &HeaderMap) -> String {
    headers
        .get(LOCATION)
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_string()
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let mut request = self.client.get(self.server.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.headers().clone(),
            response.text().await.unwrap(),
        )
    }

    async fn post(&self, form: &[(String, String)]) -> (StatusCode, HeaderMap, String) {
        let mut request = self
            .client
            .post(self.server.url("/oauth/authorize"))
            .header("origin", self.server.url(""))
            .form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.headers().clone(),
            response.text().await.unwrap(),
        )
    }

    /// Signs in on the page of `authorize` (a path with its query) with `key`; the consent page.
    async fn sign_in(&mut self, authorize: &str, key: &str) -> String {
        let (status, headers, page) = self.get(authorize).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(page.contains("Acme CRM connector"), "{page}");
        let mut form = hidden_fields(&page);
        assert!(form.contains(&("action".into(), "sign_in".into())));
        form.push(("api_key".into(), key.into()));
        let (status, headers, page) = self.post(&form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        let cookie = headers[SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        self.cookie = Some(cookie.split(';').next().unwrap().to_string());
        let (status, _, consent) = self.get(&format!("/oauth/{}", location(&headers))).await;
        assert_eq!(status, StatusCode::OK, "{consent}");
        consent
    }

    /// Approves on `consent`: where the browser is sent.
    async fn decide(&self, consent: &str, action: &str) -> String {
        let mut form = hidden_fields(consent);
        form.push(("action".into(), action.into()));
        let (status, headers, page) = self.post(&form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        location(&headers)
    }
}

/// The hidden fields of a page's form.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let field = Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)">"#).unwrap();
    field
        .captures_iter(page)
        .map(|found| (found[1].to_string(), unescape(&found[2])))
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&#43;", "+")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The path of an authorization request.
fn authorize_path(app: &App, challenge: &str, state: &str, scope: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(scope) = scope {
        query.append_pair("scope", scope);
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// A token-endpoint call as `app` authenticates (Basic for a confidential app).
async fn token(server: &TestServer, app: &App, form: &[(&str, &str)]) -> (StatusCode, Value) {
    oauth_post(server, "/oauth/token", app, form).await
}

async fn oauth_post(
    server: &TestServer,
    path: &str,
    app: &App,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut request = server.client.post(server.url(path));
    match &app.secret {
        Some(secret) => request = request.basic_auth(&app.client_id, Some(secret)),
        None => form.push(("client_id", &app.client_id)),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

/// Installs `app` in the test workspace with `scope`: the code and its verifier.
async fn approved_code(server: &TestServer, app: &App, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(server);
    let consent = browser
        .sign_in(
            &authorize_path(app, &challenge, "xyz-state", Some(scope)),
            &server.key,
        )
        .await;
    let back = browser.decide(&consent, "approve").await;
    assert!(back.starts_with(REDIRECT_URI), "{back}");
    let params = query(&back);
    assert_eq!(param(&params, "state"), Some("xyz-state"));
    assert_eq!(param(&params, "iss"), Some(server.url("").as_str()));
    (param(&params, "code").unwrap().to_string(), verifier)
}

/// A token request for `code`.
async fn redeem(
    server: &TestServer,
    app: &App,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> (StatusCode, Value) {
    token(
        server,
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect_uri),
        ],
    )
    .await
}

/// The tokens for `code`.
async fn exchange(server: &TestServer, app: &App, code: &str, verifier: &str) -> Value {
    let (status, tokens) = redeem(server, app, code, verifier, REDIRECT_URI).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn status_with(server: &TestServer, token: &str, method: Method, path: &str) -> StatusCode {
    server
        .request(method, path, Some(token))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_installed_app_acts_for_its_workspace_with_the_scopes_it_was_granted() {
    for server in TestServer::each().await {
        let app = register(
            &server,
            &[
                Scope::ConversationsRead,
                Scope::ConversationsWrite,
                Scope::EscalationsRead,
            ],
            true,
        )
        .await;
        // The consent page names the app, the workspace and each scope in words.
        let (_, challenge) = pkce();
        let mut browser = Browser::new(&server);
        let consent = browser
            .sign_in(
                &authorize_path(
                    &app,
                    &challenge,
                    "s1",
                    Some("conversations:read conversations:write"),
                ),
                &server.key,
            )
            .await;
        assert!(consent.contains("List conversations and read their transcripts."));
        assert!(consent.contains("crm.example.com"));
        assert!(!consent.contains("escalations:read"), "only what was asked");

        let (code, verifier) =
            approved_code(&server, &app, "conversations:read conversations:write").await;
        let tokens = exchange(&server, &app, &code, &verifier).await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        assert_eq!(tokens["scope"], "conversations:read conversations:write");
        let access = tokens["access_token"].as_str().unwrap();
        assert!(access.starts_with("hb_at_"));
        assert!(
            tokens["refresh_token"]
                .as_str()
                .unwrap()
                .starts_with("hb_rt_")
        );

        // The token works like an API key of the workspace, within its scopes.
        let (status, created) = server
            .send_as(
                access,
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let conversation = created["id"].as_str().unwrap();
        let response = server
            .request(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                Some(access),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("ratelimit-policy"));
        let (status, denied) = server
            .send_as(access, Method::GET, "/v1/api-keys", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
        assert_eq!(denied["code"], "forbidden");

        // Another workspace's resources are not there for it.
        let other = server
            .new_workspace_key(
                "other",
                &[Scope::ConversationsWrite, Scope::ConversationsRead],
            )
            .await;
        let (_, theirs) = server
            .send_as(
                &other,
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web"})),
            )
            .await;
        let theirs = theirs["id"].as_str().unwrap();
        assert_eq!(
            status_with(
                &server,
                access,
                Method::GET,
                &format!("/v1/conversations/{theirs}")
            )
            .await,
            StatusCode::NOT_FOUND
        );

        // The workspace sees the installation; introspection describes the token to its app.
        let (status, installed) = server.send(Method::GET, "/v1/installations", None).await;
        assert_eq!(status, StatusCode::OK, "{installed}");
        assert_schema("InstallationList", &installed);
        assert_eq!(installed["data"][0]["appId"], app.client_id.as_str());
        assert_eq!(installed["data"][0]["appName"], "Acme CRM connector");
        let (status, about) =
            oauth_post(&server, "/oauth/introspect", &app, &[("token", access)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(about["active"], true, "{about}");
        assert_eq!(about["client_id"], app.client_id.as_str());
        assert_eq!(about["sub"], installed["data"][0]["id"]);
        assert_eq!(about["scope"], "conversations:read conversations:write");
        // Another app learns nothing about this app's tokens.
        let other_app = register(&server, &[Scope::ConversationsRead], true).await;
        let (_, theirs) = oauth_post(
            &server,
            "/oauth/introspect",
            &other_app,
            &[("token", access)],
        )
        .await;
        assert_eq!(theirs, json!({"active": false}));

        // The metadata tells client libraries where everything is.
        let (status, metadata) = server
            .send(Method::GET, "/.well-known/oauth-authorization-server", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_schema("AuthorizationServerMetadata", &metadata);
        assert_eq!(metadata["issuer"], server.url("").as_str());
        assert_eq!(
            metadata["token_endpoint"],
            server.url("/oauth/token").as_str()
        );
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"])
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn an_installations_tokens_share_a_quota_of_their_own() {
    // One request a minute refills: within the test, each request spends exactly one.
    let servers = TestServer::each_configured(|config| {
        config.rate_limit_per_minute = 1;
        config.rate_limit_burst = 20;
    })
    .await;
    for server in servers {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let first = exchange(&server, &app, &code, &verifier).await;
        let remaining = async |token: &str| -> u64 {
            let response = server
                .request(Method::GET, "/v1/conversations", Some(token))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        let start = remaining(first["access_token"].as_str().unwrap()).await;
        // The workspace's API key has its own quota.
        for _ in 0..3 {
            remaining(&server.key).await;
        }
        assert_eq!(
            remaining(first["access_token"].as_str().unwrap()).await,
            start - 1
        );
        // A refreshed token does not start a fresh quota.
        let (status, second) = refresh(&server, &app, &first["refresh_token"], None).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(
            remaining(second["access_token"].as_str().unwrap()).await,
            start - 2
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn a_code_is_single_use_short_lived_and_bound_to_its_verifier_and_redirect_uri() {
    for server in TestServer::each().await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let invalid_grant = |(status, body): (StatusCode, Value)| {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        };

        // A wrong verifier spends the code.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let (wrong, _) = pkce();
        invalid_grant(redeem(&server, &app, &code, &wrong, REDIRECT_URI).await);
        invalid_grant(redeem(&server, &app, &code, &verifier, REDIRECT_URI).await);

        // Another redirect URI than the request's.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        invalid_grant(redeem(&server, &app, &code, &verifier, "http://127.0.0.1/cb").await);

        // A code used twice: the second use fails and revokes what the first one got.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let tokens = exchange(&server, &app, &code, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            status_with(&server, access, Method::GET, "/v1/conversations").await,
            StatusCode::OK
        );
        invalid_grant(redeem(&server, &app, &code, &verifier, REDIRECT_URI).await);
        assert_eq!(
            status_with(&server, access, Method::GET, "/v1/conversations").await,
            StatusCode::UNAUTHORIZED
        );

        // A code past its ten minutes.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        server
            .db
            .execute_unprepared(&format!(
                "UPDATE oauth_codes SET expires_at = created_at WHERE code_hash = '{}'",
                hoverbot_server::secrets::hash(&code)
            ))
            .await
            .unwrap();
        invalid_grant(redeem(&server, &app, &code, &verifier, REDIRECT_URI).await);

        // client_secret_post: the credentials in the form instead of the Authorization header.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let response = server
            .client
            .post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.secret.as_deref().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        // A redirect URI that is not registered is never redirected to.
        let (_, challenge) = pkce();
        let evil = authorize_path(&app, &challenge, "s", None)
            .replace("crm.example.com", "evil.example.com");
        let (status, headers, page) = Browser::new(&server).get(&evil).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!headers.contains_key(LOCATION));
        assert!(page.contains("is not a redirect URI registered"), "{page}");

        // Errors the app can hear about go back to it: no PKCE, or a scope it was not registered for.
        let no_pkce =
            authorize_path(&app, &challenge, "s2", None).replace("&code_challenge_method=S256", "");
        let (status, headers, _) = Browser::new(&server).get(&no_pkce).await;
        assert_eq!(status, StatusCode::FOUND);
        let params = query(&location(&headers));
        assert_eq!(param(&params, "error"), Some("invalid_request"));
        assert_eq!(param(&params, "state"), Some("s2"));
        let (_, headers, _) = Browser::new(&server)
            .get(&authorize_path(&app, &challenge, "s3", Some("keys:manage")))
            .await;
        assert_eq!(
            param(&query(&location(&headers)), "error"),
            Some("invalid_scope")
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    for server in TestServer::each().await {
        let app = register(
            &server,
            &[Scope::ConversationsRead, Scope::ConversationsWrite],
            false,
        )
        .await;
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let first = exchange(&server, &app, &code, &verifier).await;
        // Asking for more than was granted.
        let (status, body) = refresh(
            &server,
            &app,
            &first["refresh_token"],
            Some("conversations:write"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_scope");

        // Each use returns a new refresh token.
        let (status, second) = refresh(&server, &app, &first["refresh_token"], None).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(second["scope"], "conversations:read");
        let access = second["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            status_with(&server, &access, Method::GET, "/v1/conversations").await,
            StatusCode::OK
        );

        // The old one again: refused, and everything of the grant is revoked.
        let (status, body) = refresh(&server, &app, &first["refresh_token"], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(
            status_with(&server, &access, Method::GET, "/v1/conversations").await,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = refresh(&server, &app, &second["refresh_token"], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
        server.finish().await;
    }
}

#[tokio::test]
async fn of_two_refreshes_with_one_token_at_once_one_wins_and_the_grant_is_revoked() {
    for server in TestServer::each().await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let first = exchange(&server, &app, &code, &verifier).await;
        let token = &first["refresh_token"];
        let (a, b) = tokio::join!(
            refresh(&server, &app, token, None),
            refresh(&server, &app, token, None)
        );
        let statuses = [a.0, b.0];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::BAD_REQUEST),
            "{a:?} {b:?}"
        );
        let winner = if a.0 == StatusCode::OK { a.1 } else { b.1 };
        // The loser's use was a reuse: what the winner got is revoked with the rest.
        assert_eq!(
            status_with(
                &server,
                winner["access_token"].as_str().unwrap(),
                Method::GET,
                "/v1/conversations"
            )
            .await,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = refresh(&server, &app, &winner["refresh_token"], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_chain_of_refreshes_ends_a_year_after_the_approval() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    for server in TestServer::each().await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let first = exchange(&server, &app, &code, &verifier).await;
        let (status, second) = refresh(&server, &app, &first["refresh_token"], None).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        // The approval, as if given a year and a day ago (the default lifetime is 365 days).
        let backend = server.db.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => "UPDATE oauth_codes SET created_at = $1",
            _ => "UPDATE oauth_codes SET created_at = ?",
        };
        let approved = chrono::Utc::now() - chrono::Duration::days(366);
        server
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [approved.into()],
            ))
            .await
            .unwrap();
        let (status, body) = refresh(&server, &app, &second["refresh_token"], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("approve the app again"),
            "{body}"
        );
        server.finish().await;
    }
}

/// Sends refresh requests with a made-up token as `app` from the addresses `from` yields (behind
/// the trusted proxy), until one is refused for its rate; that refusal, or `None` within `most`.
async fn until_limited(
    server: &TestServer,
    app: &App,
    most: usize,
    from: impl Fn(usize) -> String,
) -> Option<reqwest::Response> {
    for sent in 0..most {
        let response = server
            .client
            .post(server.url("/oauth/token"))
            .basic_auth(&app.client_id, app.secret.as_deref())
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", from(sent))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "hb_rt_guess"),
            ])
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::TOO_MANY_REQUESTS => return Some(response),
            status => assert_eq!(status, StatusCode::BAD_REQUEST),
        }
    }
    None
}

async fn assert_told_to_wait(response: reqwest::Response, who: &str) {
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"].as_str().unwrap().contains(who),
        "{body}"
    );
}

#[tokio::test]
async fn the_oauth_endpoints_limit_each_address_and_each_app() {
    for server in TestServer::each_configured(|config| config.trust_proxy = true).await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let other = register(&server, &[Scope::ConversationsRead], true).await;
        // One address guessing: refused after its burst, while another address is not.
        let refused = until_limited(&server, &app, 1000, |_| "203.0.113.7".into())
            .await
            .expect("one address is limited");
        assert_told_to_wait(refused, "this address").await;
        assert!(
            until_limited(&server, &other, 1, |_| "203.0.113.8".into())
                .await
                .is_none()
        );
        // One app from many addresses: refused after the app's own burst.
        let refused = until_limited(&server, &app, 1000, |sent| {
            format!("198.51.{}.{}", sent / 250, sent % 250 + 1)
        })
        .await
        .expect("one app is limited");
        assert_told_to_wait(refused, "this app").await;
        // The authorization page says so to a browser, at the address's limit.
        let (_, challenge) = pkce();
        let authorize = authorize_path(&other, &challenge, "state", None);
        let mut last = StatusCode::OK;
        for _ in 0..1000 {
            last = server
                .client
                .get(server.url(&authorize))
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-for", "192.0.2.9")
                .send()
                .await
                .unwrap()
                .status();
            if last == StatusCode::TOO_MANY_REQUESTS {
                break;
            }
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
        server.finish().await;
    }
}

async fn refresh(
    server: &TestServer,
    app: &App,
    refresh_token: &Value,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str().unwrap()),
    ];
    form.extend(scope.map(|scope| ("scope", scope)));
    token(server, app, &form).await
}

#[tokio::test]
async fn revoked_and_uninstalled_tokens_stop_working() {
    for server in TestServer::each().await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;

        // Revoking an access token (RFC 7009); an unknown token is no error.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let tokens = exchange(&server, &app, &code, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            status_with(&server, access, Method::GET, "/v1/conversations").await,
            StatusCode::OK
        );
        let (status, _) = oauth_post(&server, "/oauth/revoke", &app, &[("token", access)]).await;
        assert_eq!(status, StatusCode::OK);
        let response = server
            .request(Method::GET, "/v1/conversations", Some(access))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        let (status, _) = oauth_post(
            &server,
            "/oauth/revoke",
            &app,
            &[("token", "hb_at_unknown")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, about) = oauth_post(&server, "/oauth/introspect", &app, &[("token", access)]).await;
        assert_eq!(about, json!({"active": false}));

        // Uninstalling stops every token of the installation at once, and the codes not yet
        // redeemed: installing again does not bring them back.
        let (pending, pending_verifier) = approved_code(&server, &app, "conversations:read").await;
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let tokens = exchange(&server, &app, &code, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();
        let (_, installed) = server.send(Method::GET, "/v1/installations", None).await;
        let installation = installed["data"][0]["id"].as_str().unwrap();
        let (status, _) = server
            .send(
                Method::DELETE,
                &format!("/v1/installations/{installation}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            status_with(&server, access, Method::GET, "/v1/conversations").await,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = token(
            &server,
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
        let (_, installed) = server.send(Method::GET, "/v1/installations", None).await;
        assert_eq!(installed["data"], json!([]));
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let (status, body) = redeem(&server, &app, &pending, &pending_verifier, REDIRECT_URI).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        exchange(&server, &app, &code, &verifier).await;
        let (_, installed) = server.send(Method::GET, "/v1/installations", None).await;
        let installation = installed["data"][0]["id"].as_str().unwrap().to_string();
        let (status, _) = server
            .send(
                Method::DELETE,
                &format!("/v1/installations/{installation}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server
            .send(
                Method::DELETE,
                &format!("/v1/installations/{installation}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // An access token past its hour.
        let (code, verifier) = approved_code(&server, &app, "conversations:read").await;
        let tokens = exchange(&server, &app, &code, &verifier).await;
        let access = tokens["access_token"].as_str().unwrap();
        server
            .db
            .execute_unprepared(&format!(
                "UPDATE oauth_tokens SET expires_at = created_at WHERE token_hash = '{}'",
                hoverbot_server::secrets::hash(access)
            ))
            .await
            .unwrap();
        assert_eq!(
            status_with(&server, access, Method::GET, "/v1/conversations").await,
            StatusCode::UNAUTHORIZED
        );

        // A grant type the server does not have.
        let (status, body) = token(&server, &app, &[("grant_type", "password")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "unsupported_grant_type");

        // A client that cannot authenticate is told so, with a challenge.
        let impostor = App {
            client_id: app.client_id.clone(),
            secret: Some("hb_cs_wrong".into()),
        };
        let response = server
            .client
            .post(server.url("/oauth/token"))
            .basic_auth(&impostor.client_id, impostor.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_consent_form_refuses_what_the_admin_did_not_send() {
    for server in TestServer::each().await {
        let app = register(&server, &[Scope::ConversationsRead], true).await;
        let (_, challenge) = pkce();
        let path = authorize_path(&app, &challenge, "st", None);

        // A key that may not manage keys cannot install anything.
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let browser = Browser::new(&server);
        let (_, _, page) = browser.get(&path).await;
        let mut form = hidden_fields(&page);
        form.push(("api_key".into(), reader));
        let (status, headers, page) = browser.post(&form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
        assert!(!headers.contains_key(SET_COOKIE));

        let mut browser = Browser::new(&server);
        let consent = browser.sign_in(&path, &server.key).await;
        let mut approve = hidden_fields(&consent);
        approve.push(("action".into(), "approve".into()));

        // Without the CSRF token, or with another one: refused, nothing installed.
        for forged in ["", "forged-token"] {
            let mut form: Vec<_> = approve
                .iter()
                .filter(|(name, _)| name != "csrf_token")
                .cloned()
                .collect();
            form.push(("csrf_token".into(), forged.into()));
            let (status, headers, _) = browser.post(&form).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(!headers.contains_key(LOCATION));
        }
        // From another site, even with the token.
        for (header, value) in [
            ("origin", "https://evil.example.com"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let response = browser
                .client
                .post(server.url("/oauth/authorize"))
                .header(header, value)
                .header("cookie", browser.cookie.clone().unwrap())
                .form(&approve)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{header}");
        }
        let (_, installed) = server.send(Method::GET, "/v1/installations", None).await;
        assert_eq!(installed["data"], json!([]));

        // Denying sends the app access_denied.
        let back = browser.decide(&consent, "deny").await;
        let params = query(&back);
        assert_eq!(param(&params, "error"), Some("access_denied"));
        assert_eq!(param(&params, "state"), Some("st"));
        assert_eq!(param(&params, "code"), None);
        server.finish().await;
    }
}
