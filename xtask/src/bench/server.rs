//! The servers under load: the release `hoverbot` in a child process on a fresh SQLite database, and
//! the baseline, a bare poem JSON endpoint on its own runtime in this process (as is any other
//! endpoint the benchmarks serve, such as a site to crawl).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use poem::listener::{Acceptor, Listener};
use poem::web::Json;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead};
use tokio::process::Child;
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout, timeout_at};

use super::load::{Connection, Target};
use crate::project;

/// How long the server gets to print its key and become ready.
const STARTUP: Duration = Duration::from_secs(30);

/// The name of the baseline server's threads (for their CPU time).
pub const BASELINE_THREADS: &str = "bench-baseline";

/// Builds `package` with the release profile and returns the path of its binary `binary`.
pub fn build(package: &str, binary: &str) -> Result<PathBuf> {
    build_target(package, &["--bin", binary], binary)
}

/// Builds the targets `selection` (`--bin x`, `--bench y`) of `package` with the release profile
/// and returns the path of the executable of target `name`.
pub fn build_target(package: &str, selection: &[&str], name: &str) -> Result<PathBuf> {
    let binary = name;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut child = Command::new(cargo)
        .current_dir(project::root())
        .args(["build", "--release", "--package", package])
        .args(selection)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let stdout = child.stdout.take().context("cargo's stdout is not piped")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let message: Value = serde_json::from_str(&line?)?;
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == binary {
            executable = message["executable"].as_str().map(PathBuf::from);
        }
    }
    if !child.wait()?.success() {
        bail!("`cargo build --release --package {package}` failed");
    }
    executable.with_context(|| format!("cargo built no `{binary}` binary"))
}

/// Builds the `hoverbot` binary of commit `rev` from a worktree, in a target directory of its own,
/// both in `bench-{name}` under the build's target directory (one per comparison, so that two
/// comparisons at different commits do not rebuild each other's). It must not share the current
/// tree's: cargo names a workspace crate's artifacts by its path in the workspace, so two trees'
/// builds would take each other's crates for fresh. The first time, the current target's release artifacts are copied in,
/// so that only the workspace's crates are compiled again.
pub fn build_at(rev: &str, name: &str) -> Result<PathBuf> {
    let root = project::root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let dir = target.join(format!("bench-{name}"));
    let tree = dir.join("tree");
    let its_target = dir.join("target");
    let run = |program: &str, args: &[&str], dir: &Path| -> Result<()> {
        let status = Command::new(program).current_dir(dir).args(args).status()?;
        ensure!(status.success(), "`{program} {}` failed", args.join(" "));
        Ok(())
    };
    if tree.join(".git").exists() {
        run("git", &["checkout", "--quiet", "--detach", rev], &tree)?;
    } else {
        std::fs::create_dir_all(&dir)?;
        run("git", &["worktree", "prune"], &root)?;
        let path = tree.to_str().context("the worktree's path is not UTF-8")?;
        run(
            "git",
            &["worktree", "add", "--quiet", "--detach", path, rev],
            &root,
        )?;
    }
    if !its_target.exists() && target.join("release").exists() {
        std::fs::create_dir_all(&its_target)?;
        let from = target.join("release");
        let from = from.to_str().context("the target's path is not UTF-8")?;
        run("cp", &["-a", from, "."], &its_target)?;
    }
    eprintln!("bench: building the server of {rev}, for the {name} figures");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .current_dir(&tree)
        .env("CARGO_TARGET_DIR", &its_target)
        .args([
            "build",
            "--release",
            "--package",
            "hoverbot-server",
            "--bin",
            "hoverbot",
        ])
        .status()?;
    ensure!(status.success(), "the server of {rev} does not build");
    Ok(its_target.join("release/hoverbot"))
}

/// The API of a server under test, over one keep-alive connection, with its admin key.
pub struct Api {
    addr: SocketAddr,
    /// `Bearer` and the admin key, for targets of the load generator too.
    pub auth: HeaderValue,
    connection: Connection,
}

impl Api {
    pub async fn open(hoverbot: &Hoverbot) -> Result<Self> {
        Ok(Self {
            addr: hoverbot.addr,
            auth: HeaderValue::try_from(format!("Bearer {}", hoverbot.key))?,
            connection: Connection::open(hoverbot.addr).await?,
        })
    }

    /// Sends `method path` with the JSON `body`; the JSON answer, or an error unless it is a 2xx.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body.map(|body| Bytes::from(body.to_string()));
        let target = Target::new(self.addr, method, path, body).with_auth(self.auth.clone());
        let (status, body) = self.connection.send(&target).await?;
        ensure!(
            status.is_success(),
            "{} answered {status}: {}",
            target.describe(),
            String::from_utf8_lossy(&body)
        );
        Ok(serde_json::from_slice(&body)?)
    }

    /// A new conversation's id.
    pub async fn conversation(&mut self) -> Result<String> {
        let created = self
            .call(
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web", "externalUserId": "bench"})),
            )
            .await?;
        Ok(created["id"]
            .as_str()
            .context("the conversation has no id")?
            .to_string())
    }
}

/// `hoverbot serve` in a child process, killed when dropped.
pub struct Hoverbot {
    child: Child,
    pub addr: SocketAddr,
    /// The admin key it printed on first start.
    pub key: String,
    data_dir: PathBuf,
}

impl Hoverbot {
    /// Starts `binary` on a free loopback port with a fresh data directory (named after `name`)
    /// and the settings `env`, and waits until it is ready.
    pub async fn start(binary: &Path, name: &str, env: &[(&str, &str)]) -> Result<Self> {
        let data_dir =
            std::env::temp_dir().join(format!("hoverbot-bench-{}-{name}", std::process::id()));
        if data_dir.exists() {
            std::fs::remove_dir_all(&data_dir)?;
        }
        std::fs::create_dir_all(&data_dir)?;
        let addr = free_port()?;
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data_dir.join("server.log"))?)
            .kill_on_drop(true);
        // Settings from the environment would change what is measured (another database, say).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HOVERBOT_") {
                command.env_remove(name);
            }
        }
        // The rate limit guards a workspace against its clients; here it would measure itself.
        command
            .env("HOVERBOT_RATE_LIMIT_PER_MINUTE", "1000000000")
            .env("HOVERBOT_RATE_LIMIT_BURST", "1000000000")
            .envs(env.iter().copied());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            child,
            addr,
            key: String::new(),
            data_dir,
        };
        let deadline = Instant::now() + STARTUP;
        let stdout = server.child.stdout.take().context("stdout is not piped")?;
        server.key = match timeout_at(deadline.into(), admin_key(stdout)).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(server.failure("closed its stdout without printing a key")),
            Err(_) => return Err(server.failure("printed no admin key")),
        };
        server.wait_until_ready(deadline).await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self, deadline: Instant) -> Result<()> {
        let readyz = Target::new(self.addr, Method::GET, "/readyz", None);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.failure(&format!("exited ({status})")));
            }
            let attempt = async {
                let mut connection = Connection::open(self.addr).await?;
                connection.send(&readyz).await
            };
            if let Ok(Ok((status, _))) = timeout(Duration::from_secs(1), attempt).await
                && status.is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("was not ready within {STARTUP:?}")));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its data directory, for the server's own commands (`workspaces`, `keys`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process's id, for its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await.context("cannot stop the server")
    }

    fn failure(&self, what: &str) -> anyhow::Error {
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        anyhow::anyhow!("the server {what}; its log ends:\n{}", tail.join("\n"))
    }
}

impl Drop for Hoverbot {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Reads stdout up to the line with the admin key, then drains the rest in the background (a
/// closed pipe would fail the server's next print).
async fn admin_key(stdout: impl AsyncRead + Unpin + Send + 'static) -> Option<String> {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(key) = find_key(&line) {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some(key);
        }
    }
    None
}

/// The first `hb_live_[A-Za-z0-9_-]+` in `text`.
fn find_key(text: &str) -> Option<String> {
    let start = text.find("hb_live_")?;
    let key: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (key.len() > "hb_live_".len()).then_some(key)
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?)
}

#[poem::handler]
fn baseline() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "baseline" }))
}

/// The baseline: a bare poem JSON endpoint on a runtime of its own (as many threads as the
/// server's).
pub fn baseline_server() -> Result<Background> {
    Background::serve(baseline, BASELINE_THREADS)
}

/// A poem endpoint served on a free loopback port by a runtime of its own (its threads named
/// `threads`), stopped when dropped.
pub struct Background {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<std::io::Result<()>>>,
}

/// A runtime whose threads are named `threads` (for their CPU time). Its idle blocking threads
/// are kept: one that ended during a run would take its CPU time out of the threads' sum.
pub fn runtime(threads: &str) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_name(threads)
        .thread_keep_alive(Duration::from_secs(24 * 60 * 60))
        .enable_all()
        .build()?)
}

impl Background {
    pub fn serve(endpoint: impl poem::Endpoint + 'static, threads: &str) -> Result<Self> {
        Self::serve_on(runtime(threads)?, endpoint, threads)
    }

    /// Serves `endpoint` on `runtime`, which may already run tasks it needs (connections to a
    /// database, say).
    pub fn serve_on(
        runtime: tokio::runtime::Runtime,
        endpoint: impl poem::Endpoint + 'static,
        threads: &str,
    ) -> Result<Self> {
        let acceptor =
            runtime.block_on(poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor())?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .context("the listener has no address")?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(threads.to_string())
            .spawn(move || {
                runtime.block_on(
                    poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                        endpoint,
                        async {
                            let _ = signal.await;
                        },
                        Some(Duration::from_secs(1)),
                    ),
                )
            })?;
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_key;

    #[test]
    fn finds_the_key_in_the_first_start_paragraph() {
        let line = "    hb_live_AbC-12_x\n";
        assert_eq!(find_key(line).as_deref(), Some("hb_live_AbC-12_x"));
        assert_eq!(find_key("hb_live_ alone"), None);
        assert_eq!(find_key("no key here"), None);
    }
}
