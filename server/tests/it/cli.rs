//! The operator's command line on a deployment's database: the database flags go before or after
//! the subcommand, workspaces and keys are listed and revoked, and mistakes say what is wrong.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, hoverbot_cli};

#[tokio::test]
async fn workspaces_and_keys_are_listed_and_revoked_with_the_database_flag_anywhere() {
    for server in TestServer::each().await {
        let url = server.database_url();
        let name = format!("acme-{}", ulid::Ulid::new());
        // The flag before the subcommand, and after it.
        let (ok, created, err) =
            hoverbot_cli(&["--database-url", url, "workspaces", "create", &name]).await;
        assert!(ok, "{err}");
        let (ok, listed, err) = hoverbot_cli(&["workspaces", "list", "--database-url", url]).await;
        assert!(ok, "{err}");
        let line = listed
            .iter()
            .find(|line| line.contains(&name))
            .expect("the new workspace is listed");
        assert!(
            line.starts_with(&format!("{}\t{name}\t", created[0])),
            "{line}"
        );

        let (ok, secret, err) = hoverbot_cli(&[
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
        let list = async || {
            hoverbot_cli(&["--database-url", url, "keys", "list", "--workspace", &name]).await
        };
        let (ok, keys, err) = list().await;
        assert!(ok, "{err}");
        assert_eq!(keys.len(), 1, "{keys:?}");
        let fields: Vec<&str> = keys[0].split('\t').collect();
        assert_eq!(fields[1], "sync");
        assert_eq!(fields[3], "conversations:read");
        assert!(
            !keys[0].contains(secret.as_str()),
            "a list never shows a secret"
        );

        let revoke = async || {
            hoverbot_cli(&[
                "keys",
                "revoke",
                fields[0],
                "--workspace",
                &name,
                "--database-url",
                url,
            ])
            .await
        };
        let (ok, _, err) = revoke().await;
        assert!(ok, "{err}");
        let (status, _) = server
            .send_as(secret, Method::GET, "/v1/conversations", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key is refused");
        let (_, keys, _) = list().await;
        assert!(keys.is_empty(), "{keys:?}");
        let (ok, _, err) = revoke().await;
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
            hoverbot_cli(&[
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

        // A command run without the server's data directory makes no database of its own.
        let elsewhere = std::env::temp_dir().join(format!("hoverbot-none-{}", ulid::Ulid::new()));
        let (ok, _, err) = hoverbot_cli(&[
            "keys",
            "list",
            "--workspace",
            "default",
            "--data-dir",
            elsewhere.to_str().unwrap(),
        ])
        .await;
        assert!(!ok);
        assert!(err.contains("there is no database at"), "{err}");
        assert!(!elsewhere.exists(), "no database was made");

        let (ok, _, err) = hoverbot_cli(&[
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

#[tokio::test]
async fn the_first_start_prints_the_key_once_and_next_steps_that_work_as_typed() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = std::env::temp_dir().join(format!("hoverbot-first-{}", ulid::Ulid::new()));
    let data = dir.join("elsewhere");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("HOVERBOT_DATA_DIR")
        .env_remove("HOVERBOT_DATABASE_URL")
        .env("HOVERBOT_SECRET_KEY", crate::support::SECRET_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut printed = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.starts_with("- Make more keys:");
            printed.push(line);
            if last {
                return printed;
            }
        }
        panic!("the server stopped printing: {printed:#?}");
    })
    .await
    .expect("the first start prints its guidance within a minute");
    let text = printed.join("\n");
    let key = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("hb_live_"))
        .map(|rest| format!("hb_live_{rest}"))
        .expect("the key, alone on its line");
    assert!(text.contains("/docs"), "{text}");
    assert!(
        text.contains(&format!(
            "curl -H \"Authorization: Bearer {key}\" http://127.0.0.1:"
        )),
        "{text}"
    );

    // The hint names this program and this database: typed as printed, it makes a key there.
    let hint = printed.last().unwrap();
    let command = hint
        .strip_prefix("- Make more keys: ")
        .unwrap()
        .replace("all|<scope,...>", "conversations:read");
    let words: Vec<&str> = command.split_whitespace().collect();
    let output = tokio::process::Command::new(words[0])
        .args(&words[1..])
        .env_remove("HOVERBOT_DATA_DIR")
        .env_remove("HOVERBOT_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "`{command}`: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("hb_live_"));
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
