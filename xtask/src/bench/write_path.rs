//! The write path's figures, in one run: keyed `POST /v1/conversations` on the server as built and
//! on the binary of an earlier commit (`--before REV`, built from a `git worktree`), and messages a
//! second when every answer waits one second for a language model, a chat-completions endpoint
//! served here, with the deployment's `llm_concurrency` and with a lower one, which shows what
//! bounds the rate: that setting, not the database.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use poem::EndpointExt;
use poem::listener::{Acceptor, Listener};
use poem::web::{Data, Json};
use serde_json::{Value, json};

use super::cpu::Threads;
use super::load::{self, IdempotencyKeys, Load, Outcome, Pace, Probes, Target};
use super::server::{Api, Hoverbot};
use super::{LOAD_THREADS, Options, WARM_UP};

/// How long the model takes to answer each message.
pub const MODEL_DELAY: Duration = Duration::from_secs(1);
/// The lower `llm_concurrency` of the second messages run.
pub const LOW_CONCURRENCY: usize = 8;
/// Conversations the messages go to, in turn: more than the connections, so that two connections
/// seldom wait for each other's turn in one conversation.
const CONVERSATIONS: usize = 64;
const QUESTION: &str = r#"{"text":"How long does a refund take?"}"#;

/// Keyed `POST`s of one binary.
pub struct Posts {
    pub label: String,
    pub rounds: Vec<Outcome>,
}

/// Messages answered through the slow model.
pub struct Messages {
    pub llm_concurrency: usize,
    pub rounds: Vec<Outcome>,
    /// Calls the model got, and the most it had at once.
    pub model_calls: u64,
    pub most_in_flight: u64,
}

pub struct Figures {
    pub posts: Vec<Posts>,
    pub messages: Vec<Messages>,
}

pub async fn measure(
    binary: &Path,
    before: Option<(&str, &Path)>,
    options: &Options,
) -> Result<Figures> {
    let load = Load {
        connections: options.concurrency,
        warm_up: WARM_UP,
        duration: Duration::from_secs(options.seconds),
        pace: Pace::Closed,
    };
    let mut servers = vec![("this build".to_string(), binary)];
    if let Some((rev, before)) = before {
        servers.push((format!("before ({rev})"), before));
    }
    let mut posts = Vec::new();
    for (index, (label, binary)) in servers.iter().enumerate() {
        let hoverbot = Hoverbot::start(binary, &format!("posts-{index}"), &[]).await?;
        posts.push((label.clone(), hoverbot));
    }
    let mut measured: Vec<Posts> = posts
        .iter()
        .map(|(label, _)| Posts {
            label: label.clone(),
            rounds: Vec::new(),
        })
        .collect();
    // Rounds interleave the binaries, so a noisy moment spreads over both.
    for round in 1..=options.repeat {
        for ((_, hoverbot), figures) in posts.iter().zip(&mut measured) {
            let auth = HeaderValue::try_from(format!("Bearer {}", hoverbot.key))?;
            let target = Target::new(
                hoverbot.addr,
                Method::POST,
                "/v1/conversations",
                Some(Bytes::from_static(
                    br#"{"channel":"web","externalUserId":"bench"}"#,
                )),
            )
            .with_auth(auth)
            .with_idempotency_keys(IdempotencyKeys::new(&format!("write-{round}")));
            let outcome = load::run(Arc::new(target), load, &probes(hoverbot)?).await?;
            eprintln!(
                "bench: round {round}/{}: keyed POST, {}: {:.0} req/s, p99 {:.2} ms",
                options.repeat,
                figures.label,
                outcome.per_second,
                outcome.p99.as_secs_f64() * 1e3
            );
            figures.rounds.push(outcome);
        }
    }
    for (_, hoverbot) in posts {
        hoverbot.stop().await?;
    }

    let mut messages = Vec::new();
    for concurrency in [None, Some(LOW_CONCURRENCY)] {
        messages.push(measure_messages(binary, concurrency, load, options.repeat).await?);
    }
    Ok(Figures {
        posts: measured,
        messages,
    })
}

fn probes(hoverbot: &Hoverbot) -> Result<Probes> {
    Ok(Probes {
        server: Threads::of_process(hoverbot.pid().context("the server has exited")?),
        client: Threads::named(LOAD_THREADS),
    })
}

/// What the model endpoint counts.
#[derive(Default)]
struct Model {
    calls: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
}

/// A chat-completions endpoint that answers every question after [`MODEL_DELAY`], citing the
/// first passage.
#[poem::handler]
async fn completions(Json(request): Json<Value>, Data(model): Data<&Arc<Model>>) -> Json<Value> {
    model.calls.fetch_add(1, Ordering::Relaxed);
    let now = model.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    model.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(MODEL_DELAY).await;
    model.in_flight.fetch_sub(1, Ordering::SeqCst);
    Json(json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Refunds reach your account within 5 business days [1]."},
            "finish_reason": "stop"
        }]
    }))
}

async fn measure_messages(
    binary: &Path,
    concurrency: Option<usize>,
    load: Load,
    repeat: usize,
) -> Result<Messages> {
    let model = Arc::new(Model::default());
    // Served on the load generator's runtime: it only sleeps, so its CPU is next to nothing.
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .context("the model's listener has no address")?;
    let endpoint = tokio::spawn(
        poem::Server::new_with_acceptor(acceptor).run(
            poem::Route::new()
                .at("/v1/chat/completions", poem::post(completions))
                .data(model.clone()),
        ),
    );
    let base_url = format!("http://{addr}/v1");
    let concurrency_setting = concurrency.map(|n| n.to_string());
    let mut env = vec![
        ("HOVERBOT_LLM_BASE_URL", base_url.as_str()),
        ("HOVERBOT_LLM_MODEL", "bench-model"),
        ("HOVERBOT_LLM_TIMEOUT_MS", "30000"),
    ];
    if let Some(setting) = &concurrency_setting {
        env.push(("HOVERBOT_LLM_CONCURRENCY", setting));
    }
    let hoverbot = Hoverbot::start(binary, "messages", &env).await?;
    let mut api = Api::open(&hoverbot).await?;
    let conversations = seed_knowledge(&mut api).await?;
    let requests = conversations
        .iter()
        .map(|id| {
            (
                format!("/v1/conversations/{id}/messages"),
                Some(Bytes::from_static(QUESTION.as_bytes())),
            )
        })
        .collect();
    let target = Arc::new(
        Target::rotating(hoverbot.addr, Method::POST, requests).with_auth(api.auth.clone()),
    );
    let calls_before = model.calls.load(Ordering::Relaxed);
    model.most_in_flight.store(0, Ordering::SeqCst);
    let mut rounds = Vec::new();
    let setting = concurrency.map_or_else(|| "default".to_string(), |n| n.to_string());
    for round in 1..=repeat {
        let outcome = load::run(target.clone(), load, &probes(&hoverbot)?).await?;
        eprintln!(
            "bench: round {round}/{repeat}: messages with a {MODEL_DELAY:?} model, \
             llm_concurrency {setting}: {:.1} messages/s, p99 {:.0} ms",
            outcome.per_second,
            outcome.p99.as_secs_f64() * 1e3
        );
        rounds.push(outcome);
    }
    hoverbot.stop().await?;
    endpoint.abort();
    Ok(Messages {
        llm_concurrency: concurrency.unwrap_or(0),
        rounds,
        model_calls: model.calls.load(Ordering::Relaxed) - calls_before,
        most_in_flight: model.most_in_flight.load(Ordering::SeqCst),
    })
}

/// Gives the workspace a help center to answer from, waits until a question is answered by the
/// model, and returns [`CONVERSATIONS`] new conversations.
async fn seed_knowledge(api: &mut Api) -> Result<Vec<String>> {
    api.call(
        Method::POST,
        "/v1/knowledge-sources",
        Some(json!({"type": "text", "name": "Help center", "documents": [
            {"title": "Refunds", "url": "https://help.example.com/refunds",
             "body": "Refunds are paid to the original payment method. A refund takes up to 5 business days to reach your account once the return is received."},
            {"title": "Shipping", "url": "https://help.example.com/shipping",
             "body": "Orders ship within 2 business days. Standard delivery takes 3 to 5 business days."},
        ]})),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let id = api.conversation().await?;
        let exchange = api
            .call(
                Method::POST,
                &format!("/v1/conversations/{id}/messages"),
                Some(serde_json::from_str(QUESTION)?),
            )
            .await?;
        if exchange["trace"]["modelTier"] == "llm" {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the knowledge was not answered by the model within a minute: {exchange}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    for _ in 0..CONVERSATIONS {
        conversations.push(api.conversation().await?);
    }
    Ok(conversations)
}
