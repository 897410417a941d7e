//! `hoverbot apps`: the platform operator registers marketplace apps. A confidential app's client
//! secret is printed once and kept only as its hash; redirect URIs are checked before anything is
//! stored.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::support::TestServer;

/// Runs `hoverbot apps ARGS` on the server's database: success, stdout lines, stderr.
async fn apps(server: &TestServer, args: &[&str]) -> (bool, Vec<String>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
        .arg("apps")
        .args(args)
        .args(["--database-url", server.database_url()])
        .env_remove("HOVERBOT_DATA_DIR")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (
        output.status.success(),
        stdout,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
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
            row.contains(&hoverbot_server::auth::secret::hash(secret)),
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
