//! The platform operator registers marketplace apps, with `hoverbot apps` or through the API with
//! an operator key (`hoverbot operator-keys`). A confidential app's client secret is shown once and
//! kept only as its hash; redirect URIs are checked before anything is stored.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

use crate::support::{TestServer, assert_problem, assert_schema, hoverbot_cli};

/// Runs `hoverbot apps ARGS` on the server's database: success, stdout lines, stderr.
async fn apps(server: &TestServer, args: &[&str]) -> (bool, Vec<String>, String) {
    hoverbot(server, "apps", args).await
}

/// Runs `hoverbot COMMAND ARGS` on the server's database: success, stdout lines, stderr.
async fn hoverbot(
    server: &TestServer,
    command: &str,
    args: &[&str],
) -> (bool, Vec<String>, String) {
    let mut all = vec![command];
    all.extend_from_slice(args);
    all.extend(["--database-url", server.database_url()]);
    hoverbot_cli(&all).await
}

/// The stored row of app `id`, its text columns joined, as an operator could read it.
async fn stored(server: &TestServer, id: &str) -> String {
    let backend = server.db.get_database_backend();
    let placeholder = match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let row = server
        .db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT name, redirect_uris, scopes, secret_prefix, secret_hash FROM oauth_apps \
                 WHERE id = {placeholder}"
            ),
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no app {id}"));
    [
        "name",
        "redirect_uris",
        "scopes",
        "secret_prefix",
        "secret_hash",
    ]
    .iter()
    .map(|column| {
        row.try_get::<Option<String>>("", column)
            .unwrap()
            .unwrap_or_default()
    })
    .collect::<Vec<_>>()
    .join(" | ")
}

#[tokio::test]
async fn an_app_is_registered_with_a_secret_shown_once_and_kept_as_a_hash() {
    for server in TestServer::each().await {
        let (ok, out, err) = apps(
            &server,
            &[
                "create",
                "--name",
                "Acme CRM connector",
                "--redirect-uri",
                "https://crm.acme.example/oauth/callback",
                "--redirect-uri",
                "http://127.0.0.1:8123/callback",
                "--scopes",
                "conversations:read,escalations:write",
            ],
        )
        .await;
        assert!(ok, "{err}");
        let [id, secret] = &out[..] else {
            panic!("expected the client id and secret, got {out:?}")
        };
        assert!(id.starts_with("app_"), "{id}");
        assert!(
            secret.starts_with("hb_cs_") && secret.len() == 6 + 43,
            "{secret}"
        );

        let row = stored(&server, id).await;
        assert!(!row.contains(secret.as_str()), "{row}");
        assert!(
            row.contains(&hoverbot_server::secrets::hash(secret)),
            "{row}"
        );
        assert!(
            row.contains("conversations:read escalations:write"),
            "{row}"
        );

        let (ok, listed, err) = apps(&server, &["list"]).await;
        assert!(ok, "{err}");
        let line = listed
            .iter()
            .find(|line| line.starts_with(id.as_str()))
            .unwrap();
        assert!(line.contains("Acme CRM connector\tconfidential"), "{line}");
        assert!(line.ends_with("\tlive"), "{line}");
        assert!(!listed.join("\n").contains(secret.as_str()));

        let (ok, _, err) = apps(&server, &["revoke", id]).await;
        assert!(ok, "{err}");
        let (_, listed, _) = apps(&server, &["list"]).await;
        let line = listed
            .iter()
            .find(|line| line.starts_with(id.as_str()))
            .unwrap();
        assert!(line.contains("\trevoked "), "{line}");
        let (ok, _, err) = apps(&server, &["revoke", id]).await;
        assert!(!ok && err.contains("no live app"), "{err}");
        server.finish().await;
    }
}

#[tokio::test]
async fn a_public_app_has_no_secret_and_bad_registrations_store_nothing() {
    for server in TestServer::each().await {
        let (ok, out, err) = apps(
            &server,
            &[
                "create",
                "--name",
                "Acme mobile",
                "--redirect-uri",
                "com.acme.crm:/oauth",
                "--scopes",
                "all",
                "--public",
            ],
        )
        .await;
        assert!(ok, "{err}");
        assert_eq!(out.len(), 1, "{out:?}");
        let row = stored(&server, &out[0]).await;
        assert!(row.ends_with("|  | "), "{row}");

        for (uri, scopes, complaint) in [
            ("http://crm.acme.example/cb", "all", "loopback"),
            ("https://crm.acme.example/cb#x", "all", "fragment"),
            ("com.acme.crm:/oauth", "all", "scheme"),
            (
                "https://crm.acme.example/cb",
                "conversations:fly",
                "not a scope",
            ),
        ] {
            let (ok, out, err) = apps(
                &server,
                &[
                    "create",
                    "--name",
                    "Bad",
                    "--redirect-uri",
                    uri,
                    "--scopes",
                    scopes,
                ],
            )
            .await;
            assert!(!ok && out.is_empty(), "{uri}: {out:?}");
            assert!(err.contains(complaint), "{uri}: {err}");
        }
        let (_, listed, _) = apps(&server, &["list"]).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_operator_registers_lists_and_revokes_apps_through_the_api() {
    for server in TestServer::each().await {
        let (ok, out, err) = hoverbot(&server, "operator-keys", &["create", "--name", "ci"]).await;
        assert!(ok, "{err}");
        let operator = out[0].clone();
        assert!(operator.starts_with("hb_op_"), "{operator}");
        let send = async |key: &str, method: Method, path: &str, body: Option<Value>| {
            server.send_as(key, method, path, body).await
        };

        let (status, created) = send(
            &operator,
            Method::POST,
            "/v1/oauth-apps",
            Some(json!({
                "name": "Acme CRM connector",
                "redirectUris": ["https://crm.acme.example/oauth/callback"],
                "scopes": ["conversations:read"],
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_schema("OauthAppWithSecret", &created);
        let id = created["id"].as_str().unwrap();
        let secret = created["clientSecret"].as_str().unwrap();
        assert!(secret.starts_with(created["clientSecretPrefix"].as_str().unwrap()));
        assert_eq!(created["public"], false);
        assert!(!stored(&server, id).await.contains(secret));

        let (status, public) = send(
            &operator,
            Method::POST,
            "/v1/oauth-apps",
            Some(json!({
                "name": "Acme mobile",
                "redirectUris": ["com.acme.crm:/oauth"],
                "scopes": ["conversations:read"],
                "public": true,
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{public}");
        assert_eq!(public["clientSecret"], Value::Null);

        let (status, listed) = send(&operator, Method::GET, "/v1/oauth-apps", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_schema("OauthAppList", &listed);
        assert_eq!(listed["data"].as_array().unwrap().len(), 2);
        assert!(!listed.to_string().contains(secret));

        // A redirect URI the authorization endpoint could not trust, or keys:manage (apps may not
        // hold it): 422 at the field, nothing stored.
        for (redirect_uri, scope, pointer) in [
            (
                "http://crm.acme.example/cb",
                "conversations:read",
                "/redirectUris",
            ),
            ("https://crm.acme.example/cb", "keys:manage", "/scopes"),
        ] {
            let response = server
                .request(Method::POST, "/v1/oauth-apps", Some(&operator))
                .json(&json!({
                    "name": "Bad",
                    "redirectUris": [redirect_uri],
                    "scopes": [scope],
                }))
                .send()
                .await
                .unwrap();
            let problem = assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_registration",
            )
            .await;
            assert_eq!(problem["errors"][0]["pointer"], pointer);
        }

        // Workspace tokens are not operator keys, and operator keys act for no workspace.
        let (status, _) = send(&server.key.clone(), Method::GET, "/v1/oauth-apps", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = send(&operator, Method::GET, "/v1/conversations", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, _) = send(
            &operator,
            Method::DELETE,
            &format!("/v1/oauth-apps/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = send(
            &operator,
            Method::DELETE,
            &format!("/v1/oauth-apps/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, listed) = send(&operator, Method::GET, "/v1/oauth-apps", None).await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);

        // A revoked operator key opens nothing.
        let (_, keys, _) = hoverbot(&server, "operator-keys", &["list"]).await;
        let key_id = keys[0].split('\t').next().unwrap().to_string();
        let (ok, _, err) = hoverbot(&server, "operator-keys", &["revoke", &key_id]).await;
        assert!(ok, "{err}");
        let (status, _) = send(&operator, Method::GET, "/v1/oauth-apps", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        server.finish().await;
    }
}
