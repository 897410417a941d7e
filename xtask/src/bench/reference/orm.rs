//! The reference through sea-orm: the other references' statements, sent as sea-orm raw
//! statements on a sqlx pool set up as the server's (`store::connect`), their rows decoded into the
//! owned values sea-orm hands out. None of the server's own code is in it, and it sends the fewest
//! statements the work needs, so what it reaches is the most a server with sea-orm and sqlx
//! underneath can reach for this work: its share of the reference is what the ORM and its driver
//! cost, and the rest of the server's gap is the server's own.

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Utc};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, QueryResult,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use super::wire::{
    Citations, ContactFields, Conversation, Escalation, Message, NewConversation, Outcomes, Time,
    TranscriptWriter,
};
use super::{KEYS, Keys, Store, postgres, sqlite};

pub struct Orm {
    db: DatabaseConnection,
    /// SQLite's single writer as a fair queue, as the server's; `None` on PostgreSQL.
    writer: Option<Semaphore>,
}

impl Orm {
    /// The reference on the database at `url` (SQLite or PostgreSQL), and the live keys in it.
    /// sqlx's SQLite connections each run on a thread of their own, called `threads`, so that
    /// their time counts with the runtime's.
    pub async fn connect(url: &str, threads: &'static str) -> Result<(Self, Keys)> {
        let sqlite = url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false);
        // The server's pool, as `store::connect` sets it up.
        if sqlite {
            options
                .max_connections(8)
                .min_connections(1)
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(|sqlite| {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .thread_name(|_| threads.to_string())
                });
        } else {
            options.max_connections(32);
        }
        let db = Database::connect(options)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let keys = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), KEYS))
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get_by_index(0)?,
                    row.try_get_by_index(1)?,
                    row.try_get_by_index(2)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let writer = sqlite.then(|| Semaphore::new(1));
        Ok((Self { db, writer }, Keys::new(keys)))
    }

    fn statement(&self, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
        Statement::from_sql_and_values(self.db.get_database_backend(), sql, values)
    }

    fn sqlite(&self) -> bool {
        self.db.get_database_backend() == DatabaseBackend::Sqlite
    }
}

fn text(row: &QueryResult, index: usize) -> Result<String> {
    Ok(row.try_get_by_index(index)?)
}

fn optional(row: &QueryResult, index: usize) -> Result<Option<String>> {
    Ok(row.try_get_by_index(index)?)
}

fn time(row: &QueryResult, index: usize) -> Result<Time> {
    Ok(Time(row.try_get_by_index::<DateTime<Utc>>(index)?))
}

fn raw(json: &str) -> Result<&RawValue> {
    Ok(serde_json::from_str(json)?)
}

/// The transcript's JSON from the conversation's row and its messages'.
fn transcript(row: &QueryResult, messages: &[QueryResult]) -> Result<Vec<u8>> {
    let (id, channel, external_user_id, locale, metadata, status) = (
        text(row, 0)?,
        text(row, 1)?,
        optional(row, 2)?,
        optional(row, 3)?,
        text(row, 4)?,
        text(row, 5)?,
    );
    let mut json = TranscriptWriter::new(&Conversation {
        id: &id,
        channel: &channel,
        external_user_id: external_user_id.as_deref(),
        locale: locale.as_deref(),
        metadata: raw(&metadata)?,
        status: &status,
        message_count: row.try_get_by_index(6)?,
        created_at: time(row, 7)?,
        updated_at: time(row, 8)?,
        last_message_at: row.try_get_by_index::<Option<DateTime<Utc>>>(9)?.map(Time),
    })?;
    for message in messages {
        let (id, conversation_id, role, text_, channel, locale, metadata, citations) = (
            text(message, 0)?,
            text(message, 1)?,
            text(message, 2)?,
            text(message, 3)?,
            text(message, 4)?,
            optional(message, 5)?,
            text(message, 6)?,
            text(message, 7)?,
        );
        json.message(&Message {
            id: &id,
            conversation_id: &conversation_id,
            role: &role,
            text: &text_,
            channel: &channel,
            locale: locale.as_deref(),
            metadata: raw(&metadata)?,
            citations: Citations(&citations),
            created_at: time(message, 8)?,
        })?;
    }
    let (intent, contact_fields, escalation_id) =
        (optional(row, 13)?, text(row, 14)?, optional(row, 15)?);
    let (escalation_status, destination, owner, priority) = (
        optional(row, 16)?,
        optional(row, 17)?,
        optional(row, 18)?,
        optional(row, 19)?,
    );
    Ok(json.finish(
        &Outcomes {
            resolved: row.try_get_by_index(10)?,
            escalated: escalation_id.is_some(),
            lead_qualified: row.try_get_by_index(11)?,
            lead_score: row.try_get_by_index(12)?,
            intent: intent.as_deref(),
            contact_fields: ContactFields(&contact_fields),
        },
        &Escalation::of(
            escalation_id.as_deref(),
            escalation_status.as_deref(),
            destination.as_deref(),
            owner.as_deref(),
            priority.as_deref(),
        ),
    )?)
}

impl Store for Orm {
    async fn transcript(&self, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let (conversation, messages) = if self.sqlite() {
            (sqlite::CONVERSATION, sqlite::MESSAGES)
        } else {
            (postgres::CONVERSATION, postgres::MESSAGES)
        };
        let key = || [workspace.into(), id.into()];
        let Some(row) = self
            .db
            .query_one_raw(self.statement(conversation, key()))
            .await?
        else {
            return Ok(None);
        };
        let messages = self
            .db
            .query_all_raw(self.statement(messages, key()))
            .await?;
        transcript(&row, &messages).map(Some)
    }

    async fn create(&self, new: NewConversation) -> Result<()> {
        let conversation = || -> [Value; 7] {
            [
                new.id.as_str().into(),
                new.workspace.as_str().into(),
                new.channel.as_str().into(),
                new.external_user_id.clone().into(),
                new.locale.clone().into(),
                new.metadata.as_str().into(),
                new.created_at.into(),
            ]
        };
        match &self.writer {
            // PostgreSQL: one statement, its own transaction.
            None => no_endpoints(
                self.db
                    .query_one_raw(
                        self.statement(
                            postgres::CREATE,
                            conversation()
                                .into_iter()
                                .chain([new.event_id.as_str().into(), new.event.as_str().into()]),
                        ),
                    )
                    .await?,
            ),
            Some(writer) => {
                let _turn = writer.acquire().await?;
                let txn = self
                    .db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?;
                txn.execute_raw(self.statement(sqlite::INSERT_CONVERSATION, conversation()))
                    .await?;
                txn.execute_raw(self.statement(
                    sqlite::INSERT_EVENT,
                    [
                        new.event_id.as_str().into(),
                        new.workspace.as_str().into(),
                        new.event.as_str().into(),
                        new.id.as_str().into(),
                        new.created_at.into(),
                    ],
                ))
                .await?;
                no_endpoints(
                    txn.query_one_raw(
                        self.statement(sqlite::ENDPOINTS, [new.workspace.as_str().into()]),
                    )
                    .await?,
                )?;
                Ok(txn.commit().await?)
            }
        }
    }
}

/// Fails (rolling back what is still open) unless the count of the workspace's endpoints is 0:
/// the bench's workspace has none, and one with some would need deliveries too.
fn no_endpoints(count: Option<QueryResult>) -> Result<()> {
    let endpoints: i64 = count.context("a count has a row")?.try_get_by_index(0)?;
    ensure!(
        endpoints == 0,
        "the reference does not fan events out to endpoints"
    );
    Ok(())
}
