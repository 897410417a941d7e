//! The operator's command line on a deployment's database: the database flags go before or after
//! the subcommand, workspaces and keys are listed and revoked, and mistakes say what is wrong.

use reqwest::{Method, StatusCode};

use crate::support::TestServer;

/// Runs `hoverbot ARGS` (`ARGS` says where the database is): success, stdout lines, stderr.
async fn hoverbot(args: &[&str]) -> (bool, Vec<String>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
        .args(args)
        .env_remove("HOVERBOT_DATA_DIR")
        .env_remove("HOVERBOT_DATABASE_URL")
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

#[tokio::test]
async fn workspaces_and_keys_are_listed_and_revoked_with_the_database_flag_anywhere() {
    for server in TestServer::each().await {
        let url = server.database_url();
        let name = format!("acme-{}", ulid::Ulid::new());
        // The flag before the subcommand, and after it.
        let (ok, created, err) =
            hoverbot(&["--database-url", url, "workspaces", "create", &name]).await;
        assert!(ok, "{err}");
        let (ok, listed, err) = hoverbot(&["workspaces", "list", "--database-url", url]).await;
        assert!(ok, "{err}");
        let line = listed
            .iter()
            .find(|line| line.contains(&name))
            .expect("the new workspace is listed");
        assert!(
            line.starts_with(&format!("{}\t{name}\t", created[0])),
            "{line}"
        );

        let (ok, secret, err) = hoverbot(&[
            "keys",
            "create",
            "--workspace",
            &name,
            "--scopes",
            "conversations:read",
            "--name",
            "sync",
            "--database-url",
            url,
        ])
        .await;
        assert!(ok, "{err}");
        let secret = &secret[0];
        let (ok, keys, err) =
            hoverbot(&["--database-url", url, "keys", "list", "--workspace", &name]).await;
        assert!(ok, "{err}");
        assert_eq!(keys.len(), 1, "{keys:?}");
        let fields: Vec<&str> = keys[0].split('\t').collect();
        assert_eq!(fields[1], "sync");
        assert_eq!(fields[3], "conversations:read");
        assert!(
            !keys[0].contains(secret.as_str()),
            "a list never shows a secret"
        );

        let (ok, _, err) = hoverbot(&[
            "keys",
            "revoke",
            fields[0],
            "--workspace",
            &name,
            "--database-url",
            url,
        ])
        .await;
        assert!(ok, "{err}");
        let (status, _) = server
            .send_as(secret, Method::GET, "/v1/conversations", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key is refused");
        let (_, keys, _) =
            hoverbot(&["--database-url", url, "keys", "list", "--workspace", &name]).await;
        assert!(keys.is_empty(), "{keys:?}");
        let (ok, _, err) = hoverbot(&[
            "keys",
            "revoke",
            fields[0],
            "--workspace",
            &name,
            "--database-url",
            url,
        ])
        .await;
        assert!(!ok);
        assert!(err.contains("has no live key"), "{err}");
        server.finish().await;
    }
}

#[tokio::test]
async fn mistakes_say_what_is_wrong() {
    for server in TestServer::each().await {
        let url = server.database_url();
        let create = async |scopes: &str| {
            hoverbot(&[
                "--database-url",
                url,
                "keys",
                "create",
                "--workspace",
                "test",
                "--scopes",
                scopes,
            ])
            .await
        };
        let (ok, _, err) = create("all,foo").await;
        assert!(!ok);
        assert!(err.contains("`all` stands alone"), "{err}");
        let (ok, _, err) = create("conversations:read,foo").await;
        assert!(!ok);
        assert!(err.contains("`foo` is not a scope"), "{err}");
        assert!(
            err.contains("assistant:manage"),
            "the scopes are listed: {err}"
        );

        let (ok, _, err) = hoverbot(&[
            "--database-url",
            url,
            "keys",
            "list",
            "--workspace",
            "nobody-has-this-name",
        ])
        .await;
        assert!(!ok);
        assert!(
            err.contains(
                "no workspace has the id or name `nobody-has-this-name` in the database at"
            ),
            "the error names the database searched: {err}"
        );
        server.finish().await;
    }
}
