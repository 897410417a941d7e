//! Deployment configuration, in layers: built-in defaults, then an optional TOML file, then
//! `HOVERBOT_*` environment variables, then command-line flags; validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// Where the embedded SQLite database lives (when no `database_url` is given).
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; overrides `data_dir`.
    pub database_url: Option<String>,
    /// The largest request body accepted, in bytes (larger ones get 413).
    pub max_body_bytes: usize,
    /// Log lines as `text` or `json`.
    pub log_format: LogFormat,
    /// Sustained requests a minute per token.
    pub rate_limit_per_minute: u32,
    /// How many requests a token may send at once (GCRA burst capacity); 600 gives the published
    /// 2x burst: 1,200 requests in the first minute from idle.
    pub rate_limit_burst: u32,
    /// Whether `/v1` requests are rate limited at all; off only where a gateway in front limits.
    pub rate_limit_enabled: bool,
    /// A PEM certificate chain; with `tls_key`, the server speaks HTTPS itself.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Behind a TLS-terminating proxy: take the client address from `X-Forwarded-For`, and refuse
    /// `/v1` requests the proxy did not receive over HTTPS (`X-Forwarded-Proto`).
    pub trust_proxy: bool,
    /// Seconds a client has to send a request's headers (and an idle keep-alive connection lives).
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    pub body_read_timeout_secs: u64,
    /// Seconds a client may take in nothing of a response before its connection is dropped.
    pub write_timeout_secs: u64,
    /// Most header fields in a request.
    pub max_headers: usize,
    /// Most bytes of request line and headers.
    pub max_header_bytes: usize,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// The delay of each webhook delivery attempt after the previous one (`s`, `m`, `h`); none is
    /// made later than 24 h after the first.
    pub webhook_retry_schedule: String,
    /// Whether `serve` runs a webhook delivery worker; off when workers run apart
    /// (`hoverbot worker`).
    pub webhook_worker: bool,
    /// Let webhook receivers (and crawls) reach loopback, private and link-local addresses.
    pub allow_private_networks: bool,
    /// The deployment's secret key (base64 of 32 bytes), which seals the secrets the server must
    /// use again, such as webhook signing secrets. Every replica needs the same one.
    pub secret_key: Option<String>,
    /// Where the secret key is kept when `secret_key` is not given: by default `secret.key` in the
    /// data directory, created on first start.
    pub secret_key_file: Option<PathBuf>,
    /// The address clients reach the API at (`https://api.example.com`), which links the server
    /// hands out (transcript links in webhook events) start with; by default the listen address.
    pub public_url: Option<String>,
    /// The lead score (1 to 100) at which a conversation qualifies as a sales lead, for
    /// workspaces that did not choose their own.
    pub lead_qualification_threshold: i32,
    /// Whether `serve` runs a knowledge syncer (crawls and indexes sources); off when syncers run
    /// apart (`hoverbot worker`).
    pub knowledge_syncer: bool,
    /// Pages a knowledge crawl fetches at once.
    pub crawl_concurrency: usize,
    /// The most requests a second a crawl sends to one host (robots.txt `Crawl-delay` may ask for
    /// fewer).
    pub crawl_host_requests_per_second: u32,
    /// A directory holding another sentence-embedding model (`model.safetensors` with a 2-D
    /// `embeddings` table, and its `tokenizer.json`) to use instead of the built-in
    /// potion-base-8M. Chunks embedded by another model are embedded again as they are indexed.
    pub embedding_model_dir: Option<PathBuf>,
    /// An OpenAI-compatible chat-completions API (`https://api.openai.com/v1`, or a model served
    /// locally) that phrases the assistant's answers; without it answers are extractive only.
    pub llm_base_url: Option<String>,
    /// The model the chat-completions API is asked for; required with `llm_base_url`.
    pub llm_model: Option<String>,
    /// The Bearer key of the chat-completions API, if it wants one.
    pub llm_api_key: Option<String>,
    /// Milliseconds the language model gets to answer before the extractive answer is given.
    pub llm_timeout_ms: u64,
    /// The most calls to the language model in flight at once in this process; more wait for a
    /// slot, within `llm_timeout_ms`.
    pub llm_concurrency: usize,
    /// How long an OAuth access token lives, in seconds.
    pub oauth_access_token_ttl_secs: u32,
    /// How many days a family of rotating refresh tokens lives after the approval it comes from.
    pub oauth_refresh_family_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            max_body_bytes: 1024 * 1024,
            log_format: LogFormat::Text,
            rate_limit_per_minute: 600,
            rate_limit_burst: 600,
            rate_limit_enabled: true,
            tls_cert: None,
            tls_key: None,
            trust_proxy: false,
            header_read_timeout_secs: 30,
            body_read_timeout_secs: 60,
            write_timeout_secs: 30,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
            webhook_retry_schedule: crate::webhooks::schedule::DEFAULT.to_string(),
            webhook_worker: true,
            allow_private_networks: false,
            secret_key: None,
            secret_key_file: None,
            public_url: None,
            lead_qualification_threshold: 70,
            knowledge_syncer: true,
            crawl_concurrency: 4,
            crawl_host_requests_per_second: 10,
            embedding_model_dir: None,
            llm_base_url: None,
            llm_model: None,
            llm_api_key: None,
            llm_timeout_ms: 8_000,
            llm_concurrency: 64,
            oauth_access_token_ttl_secs: 3_600,
            oauth_refresh_family_days: 365,
        }
    }
}

/// The configuration keys, as in files and (upper-cased, `HOVERBOT_`-prefixed) the environment.
const KEYS: [&str; 35] = [
    "listen",
    "data_dir",
    "database_url",
    "max_body_bytes",
    "log_format",
    "rate_limit_per_minute",
    "rate_limit_burst",
    "rate_limit_enabled",
    "tls_cert",
    "tls_key",
    "trust_proxy",
    "header_read_timeout_secs",
    "body_read_timeout_secs",
    "write_timeout_secs",
    "max_headers",
    "max_header_bytes",
    "max_connections",
    "webhook_retry_schedule",
    "webhook_worker",
    "allow_private_networks",
    "secret_key",
    "secret_key_file",
    "public_url",
    "lead_qualification_threshold",
    "knowledge_syncer",
    "crawl_concurrency",
    "crawl_host_requests_per_second",
    "embedding_model_dir",
    "llm_base_url",
    "llm_model",
    "llm_api_key",
    "llm_timeout_ms",
    "llm_concurrency",
    "oauth_access_token_ttl_secs",
    "oauth_refresh_family_days",
];

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_proxy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_worker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knowledge_syncer: Option<bool>,
}

impl Config {
    /// Loads the layers. `file` is the `--config` path, if any; `HOVERBOT_CONFIG` names one too.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HOVERBOT_CONFIG").map(PathBuf::from));
        if let Some(file) = &file {
            if !file.is_file() {
                bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // Only our own keys: HOVERBOT_API_KEY or HOVERBOT_URL in a client's shell are not ours.
            .merge(Env::prefixed("HOVERBOT_").only(&KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            bail!(
                "database_url must start with postgres://, postgresql:// or sqlite: (got `{url}`)"
            );
        }
        if self.rate_limit_per_minute == 0 || self.rate_limit_burst == 0 {
            bail!("rate_limit_per_minute and rate_limit_burst must be at least 1");
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            bail!("max_body_bytes must be between 1 KiB and 64 MiB");
        }
        if [
            self.header_read_timeout_secs,
            self.body_read_timeout_secs,
            self.write_timeout_secs,
        ]
        .iter()
        .any(|secs| !(1..=3600).contains(secs))
        {
            bail!(
                "header_read_timeout_secs, body_read_timeout_secs and write_timeout_secs must be \
                 between 1 and 3600"
            );
        }
        if !(1..=1000).contains(&self.max_headers) {
            bail!("max_headers must be between 1 and 1000");
        }
        if !(8 * 1024..=1024 * 1024).contains(&self.max_header_bytes) {
            bail!("max_header_bytes must be between 8 KiB and 1 MiB");
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            bail!("max_connections must be between 1 and 1000000");
        }
        self.webhook_delivery()?;
        if let Some(key) = &self.secret_key {
            crate::sealing::Sealer::from_base64(key)?;
        }
        self.public_url()?;
        if !(1..=100).contains(&self.lead_qualification_threshold) {
            bail!("lead_qualification_threshold must be between 1 and 100");
        }
        if !(1..=64).contains(&self.crawl_concurrency) {
            bail!("crawl_concurrency must be between 1 and 64");
        }
        if !(1..=1000).contains(&self.crawl_host_requests_per_second) {
            bail!("crawl_host_requests_per_second must be between 1 and 1000");
        }
        if !(100..=120_000).contains(&self.llm_timeout_ms) {
            bail!("llm_timeout_ms must be between 100 and 120000");
        }
        if !(1..=1024).contains(&self.llm_concurrency) {
            bail!("llm_concurrency must be between 1 and 1024");
        }
        if !(60..=86_400).contains(&self.oauth_access_token_ttl_secs) {
            bail!("oauth_access_token_ttl_secs must be between 60 and 86400");
        }
        if !(1..=3_650).contains(&self.oauth_refresh_family_days) {
            bail!("oauth_refresh_family_days must be between 1 and 3650");
        }
        self.language_model()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key go together: give both, or neither");
        }
        if self.tls_cert.is_none() && !self.trust_proxy && !self.listen.ip().is_loopback() {
            bail!(
                "refusing to serve plain HTTP on {}: the API requires TLS. Give --tls-cert and \
                 --tls-key, or --trust-proxy behind a proxy that terminates TLS, or listen on a \
                 loopback address",
                self.listen
            );
        }
        Ok(())
    }

    /// The TLS files, when the server terminates TLS itself.
    pub fn tls(&self) -> Option<crate::transport::tls::Files> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::transport::tls::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// What the deployment promises about webhook delivery.
    pub fn webhook_delivery(&self) -> Result<crate::webhooks::Delivery> {
        Ok(crate::webhooks::Delivery {
            schedule: self.webhook_retry_schedule.parse()?,
            allow_private_networks: self.allow_private_networks,
        })
    }

    /// The sealer of the deployment's secret key: `secret_key`, else the key file (created with a
    /// new key when it does not exist).
    pub fn sealer(&self) -> Result<crate::sealing::Sealer> {
        match &self.secret_key {
            Some(key) => crate::sealing::Sealer::from_base64(key),
            None => crate::sealing::Sealer::from_file(
                &self
                    .secret_key_file
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("secret.key")),
            ),
        }
    }

    /// The base of the links the server hands out: `public_url`, else the listen address.
    pub fn public_url(&self) -> Result<url::Url> {
        let Some(text) = &self.public_url else {
            let scheme = if self.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            return Ok(url::Url::parse(&format!("{scheme}://{}/", self.listen))?);
        };
        let url = url::Url::parse(text)
            .with_context(|| format!("public_url `{text}` is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            bail!(
                "public_url must be an http or https URL without credentials, query or fragment \
                 (got `{text}`)"
            );
        }
        Ok(url)
    }

    /// Which addresses the server may call.
    pub fn outbound_policy(&self) -> crate::outbound::Policy {
        crate::outbound::Policy {
            allow_private_networks: self.allow_private_networks,
        }
    }

    /// The sentence-embedding model: the one in `embedding_model_dir`, else the built-in one.
    pub fn embedder(&self) -> Result<std::sync::Arc<crate::embedding::Embedder>> {
        match &self.embedding_model_dir {
            Some(dir) => Ok(std::sync::Arc::new(crate::embedding::Embedder::from_dir(
                dir,
            )?)),
            None => Ok(crate::embedding::Embedder::default_model()),
        }
    }

    /// How hard knowledge crawls press on the sites they read.
    pub fn crawl_politeness(&self) -> crate::knowledge::crawl::Politeness {
        crate::knowledge::crawl::Politeness {
            concurrency: self.crawl_concurrency,
            host_interval: std::time::Duration::from_secs(1) / self.crawl_host_requests_per_second,
        }
    }

    /// The language model that phrases answers, when one is configured.
    pub fn language_model(&self) -> Result<Option<crate::assistant::llm::LanguageModel>> {
        match (&self.llm_base_url, &self.llm_model) {
            (Some(base_url), Some(model)) => Ok(Some(crate::assistant::llm::LanguageModel::new(
                base_url,
                model,
                self.llm_api_key.as_deref(),
                std::time::Duration::from_millis(self.llm_timeout_ms),
                self.llm_concurrency,
            )?)),
            (None, None) if self.llm_api_key.is_none() => Ok(None),
            _ => bail!("llm_base_url and llm_model go together (and llm_api_key needs them)"),
        }
    }

    /// The limits on each connection.
    pub fn connection_limits(&self) -> crate::transport::Limits {
        crate::transport::Limits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_secs),
            write_timeout: std::time::Duration::from_secs(self.write_timeout_secs),
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
        }
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("hoverbot.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins_over_defaults() {
        let overrides = Overrides {
            listen: Some("127.0.0.1:9999".parse().unwrap()),
            ..Default::default()
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert!(config.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn every_field_is_a_known_key() {
        let fields = serde_json::to_value(Config::default()).unwrap();
        let mut fields: Vec<&str> = fields
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn plain_http_is_served_on_loopback_only() {
        let public = Overrides {
            listen: Some("0.0.0.0:8080".parse().unwrap()),
            ..Default::default()
        };
        let err = Config::load(None, &public).unwrap_err();
        assert!(format!("{err:#}").contains("requires TLS"), "{err:#}");
        let behind_a_proxy = Overrides {
            trust_proxy: Some(true),
            ..public
        };
        assert!(Config::load(None, &behind_a_proxy).is_ok());
        let half_tls = Overrides {
            tls_cert: Some("cert.pem".into()),
            ..Default::default()
        };
        let err = Config::load(None, &half_tls).unwrap_err();
        assert!(format!("{err:#}").contains("go together"), "{err:#}");
    }

    #[test]
    fn rejects_a_retry_schedule_it_cannot_read() {
        let config = Config {
            webhook_retry_schedule: "5s,1d".to_string(),
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert!(
            format!("{err:#}").contains("`1d` has the unit `d`"),
            "{err:#}"
        );
    }

    #[test]
    fn rejects_a_secret_key_that_is_not_32_bytes() {
        let config = Config {
            secret_key: Some("c2hvcnQ=".to_string()),
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert!(format!("{err:#}").contains("32 bytes"), "{err:#}");
    }

    #[test]
    fn reads_the_public_url_and_refuses_what_cannot_start_a_link() {
        let config = Config::default();
        assert_eq!(
            config.public_url().unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        let behind_a_proxy = Config {
            public_url: Some("https://api.example.com/hoverbot".to_string()),
            ..Config::default()
        };
        assert_eq!(
            behind_a_proxy.public_url().unwrap().as_str(),
            "https://api.example.com/hoverbot"
        );
        for bad in [
            "api.example.com",
            "ftp://x.example",
            "https://x.example/?a=b",
        ] {
            let config = Config {
                public_url: Some(bad.to_string()),
                ..Config::default()
            };
            assert!(config.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_language_model_needs_its_url_and_model_together() {
        let config = |url: Option<&str>, model: Option<&str>, key: Option<&str>| Config {
            llm_base_url: url.map(str::to_string),
            llm_model: model.map(str::to_string),
            llm_api_key: key.map(str::to_string),
            ..Config::default()
        };
        assert!(config(None, None, None).language_model().unwrap().is_none());
        let both = config(Some("http://127.0.0.1:8000/v1"), Some("m"), Some("k"));
        assert!(both.validate().is_ok() && both.language_model().unwrap().is_some());
        for half in [
            config(Some("http://127.0.0.1:8000/v1"), None, None),
            config(None, Some("m"), None),
            config(None, None, Some("k")),
            config(Some("file:///etc/passwd"), Some("m"), None),
        ] {
            assert!(half.validate().is_err(), "{half:?}");
        }
    }

    #[test]
    fn refuses_a_lead_threshold_out_of_range() {
        for threshold in [0, 101] {
            let config = Config {
                lead_qualification_threshold: threshold,
                ..Config::default()
            };
            let err = config.validate().unwrap_err();
            assert!(format!("{err:#}").contains("between 1 and 100"), "{err:#}");
        }
    }

    #[test]
    fn rejects_a_bad_database_url() {
        let overrides = Overrides {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        let err = Config::load(None, &overrides).unwrap_err();
        assert!(format!("{err:#}").contains("database_url"));
    }
}
