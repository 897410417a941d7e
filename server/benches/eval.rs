//! The assistant's quality on the evaluation sets in `eval/`: each question goes through the real
//! pipeline in one process (a source synced by the syncer into a real SQLite database, the BM25
//! index caught up from it, retrieval checked against the database, the extractive composer) and
//! is scored:
//!
//! - **hit@1 / hit@5**: an answerable question's page is the first / among the first five hits;
//! - **fact**: the answer given contains the fact the page states (and was given at all);
//! - **cited**: the answer given cites a page that answers the question;
//! - **answered wrongly**: an answer given (above the threshold) that is not a cited answer holding
//!   the fact, to an answerable question or not: the costliest mistake;
//! - **AUROC**: how well the confidence separates answerable from unanswerable questions (the
//!   chance that an answerable question scores above an unanswerable one);
//! - the share of unanswerable questions that got no answer, and the threshold that would have
//!   made the most right decisions (answer the answerable, decline the rest) next to the one in use.
//!
//! Three corpora: the demo help center (bundled), the telecom help center of
//! `eval/corpora/lumen-telecom`, and the PostgreSQL 15 manual (the HTML pages of Debian's
//! postgresql-doc-15, crawled as a `url-crawl` source) when the address it is served at is given.
//! Each set is scored in its development part and, apart, in its held-out part (`eval/held-out/`);
//! the best threshold is found on the development parts only. The labelled messages of
//! `intents.yaml` score intent detection and handoffs: a handoff is a message detected as a
//! request for a person. `cargo xtask eval` serves the manual, builds and runs this (release
//! profile) and reports it; it prints one JSON object. Usage: `eval EVAL_DIR [MANUAL_URL]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hoverbot_server::assistant::{self, MIN_CONFIDENCE, Setting, intent, policy};
use hoverbot_server::config::Config;
use hoverbot_server::demo;
use hoverbot_server::embedding::Embedder;
use hoverbot_server::knowledge::index::{self, KnowledgeIndex};
use hoverbot_server::knowledge::source::{SourceConfig, StoredDocument};
use hoverbot_server::server::Services;
use hoverbot_server::store::Db;
use hoverbot_server::store::knowledge_sources::{self, SourceInput};
use hoverbot_server::store::tenant::WorkspaceId;
use hoverbot_server::store::{self, json, workspaces};
use serde::Deserialize;
use serde_json::{Value, json};

/// Chunks retrieved per question, as the API does.
const RETRIEVED: usize = 5;

#[derive(Deserialize)]
struct Question {
    question: String,
    /// The pages that answer it (slugs or file names); empty when nothing in the corpus does.
    pages: Vec<String>,
    fact: Option<String>,
}

/// A labelled message of `intents.yaml`.
#[derive(Deserialize)]
struct Labelled {
    message: String,
    /// The intent's name on the wire.
    intent: String,
    handoff: bool,
}

/// One question's outcome.
struct Scored {
    answerable: bool,
    hit_at_1: bool,
    hit_at_5: bool,
    answered: bool,
    fact: bool,
    cited: bool,
    confidence: f64,
}

/// Where the telecom help center's articles are said to live.
const LUMEN_BASE_URL: &str = "https://lumen.example/help/";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let eval_dir = PathBuf::from(args.next().context("usage: eval EVAL_DIR [MANUAL_URL]")?);
    let manual = args.next();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(async {
        let dir = std::env::temp_dir().join(format!("hoverbot-eval-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}?mode=rwc", dir.join("eval.db").display());
        let db = store::connect(&url).await?;
        store::migrate(&db).await?;
        let config = Config {
            allow_private_networks: true,
            crawl_concurrency: 8,
            crawl_host_requests_per_second: 1000,
            secret_key: Some(base64_key()),
            ..Config::default()
        };
        let services = Services::new(&db, &config)?;
        tokio::spawn(services.syncer(db.clone()).run());
        let mut scores = Scores::default();
        {
            let workspace = workspace(&db, "eval-demo").await?;
            sync(
                &db,
                &services.syncs,
                &workspace,
                text_source("demo", demo::documents())?,
            )
            .await?;
            let page_of = |url: &str| url.strip_prefix(demo::BASE_URL).map(str::to_string);
            let parts = [("development", eval_dir.join("demo.yaml"))];
            scores
                .add(
                    &db,
                    &services.knowledge,
                    &workspace,
                    "Demo help center",
                    &parts,
                    page_of,
                )
                .await?;
        }
        {
            let workspace = workspace(&db, "eval-lumen").await?;
            let documents = articles(&eval_dir.join("corpora/lumen-telecom"))?;
            sync(
                &db,
                &services.syncs,
                &workspace,
                text_source("lumen", documents)?,
            )
            .await?;
            let page_of = |url: &str| url.strip_prefix(LUMEN_BASE_URL).map(str::to_string);
            let parts = [
                ("development", eval_dir.join("lumen-telecom.yaml")),
                ("held-out", eval_dir.join("held-out/lumen-telecom.yaml")),
            ];
            scores
                .add(
                    &db,
                    &services.knowledge,
                    &workspace,
                    "Telecom help center",
                    &parts,
                    page_of,
                )
                .await?;
        }
        let mut pages_indexed = None;
        if let Some(site) = manual {
            let workspace = workspace(&db, "eval-manual").await?;
            let started = Instant::now();
            let source = SourceInput {
                kind: hoverbot_api::KnowledgeSourceType::UrlCrawl,
                name: "PostgreSQL manual".into(),
                external_id: None,
                config: json::encode(&SourceConfig {
                    seed_urls: Some(vec![format!("{site}/index.html")]),
                    max_pages: Some(10_000),
                    max_depth: Some(20),
                    ..SourceConfig::default()
                })
                .map_err(|err| anyhow::anyhow!("{err}"))?,
                refresh_rate: hoverbot_api::RefreshRate::Never,
            };
            let synced = sync(&db, &services.syncs, &workspace, source).await?;
            eprintln!(
                "eval: crawled the manual: {} pages in {:.1} s",
                synced.pages_indexed,
                started.elapsed().as_secs_f64()
            );
            pages_indexed = Some(synced.pages_indexed);
            let prefix = format!("{site}/");
            let page_of = |url: &str| url.strip_prefix(&prefix).map(str::to_string);
            let parts = [
                ("development", eval_dir.join("postgresql.yaml")),
                ("held-out", eval_dir.join("held-out/postgresql.yaml")),
            ];
            scores
                .add(
                    &db,
                    &services.knowledge,
                    &workspace,
                    "PostgreSQL 15 manual",
                    &parts,
                    page_of,
                )
                .await?;
        }
        std::fs::remove_dir_all(&dir).ok();
        let intents = [
            ("development", eval_dir.join("intents.yaml")),
            ("held-out", eval_dir.join("held-out/intents.yaml")),
        ]
        .into_iter()
        .map(|(part, file)| {
            let labelled: Vec<Labelled> = load(&file)?;
            untrained(&labelled)?;
            anyhow::Ok(json!({"part": part, "figures": intents_scored(&labelled)}))
        })
        .collect::<Result<Vec<_>>>()?;
        let Scores { sets, development } = scores;
        let (best_threshold, best_accuracy) = best_threshold(&development);
        anyhow::Ok(json!({
            "threshold": MIN_CONFIDENCE,
            "sets": sets,
            "manualPagesIndexed": pages_indexed,
            "intents": intents,
            "development": {
                "questions": development.len(),
                "accuracyAtThreshold": decisions_right(&development, MIN_CONFIDENCE),
                "bestThreshold": best_threshold,
                "accuracyAtBestThreshold": best_accuracy,
            },
        }))
    })?;
    println!("{figures}");
    Ok(())
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_yaml_ng::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// A `text` source of `documents`.
fn text_source(name: &str, documents: Vec<StoredDocument>) -> Result<SourceInput> {
    Ok(SourceInput {
        kind: hoverbot_api::KnowledgeSourceType::Text,
        name: name.into(),
        external_id: None,
        config: json::encode(&SourceConfig {
            documents: Some(documents),
            ..SourceConfig::default()
        })
        .map_err(|err| anyhow::anyhow!("{err}"))?,
        refresh_rate: hoverbot_api::RefreshRate::Never,
    })
}

/// The Markdown articles of a help center in `dir`, addressed under [`LUMEN_BASE_URL`] by their
/// file names.
fn articles(dir: &Path) -> Result<Vec<StoredDocument>> {
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let Some(slug) = path.file_stem().and_then(|stem| stem.to_str()) else {
            continue;
        };
        if path.extension().is_none_or(|extension| extension != "md") {
            continue;
        }
        let body = std::fs::read_to_string(&path)?;
        documents.push(demo::article(LUMEN_BASE_URL, slug, &body));
    }
    documents.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(documents)
}

/// Fails when a labelled message is also one of the classifier's exemplars (compared without
/// case or punctuation): a message it was trained on says nothing of how it generalises.
fn untrained(labelled: &[Labelled]) -> Result<()> {
    #[derive(Deserialize)]
    struct Exemplar {
        text: String,
    }
    let exemplars: Vec<Exemplar> =
        serde_yaml_ng::from_str(include_str!("../src/assistant/exemplars.yaml"))?;
    let plain = |text: &str| -> String {
        text.to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || c.is_whitespace())
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let trained: std::collections::HashSet<String> = exemplars
        .iter()
        .map(|exemplar| plain(&exemplar.text))
        .collect();
    if let Some(message) = labelled
        .iter()
        .find(|message| trained.contains(&plain(&message.message)))
    {
        bail!("`{}` is an exemplar of the classifier too", message.message);
    }
    Ok(())
}

/// Intent detection and handoffs over labelled messages: the share of intents right, and the
/// handoffs' precision and recall, with the false ones counted.
fn intents_scored(labelled: &[Labelled]) -> Value {
    let (mut right, mut true_handoffs, mut false_handoffs, mut missed) = (0, 0, 0, 0);
    let mut confused: BTreeMap<String, usize> = BTreeMap::new();
    let mut false_examples = Vec::new();
    let model = Embedder::default_model();
    for message in labelled {
        let detected = intent::classify(&message.message, &model);
        if detected.as_str() == message.intent {
            right += 1;
        } else {
            *confused
                .entry(format!("{} as {}", message.intent, detected.as_str()))
                .or_default() += 1;
        }
        let handoff = detected == hoverbot_api::Intent::HumanRequest;
        match (handoff, message.handoff) {
            (true, true) => true_handoffs += 1,
            (true, false) => {
                false_handoffs += 1;
                false_examples.push(message.message.clone());
            }
            (false, true) => missed += 1,
            (false, false) => {}
        }
    }
    let requests = labelled.iter().filter(|message| message.handoff).count();
    json!({
        "messages": labelled.len(),
        "requests": requests,
        "intentAccuracy": right as f64 / labelled.len().max(1) as f64,
        "handoffPrecision": f64::from(true_handoffs) / f64::from((true_handoffs + false_handoffs).max(1)),
        "handoffRecall": f64::from(true_handoffs) / requests.max(1) as f64,
        "falseHandoffs": false_handoffs,
        "missedHandoffs": missed,
        "confused": confused,
        "falseHandoffMessages": false_examples,
    })
}

async fn workspace(db: &Db, name: &str) -> Result<WorkspaceId> {
    let created = workspaces::create(db, name).await?;
    workspaces::find(db, &created.id)
        .await?
        .context("the new workspace")
}

/// The figures of every set's parts, and the development parts' questions, on which the best
/// threshold is found.
#[derive(Default)]
struct Scores {
    sets: Vec<Value>,
    development: Vec<Scored>,
}

impl Scores {
    /// Asks the questions of each of `parts` (a part's name and its file) of the set `set`, synced
    /// into `workspace`, and keeps their figures.
    async fn add(
        &mut self,
        db: &Db,
        knowledge: &Arc<KnowledgeIndex>,
        workspace: &WorkspaceId,
        set: &str,
        parts: &[(&str, PathBuf)],
        page_of: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<()> {
        for (part, file) in parts {
            let questions = load(file)?;
            let (figures, scored) = evaluate(db, knowledge, workspace, &questions, page_of).await?;
            if *part == "development" {
                self.development.extend(scored);
            }
            self.sets
                .push(json!({"set": set, "part": part, "figures": figures}));
        }
        Ok(())
    }
}

/// Creates the source and waits (at most 10 minutes) until the syncer has synced it.
async fn sync(
    db: &Db,
    syncer: &Arc<tokio::sync::Notify>,
    workspace: &WorkspaceId,
    source: SourceInput,
) -> Result<store::entity::knowledge_source::Model> {
    let (created, _) = knowledge_sources::upsert(db, syncer, workspace, source)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let row = knowledge_sources::get(db, workspace, &created.id)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?
            .context("the source")?;
        match row.status.as_str() {
            "ready" => return Ok(row),
            "failed" => bail!("the sync failed: {}", row.errors),
            _ if Instant::now() > deadline => bail!("the sync did not end within 10 minutes"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Asks every question and scores the answers.
async fn evaluate(
    db: &Db,
    knowledge: &Arc<KnowledgeIndex>,
    workspace: &WorkspaceId,
    questions: &[Question],
    page_of: impl Fn(&str) -> Option<String>,
) -> Result<(Value, Vec<Scored>)> {
    index::catch_up(db, knowledge).await?;
    let setting = Setting {
        locale: None,
        min_confidence: MIN_CONFIDENCE,
        embedder: knowledge.embedder(),
    };
    let mut scored = Vec::new();
    let mut misses = Vec::new();
    for question in questions {
        let screened = policy::screen(&question.question);
        let query = assistant::query_of(&screened.text);
        let retrieved = index::retrieve(db, knowledge, workspace, &query, RETRIEVED).await?;
        let pages: Vec<Option<String>> = retrieved
            .passages
            .iter()
            .map(|passage| passage.chunk.url.as_deref().and_then(&page_of))
            .collect();
        let reply = assistant::answer(&screened, &[(&query, &retrieved)], setting);
        let expected = |page: &Option<String>| {
            page.as_ref()
                .is_some_and(|page| question.pages.contains(page))
        };
        let answered = !reply.unsure && !reply.citations.is_empty();
        let cited = answered
            && reply
                .citations
                .iter()
                .any(|citation| expected(&citation.url.as_deref().and_then(&page_of)));
        let fact = answered
            && question
                .fact
                .as_ref()
                .is_some_and(|fact| reply.text.to_lowercase().contains(&fact.to_lowercase()));
        let score = Scored {
            answerable: !question.pages.is_empty(),
            hit_at_1: pages.first().is_some_and(expected),
            hit_at_5: pages.iter().any(expected),
            answered,
            fact,
            cited,
            confidence: reply.confidence,
        };
        if score.answerable != score.answered || (score.answerable && !score.fact) {
            misses.push(json!({
                "question": question.question,
                "expected": question.pages,
                "retrieved": pages,
                "confidence": (reply.confidence * 1000.0).round() / 1000.0,
                "answer": reply.text,
            }));
        }
        scored.push(score);
    }
    let answerable: Vec<&Scored> = scored.iter().filter(|s| s.answerable).collect();
    let unanswerable: Vec<&Scored> = scored.iter().filter(|s| !s.answerable).collect();
    let share = |count: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    };
    let (best_threshold, best_accuracy) = best_threshold(&scored);
    let figures = json!({
        "questions": scored.len(),
        "answerable": answerable.len(),
        "unanswerable": unanswerable.len(),
        "hitAt1": share(answerable.iter().filter(|s| s.hit_at_1).count(), answerable.len()),
        "hitAt5": share(answerable.iter().filter(|s| s.hit_at_5).count(), answerable.len()),
        "answered": share(answerable.iter().filter(|s| s.answered).count(), answerable.len()),
        "factRate": share(answerable.iter().filter(|s| s.fact).count(), answerable.len()),
        "citedRight": share(answerable.iter().filter(|s| s.cited && s.fact).count(), answerable.len()),
        "answeredWrongly": share(
            scored.iter().filter(|s| s.answered && !(s.answerable && s.cited && s.fact)).count(),
            scored.len(),
        ),
        "declinedUnanswerable": share(unanswerable.iter().filter(|s| !s.answered).count(), unanswerable.len()),
        "auroc": auroc(&answerable, &unanswerable),
        "accuracyAtThreshold": decisions_right(&scored, MIN_CONFIDENCE),
        "bestThreshold": best_threshold,
        "accuracyAtBestThreshold": best_accuracy,
        "misses": misses,
    });
    Ok((figures, scored))
}

/// The chance that an answerable question's confidence is above an unanswerable one's (ties count
/// half): the area under the ROC curve of confidence as a classifier of answerability.
fn auroc(answerable: &[&Scored], unanswerable: &[&Scored]) -> f64 {
    if answerable.is_empty() || unanswerable.is_empty() {
        return 0.0;
    }
    let mut wins = 0.0;
    for positive in answerable {
        for negative in unanswerable {
            wins += match positive.confidence.total_cmp(&negative.confidence) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    wins / (answerable.len() * unanswerable.len()) as f64
}

/// The share of right decisions at `threshold`: an answerable question answered (confidence at or
/// above it), an unanswerable one declined.
fn decisions_right(scored: &[Scored], threshold: f64) -> f64 {
    let right = scored
        .iter()
        .filter(|s| (s.confidence >= threshold) == s.answerable)
        .count();
    right as f64 / scored.len().max(1) as f64
}

/// The threshold (in steps of 0.01) with the most right decisions, the lowest of equals.
fn best_threshold(scored: &[Scored]) -> (f64, f64) {
    (0..=100)
        .map(|step| f64::from(step) / 100.0)
        .map(|threshold| (threshold, decisions_right(scored, threshold)))
        .fold((0.0, -1.0), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        })
}
