//! The reference on PostgreSQL: tokio-postgres on the server's database, a few connections each
//! shared by many requests (tokio-postgres pipelines what they send), statements prepared once. A
//! `GET` sends its two queries together (one round trip); a `POST` is one statement that inserts
//! the conversation and its event (a statement is its own transaction).

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::wire::{
    Citations, ContactFields, Conversation, Escalation, Message, NewConversation, Outcomes, Time,
    TranscriptWriter,
};
use super::{KEYS, Keys, Store};

/// As many connections as the server's pool keeps for this load.
const CONNECTIONS: usize = 8;

pub(super) const CONVERSATION: &str = "SELECT c.id, c.channel, c.external_user_id, c.locale, c.metadata, \
     c.status, c.message_count, c.created_at, c.updated_at, c.last_message_at, c.resolved, \
     c.lead_qualified, c.lead_score, c.intent, c.contact_fields, c.escalation_id, e.status, \
     e.destination, e.owner, e.priority \
     FROM conversations c LEFT JOIN escalations e ON e.id = c.escalation_id AND e.workspace_id = c.workspace_id \
     WHERE c.workspace_id = $1 AND c.id = $2";
pub(super) const MESSAGES: &str = "SELECT id, conversation_id, role, text, channel, locale, metadata, \
     citations, created_at FROM messages WHERE workspace_id = $1 AND conversation_id = $2 \
     ORDER BY seq";
/// The conversation and its event, and the endpoints the event would be delivered to (looked up
/// as the server does, in the same transaction).
pub(super) const CREATE: &str = "WITH conversation AS (\
       INSERT INTO conversations (id, workspace_id, channel, external_user_id, locale, metadata, \
       status, message_count, lead_score, intent, lead_qualified, resolved, contact_fields, \
       user_message_count, low_confidence_replies, escalation_id, created_at, updated_at, \
       last_message_at) \
       VALUES ($1, $2, $3, $4, $5, $6, 'active', 0, 0, NULL, false, false, '{}', 0, 0, NULL, $7, $7, NULL)), \
     event AS (\
       INSERT INTO webhook_events (id, workspace_id, event_type, payload, conversation_id, created_at) \
       VALUES ($8, $2, 'conversation.created', $9, $1, $7)) \
     SELECT count(*) FROM webhook_endpoints WHERE workspace_id = $2 AND enabled";

struct Connection {
    client: Client,
    conversation: Statement,
    messages: Statement,
    create: Statement,
}

pub struct Postgres {
    connections: Vec<Connection>,
    next: AtomicUsize,
}

impl Postgres {
    /// The reference on the database at `url`, and the live keys in it. Its connections' tasks run
    /// on the current runtime, which must be the one that serves the reference.
    pub async fn connect(url: &str) -> Result<(Self, Keys)> {
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (client, connection) = tokio_postgres::connect(url, NoTls)
                .await
                .with_context(|| format!("cannot connect to {url}"))?;
            tokio::spawn(connection);
            connections.push(Connection {
                conversation: client.prepare(CONVERSATION).await?,
                messages: client.prepare(MESSAGES).await?,
                create: client.prepare(CREATE).await?,
                client,
            });
        }
        let keys = connections[0]
            .client
            .query(KEYS, &[])
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect::<Vec<_>>();
        Ok((
            Self {
                connections,
                next: AtomicUsize::new(0),
            },
            Keys::new(keys),
        ))
    }

    fn connection(&self) -> &Connection {
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        &self.connections[next % self.connections.len()]
    }
}

fn raw(row: &Row, index: usize) -> Result<&RawValue> {
    Ok(serde_json::from_str(row.try_get(index)?)?)
}

fn time(row: &Row, index: usize) -> Result<Time> {
    Ok(Time(row.try_get::<_, DateTime<Utc>>(index)?))
}

fn transcript(row: &Row, messages: &[Row]) -> Result<Vec<u8>> {
    let mut json = TranscriptWriter::new(&Conversation {
        id: row.try_get(0)?,
        channel: row.try_get(1)?,
        external_user_id: row.try_get(2)?,
        locale: row.try_get(3)?,
        metadata: raw(row, 4)?,
        status: row.try_get(5)?,
        message_count: row.try_get(6)?,
        created_at: time(row, 7)?,
        updated_at: time(row, 8)?,
        last_message_at: row.try_get::<_, Option<DateTime<Utc>>>(9)?.map(Time),
    })?;
    for message in messages {
        json.message(&Message {
            id: message.try_get(0)?,
            conversation_id: message.try_get(1)?,
            role: message.try_get(2)?,
            text: message.try_get(3)?,
            channel: message.try_get(4)?,
            locale: message.try_get(5)?,
            metadata: raw(message, 6)?,
            citations: Citations(message.try_get(7)?),
            created_at: time(message, 8)?,
        })?;
    }
    let escalation_id: Option<&str> = row.try_get(15)?;
    Ok(json.finish(
        &Outcomes {
            resolved: row.try_get(10)?,
            escalated: escalation_id.is_some(),
            lead_qualified: row.try_get(11)?,
            lead_score: row.try_get(12)?,
            intent: row.try_get(13)?,
            contact_fields: ContactFields(row.try_get(14)?),
        },
        &Escalation::of(
            escalation_id,
            row.try_get(16)?,
            row.try_get(17)?,
            row.try_get(18)?,
            row.try_get(19)?,
        ),
    )?)
}

impl Store for Postgres {
    async fn transcript(&self, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let connection = self.connection();
        let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&workspace, &id];
        let (conversation, messages) = tokio::try_join!(
            connection
                .client
                .query_opt(&connection.conversation, &parameters),
            connection.client.query(&connection.messages, &parameters),
        )?;
        conversation
            .map(|row| transcript(&row, &messages))
            .transpose()
    }

    async fn create(&self, new: NewConversation) -> Result<()> {
        let connection = self.connection();
        let endpoints: i64 = connection
            .client
            .query_one(
                &connection.create,
                &[
                    &new.id,
                    &new.workspace,
                    &new.channel.as_str(),
                    &new.external_user_id,
                    &new.locale,
                    &new.metadata,
                    &new.created_at,
                    &new.event_id,
                    &new.event,
                ],
            )
            .await?
            .get(0);
        // The bench's workspace has no webhook endpoints; one with some would need deliveries too.
        ensure!(
            endpoints == 0,
            "the reference does not fan events out to endpoints"
        );
        Ok(())
    }
}

/// A database of its own on a PostgreSQL server, for a server under test and its reference.
pub struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    /// Creates `hoverbot_bench_{pid}_{name}` on the server of `admin` (a URL of a database the
    /// bench may connect to and create databases from).
    pub async fn create(admin: &str, name: &str) -> Result<Self> {
        let name = format!("hoverbot_bench_{}_{name}", std::process::id());
        let database = Self {
            url: with_database(admin, &name)?,
            admin: admin.to_string(),
            name,
        };
        database
            .execute(&[
                database.drop_statement(),
                format!("CREATE DATABASE {}", database.name),
            ])
            .await?;
        Ok(database)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, closing what is still connected to it.
    pub async fn drop(self) -> Result<()> {
        self.execute(&[self.drop_statement()]).await
    }

    fn drop_statement(&self) -> String {
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
    }

    /// Runs `statements` one by one (neither may run in a transaction block) on the admin database.
    async fn execute(&self, statements: &[String]) -> Result<()> {
        let (client, connection) = tokio_postgres::connect(&self.admin, NoTls)
            .await
            .with_context(|| {
                format!(
                    "the service figures need PostgreSQL: cannot connect to {} (give --postgres URL)",
                    self.admin
                )
            })?;
        tokio::spawn(connection);
        for statement in statements {
            client
                .batch_execute(statement)
                .await
                .with_context(|| statement.clone())?;
        }
        Ok(())
    }
}

/// `url` with its database replaced by `name` (and its query kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("`{url}` is not a postgres:// URL"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn names_another_database_on_the_same_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgresql://u@h/x?sslmode=disable", "b").unwrap(),
            "postgresql://u@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b").unwrap(),
            "postgres://h:5432/b"
        );
        assert!(with_database("not a url", "b").is_err());
    }
}
