//! The `hoverbot` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides};
use crate::limits::Limit;
use crate::oauth::apps;
use crate::store::{self, Db, api_keys, oauth_apps, operator_keys, workspaces};
use hoverbot_api::Scope;

#[derive(Parser)]
#[command(
    name = "hoverbot",
    version,
    about = "HoverBot: a self-hostable API for AI customer-support and lead-qualification assistants.",
    long_about = "HoverBot: a self-hostable API for AI customer-support and lead-qualification assistants.\n\n\
        Start with `hoverbot serve`: it creates an embedded SQLite database in ./data, prints an admin API key \
        on first start, and serves the API on http://127.0.0.1:8080 (Swagger UI at /docs).\n\n\
        Settings come from built-in defaults, then the --config file, then HOVERBOT_* environment variables \
        (HOVERBOT_LISTEN, HOVERBOT_DATA_DIR, HOVERBOT_DATABASE_URL, ...), then flags."
)]
struct Cli {
    /// A TOML configuration file; its keys are listed in docs/operations.md.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (migrates the database first).
    Serve(ServeArgs),
    /// Deliver webhooks and sync knowledge sources without serving the API (for deployments that
    /// run workers apart, with `serve --no-worker` on the API replicas). Any number may run on one
    /// database.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// The retrieval index each server derives from the knowledge chunks in the database.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Manage workspaces (tenants).
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register OAuth 2.0 marketplace apps, which workspaces then install (platform operators).
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Manage operator keys, for the API's operator operations (`/v1/oauth-apps`).
    #[command(subcommand)]
    OperatorKeys(OperatorKeysCommand),
    /// Print the OpenAPI document (the spec; with --router, what the router implements).
    Openapi {
        /// Print the document poem-openapi derives from the router instead (for the drift check).
        #[arg(long)]
        router: bool,
    },
}

/// Where the database is: accepted before or after the subcommand.
#[derive(Args)]
struct DatabaseArgs {
    /// Directory of the embedded SQLite database [env: HOVERBOT_DATA_DIR] [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A postgres:// or sqlite: URL; replaces the embedded database [env: HOVERBOT_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [env: HOVERBOT_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log as `text` or `json` [env: HOVERBOT_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
    /// Serve HTTPS with this PEM certificate chain (reloaded on SIGHUP or when the file changes)
    /// [env: HOVERBOT_TLS_CERT].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert [env: HOVERBOT_TLS_KEY].
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Run behind a proxy that terminates TLS: listen on any address, take the client address from
    /// X-Forwarded-For, and refuse /v1 requests not received over HTTPS [env: HOVERBOT_TRUST_PROXY].
    #[arg(long)]
    trust_proxy: bool,
    /// Do not deliver webhooks or sync knowledge sources from this process; run `hoverbot worker`
    /// elsewhere [env: HOVERBOT_WEBHOOK_WORKER=false, HOVERBOT_KNOWLEDGE_SYNCER=false].
    #[arg(long)]
    no_worker: bool,
    /// Load the bundled demo help center (an imaginary shop's articles on shipping, returns,
    /// payments and accounts) into the `default` workspace, to try the assistant at once.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Rebuild the index from the database: builds it here (to check every chunk indexes), then
    /// makes every running server rebuild its own within 2 seconds.
    Rebuild,
}

#[derive(Subcommand)]
enum WorkspacesCommand {
    /// Create a workspace; prints its id.
    Create { name: String },
    /// List the workspaces: id, name, creation time and rate limit, one a line.
    List,
    /// Give a workspace's tokens their own rate limit (a plan), or the deployment's back.
    /// Servers apply it within 10 seconds.
    SetRateLimit {
        /// The workspace's id or name.
        workspace: String,
        /// Sustained requests a minute per token.
        #[arg(long, required_unless_present = "default", requires = "burst")]
        per_minute: Option<u32>,
        /// Requests a token may send at once (GCRA burst capacity; equal to --per-minute gives
        /// the 2x burst of the published plan).
        #[arg(long, requires = "per_minute")]
        burst: Option<u32>,
        /// Go back to the deployment's rate limit.
        #[arg(long, conflicts_with_all = ["per_minute", "burst"])]
        default: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key; prints the secret (shown once) alone on stdout.
    Create {
        /// The workspace's id or name.
        #[arg(long)]
        workspace: String,
        /// `all`, or comma-separated scopes (conversations:read, conversations:write,
        /// conversations:delete, knowledge:read, knowledge:write, escalations:read,
        /// escalations:write, webhooks:manage, keys:manage, assistant:manage).
        #[arg(long)]
        scopes: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a workspace's live keys (never their secrets): id, name, prefix, scopes, creation
    /// and last use, one a line.
    List {
        /// The workspace's id or name.
        #[arg(long)]
        workspace: String,
    },
    /// Revoke a workspace's key. Servers refuse it within 10 seconds (at once on the server that
    /// revokes a key through the API).
    Revoke {
        /// The workspace's id or name.
        #[arg(long)]
        workspace: String,
        /// The key's id (`key_…`).
        key: String,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Register an app; prints its client id and, for a confidential app, its client secret
    /// (shown once), each alone on a line of stdout.
    Create {
        /// The app's name, shown to workspace admins on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI, matched exactly (repeat for several): https, http to 127.0.0.1 or
        /// [::1], or for a public app a private-use scheme such as com.example.app:/callback.
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// `all` (every scope but keys:manage, which apps cannot hold), or the comma-separated
        /// scopes the app may ask for.
        #[arg(long)]
        scopes: String,
        /// A public app (in a browser or on a device) has no client secret and relies on PKCE.
        #[arg(long)]
        public: bool,
    },
    /// List the registered apps (never their secrets).
    List,
    /// Revoke an app: it can no longer be authorized.
    Revoke {
        /// The app's client id (`app_…`).
        app: String,
    },
}

#[derive(Subcommand)]
enum OperatorKeysCommand {
    /// Create an operator key; prints its secret (shown once) alone on stdout.
    Create {
        /// What the key is for, to tell keys apart.
        #[arg(long)]
        name: String,
    },
    /// List the live operator keys (never their secrets).
    List,
    /// Revoke an operator key.
    Revoke {
        /// The key's id (`opk_…`).
        key: String,
    },
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected `text` or `json`".to_string()),
    }
}

/// Parses `all` or a comma-separated list of scopes.
pub fn parse_scopes(value: &str) -> Result<Vec<Scope>> {
    if value.trim() == "all" {
        return Ok(Scope::ALL.to_vec());
    }
    let known = || {
        Scope::ALL
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut scopes = Vec::new();
    for name in value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if name == "all" {
            bail!(
                "`all` stands alone: give `all`, or a comma-separated list of scopes ({})",
                known()
            );
        }
        let scope: Scope = name.parse().map_err(|_| {
            anyhow::anyhow!(
                "`{name}` is not a scope; the scopes are {}, or `all`",
                known()
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        bail!("give at least one scope, or `all`");
    }
    Ok(scopes)
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn overrides(database: &DatabaseArgs) -> Overrides {
    Overrides {
        data_dir: database.data_dir.clone(),
        database_url: database.database_url.clone(),
        ..Overrides::default()
    }
}

/// Opens the database, creating it if need be, and applies pending migrations: for `serve` and
/// `migrate`, the commands that may make a new database.
async fn open(config: &Config) -> Result<Db> {
    let db = store::connect(&config.database_url()).await?;
    store::migrate(&db).await?;
    Ok(db)
}

/// Opens a database that must exist already: a command run from the wrong directory, or without
/// the server's `--data-dir`, says so instead of making an empty database and finding nothing.
async fn open_existing(config: &Config) -> Result<Db> {
    let url = config.database_url();
    if let Some(file) = store::sqlite_file(&url)
        && !std::path::Path::new(file).exists()
    {
        bail!(
            "there is no database at {file}: give the server's --data-dir or --database-url, or \
             create it with `hoverbot migrate` (or `hoverbot serve`) first"
        );
    }
    open(config).await
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let overrides = Overrides {
                listen: args.listen,
                log_format: args.log_format,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                trust_proxy: args.trust_proxy.then_some(true),
                webhook_worker: args.no_worker.then_some(false),
                knowledge_syncer: args.no_worker.then_some(false),
                ..overrides(&cli.database)
            };
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            init_logging(config.log_format);
            serve(&config, args.demo).await
        }
        Command::Worker => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            init_logging(config.log_format);
            let db = open_existing(&config).await?;
            let services = crate::server::Services::new(&db, &config)?;
            let worker = services.worker(db.clone());
            let syncer = services.syncer(db);
            tracing::info!("HoverBot worker started: webhook deliveries and knowledge syncs");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let delivering = tokio::spawn(worker.run(async {
                let _ = stopped.await;
            }));
            tokio::select! {
                () = syncer.run() => {}
                () = crate::server::shutdown_signal() => {
                    tracing::info!("shutting down: finishing the webhook attempts in flight");
                }
            }
            let _ = stop.send(());
            delivering.await?;
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            open(&config).await?;
            eprintln!(
                "migrations applied to {}",
                store::redact(&config.database_url())
            );
            Ok(())
        }
        Command::Index(IndexCommand::Rebuild) => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            let started = std::time::Instant::now();
            let index = std::sync::Arc::new(crate::knowledge::index::KnowledgeIndex::new(
                config.embedder()?,
            )?);
            let sources = crate::knowledge::index::catch_up(&db, &index).await?;
            let generation = store::knowledge_index::request_rebuild(&db).await?;
            eprintln!(
                "indexed {} chunks of {sources} sources in {} ms; running servers rebuild their \
                 index within 2 s (generation {generation})",
                index.chunk_count(),
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Command::Workspaces(WorkspacesCommand::List) => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            for workspace in workspaces::list(&db).await? {
                let limit = workspaces::rate_limit(&workspace).map_or_else(
                    || "deployment rate limit".to_string(),
                    |limit| format!("{}/min, bursts of {}", limit.per_minute, limit.burst),
                );
                println!(
                    "{}\t{}\t{}\t{limit}",
                    workspace.id,
                    workspace.name,
                    workspace.created_at.to_rfc3339()
                );
            }
            Ok(())
        }
        Command::Workspaces(WorkspacesCommand::Create { name }) => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            println!("{}", workspaces::create(&db, &name).await?.id);
            Ok(())
        }
        Command::Workspaces(WorkspacesCommand::SetRateLimit {
            workspace,
            per_minute,
            burst,
            default: _,
        }) => {
            let limit = match (per_minute, burst) {
                (Some(0), _) | (_, Some(0)) => bail!("--per-minute and --burst must be at least 1"),
                (Some(per_minute), Some(burst)) => Some(Limit { per_minute, burst }),
                _ => None,
            };
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            let found = find_workspace(&db, &config, &workspace).await?;
            workspaces::set_rate_limit(&db, &found, limit).await?;
            match limit {
                Some(limit) => eprintln!(
                    "{workspace}: {} requests a minute per token, bursts of {}",
                    limit.per_minute, limit.burst
                ),
                None => eprintln!("{workspace}: the deployment's rate limit"),
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Create {
            workspace,
            scopes,
            name,
        }) => {
            let scopes = parse_scopes(&scopes)?;
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            let workspace = find_workspace(&db, &config, &workspace).await?;
            let created = api_keys::create(&db, &workspace, &name, &scopes, None)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            println!("{}", created.secret);
            Ok(())
        }
        Command::Keys(KeysCommand::List { workspace }) => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            let found = find_workspace(&db, &config, &workspace).await?;
            let mut cursor = None;
            loop {
                let page = api_keys::list(&db, &found, 100, cursor.as_deref())
                    .await
                    .map_err(|err| anyhow::anyhow!("{err}"))?;
                for key in &page.items {
                    println!(
                        "{}\t{}\t{}…\t{}\t{}\t{}",
                        key.id,
                        key.name,
                        key.prefix,
                        key.scopes.replace(' ', ","),
                        key.created_at.to_rfc3339(),
                        key.last_used_at
                            .map_or("never used".to_string(), |at| format!(
                                "used {}",
                                at.to_rfc3339()
                            ))
                    );
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Revoke { workspace, key }) => {
            let config = Config::load(cli.config.as_deref(), &overrides(&cli.database))?;
            let db = open_existing(&config).await?;
            let found = find_workspace(&db, &config, &workspace).await?;
            if !api_keys::revoke(&db, &found, &key)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?
            {
                bail!("the workspace `{workspace}` has no live key `{key}`");
            }
            eprintln!("revoked {key}");
            Ok(())
        }
        Command::Apps(command) => apps(cli.config.as_deref(), &cli.database, command).await,
        Command::OperatorKeys(command) => {
            operator_keys(cli.config.as_deref(), &cli.database, command).await
        }
        Command::Openapi { router } => {
            if router {
                // The router's document needs a router, and a router needs handlers; an in-memory
                // database makes them without touching the deployment's.
                let db = store::connect("sqlite::memory:").await?;
                let config = Config {
                    // Nothing is sealed here: any key will do.
                    secret_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()),
                    ..Config::default()
                };
                let services = crate::server::Services::new(&db, &config)?;
                let service = hoverbot_api::service(services.api(db, &config)?);
                println!("{}", service.spec());
            } else {
                print!("{}", hoverbot_api::SPEC_YAML);
            }
            Ok(())
        }
    }
}

/// The workspace with this id or name, or an error that says which database was searched.
async fn find_workspace(
    db: &Db,
    config: &Config,
    id_or_name: &str,
) -> Result<store::tenant::WorkspaceId> {
    workspaces::find(db, id_or_name).await?.with_context(|| {
        format!(
            "no workspace has the id or name `{id_or_name}` in the database at {} \
             (`hoverbot workspaces list` shows those it has)",
            store::redact(&config.database_url())
        )
    })
}

async fn serve(config: &Config, demo: bool) -> Result<()> {
    let db = open(config).await?;
    let admin_key = bootstrap(&db).await?;
    if let Some(key) = &admin_key {
        // Before the server answers: whoever waits for it to be ready finds the key printed.
        println!(
            "Created the workspace `default` and its admin API key (all scopes). It is shown only \
             this once:\n\n    {key}\n"
        );
    }
    if demo {
        crate::demo::load(&db).await?;
    }
    let running = crate::server::start(db, config).await?;
    let scheme = if running.tls { "https" } else { "http" };
    let base = format!("{scheme}://{}", running.addr);
    tracing::info!("HoverBot listening on {base} (Swagger UI at /docs)");
    if let Some(key) = admin_key {
        println!("{}", next_steps(&key, &base, config, demo));
    }
    running.run_until_signal().await
}

/// What the first start suggests once the server answers, with commands that work as typed (this
/// program's path as it was run, and the database it was run on).
fn next_steps(key: &str, base: &str, config: &Config, demo: bool) -> String {
    let program = std::env::args()
        .next()
        .filter(|program| program.contains('/'))
        .unwrap_or_else(|| "hoverbot".to_string());
    let database = match &config.database_url {
        // A password is not repeated on the screen: the operator knows where it is.
        Some(url) if store::redact(url) != *url => " --database-url URL".to_string(),
        Some(url) => format!(" --database-url {url}"),
        None if config.data_dir != Config::default().data_dir => {
            format!(" --data-dir {}", config.data_dir.display())
        }
        None => String::new(),
    };
    let knowledge = if demo {
        "The demo help center is loaded: ask it about shipping, returns or payments"
    } else {
        "Give the assistant something to answer from: POST /v1/knowledge-sources (or restart \
         with --demo for a sample help center)"
    };
    format!(
        "Next:\n\
         - Try the API in Swagger UI at {base}/docs (Authorize, then paste the key), or with\n  \
           curl -H \"Authorization: Bearer {key}\" {base}/v1/conversations\n\
         - {knowledge}.\n\
         - Make more keys: {program}{database} keys create --workspace default --scopes all|<scope,...>\n"
    )
}

/// On first start, a `default` workspace and an admin key, returned to be printed once.
async fn bootstrap(db: &Db) -> Result<Option<String>> {
    if workspaces::count(db).await? > 0 {
        return Ok(None);
    }
    let workspace = match workspaces::create(db, "default").await {
        Ok(workspace) => workspace,
        // Another replica started at the same moment and did it.
        Err(_) if workspaces::count(db).await? > 0 => return Ok(None),
        Err(err) => return Err(err),
    };
    let workspace = workspaces::find(db, &workspace.id)
        .await?
        .context("the new workspace vanished")?;
    let created = api_keys::create(db, &workspace, "admin", Scope::ALL, None)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(Some(created.secret))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Colours only for a person at a terminal: in a file or the journal they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn apps(
    config_file: Option<&std::path::Path>,
    database: &DatabaseArgs,
    command: AppsCommand,
) -> Result<()> {
    match command {
        AppsCommand::Create {
            name,
            redirect_uris,
            scopes,
            public,
        } => {
            // `all`, for an app, is every scope an app may be granted.
            let mut scopes = parse_scopes(&scopes)?;
            if scopes == Scope::ALL {
                scopes.retain(|scope| *scope != Scope::KeysManage);
            }
            let registration = apps::check(&name, &redirect_uris, &scopes, !public)
                .map_err(|invalid| anyhow::anyhow!("{invalid}"))?;
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            let created = oauth_apps::create(&db, &registration)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            println!("{}", created.app.id);
            match created.secret {
                Some(secret) => {
                    println!("{secret}");
                    eprintln!(
                        "registered `{}`: its client id, then its client secret, which is not \
                         shown again",
                        created.app.name
                    );
                }
                None => eprintln!(
                    "registered `{}`, a public app: its client id (it authenticates with PKCE \
                     alone)",
                    created.app.name
                ),
            }
            Ok(())
        }
        AppsCommand::List => {
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            for app in oauth_apps::list(&db).await? {
                let redirect_uris: Vec<String> = serde_json::from_str(&app.redirect_uris)?;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    app.id,
                    app.name,
                    if app.confidential {
                        "confidential"
                    } else {
                        "public"
                    },
                    app.scopes.replace(' ', ","),
                    redirect_uris.join(" "),
                    app.revoked_at.map_or("live".to_string(), |at| format!(
                        "revoked {}",
                        at.to_rfc3339()
                    ))
                );
            }
            Ok(())
        }
        AppsCommand::Revoke { app } => {
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            if !oauth_apps::revoke(&db, &app).await? {
                bail!("no live app has the client id `{app}`");
            }
            eprintln!("revoked {app}");
            Ok(())
        }
    }
}

async fn operator_keys(
    config_file: Option<&std::path::Path>,
    database: &DatabaseArgs,
    command: OperatorKeysCommand,
) -> Result<()> {
    match command {
        OperatorKeysCommand::Create { name } => {
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            let (key, secret) = operator_keys::create(&db, &name).await?;
            println!("{secret}");
            eprintln!(
                "created operator key {} (`{name}`); its secret is not shown again",
                key.id
            );
            Ok(())
        }
        OperatorKeysCommand::List => {
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            for key in operator_keys::list(&db).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.id,
                    key.name,
                    key.prefix,
                    key.created_at.to_rfc3339()
                );
            }
            Ok(())
        }
        OperatorKeysCommand::Revoke { key } => {
            let config = Config::load(config_file, &overrides(database))?;
            let db = open_existing(&config).await?;
            if !operator_keys::revoke(&db, &key).await? {
                bail!("no live operator key has the id `{key}`");
            }
            eprintln!("revoked {key}");
            Ok(())
        }
    }
}
