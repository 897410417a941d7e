//! The reference on SQLite: rusqlite on the server's database file, each request's statements run
//! in one call on a blocking thread that keeps its own connection and statement cache (no hand-off
//! per statement), and writes serialised by one connection behind a lock, as the server's queue
//! admits one writer at a time.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Row, params};
use serde_json::value::RawValue;

use super::wire::{
    Citations, ContactFields, Conversation, Escalation, Message, NewConversation, Outcomes, Time,
    TranscriptWriter,
};
use super::{KEYS, Keys, Store};

/// The conversation, its outcomes and its escalation's state, in one statement.
pub(super) const CONVERSATION: &str = "SELECT c.id, c.channel, c.external_user_id, c.locale, c.metadata, \
     c.status, c.message_count, c.created_at, c.updated_at, c.last_message_at, c.resolved, \
     c.lead_qualified, c.lead_score, c.intent, c.contact_fields, c.escalation_id, e.status, \
     e.destination, e.owner, e.priority \
     FROM conversations c LEFT JOIN escalations e ON e.id = c.escalation_id AND e.workspace_id = c.workspace_id \
     WHERE c.workspace_id = ?1 AND c.id = ?2";
pub(super) const MESSAGES: &str = "SELECT id, conversation_id, role, text, channel, locale, metadata, \
     citations, created_at FROM messages WHERE workspace_id = ?1 AND conversation_id = ?2 \
     ORDER BY seq";
pub(super) const INSERT_CONVERSATION: &str = "INSERT INTO conversations (id, workspace_id, channel, \
     external_user_id, locale, metadata, status, message_count, lead_score, intent, \
     lead_qualified, resolved, contact_fields, user_message_count, low_confidence_replies, \
     escalation_id, created_at, updated_at, last_message_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', 0, 0, NULL, 0, 0, '{}', 0, 0, NULL, ?7, ?7, NULL)";
pub(super) const INSERT_EVENT: &str = "INSERT INTO webhook_events (id, workspace_id, event_type, payload, \
     conversation_id, created_at) VALUES (?1, ?2, 'conversation.created', ?3, ?4, ?5)";
/// The endpoints an event would be delivered to, as the server looks them up in the transaction.
pub(super) const ENDPOINTS: &str =
    "SELECT count(*) FROM webhook_endpoints WHERE workspace_id = ?1 AND enabled = 1";

pub struct Sqlite {
    path: Arc<PathBuf>,
    writer: Arc<Mutex<Connection>>,
}

thread_local! {
    /// This blocking thread's connection, and the file it is open on.
    static READER: RefCell<Option<(Arc<PathBuf>, Connection)>> = const { RefCell::new(None) };
}

fn open(path: &Path) -> Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    // As the server's connections are set up: WAL (already the file's mode), NORMAL sync.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.set_prepared_statement_cache_capacity(16);
    Ok(connection)
}

impl Sqlite {
    /// The reference on the SQLite database at `path`, and the live keys in it.
    pub fn open(path: &Path) -> Result<(Self, Keys)> {
        let writer = open(path)?;
        let keys = {
            let mut statement = writer.prepare(KEYS)?;
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        Ok((
            Self {
                path: Arc::new(path.to_path_buf()),
                writer: Arc::new(Mutex::new(writer)),
            },
            Keys::new(keys),
        ))
    }
}

/// Runs `work` on this blocking thread's connection to `path`, opening it the first time.
fn with_reader<T>(path: &Arc<PathBuf>, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    READER.with(|reader| {
        let mut reader = reader.borrow_mut();
        if reader.as_ref().is_none_or(|(open_on, _)| open_on != path) {
            *reader = Some((path.clone(), open(path)?));
        }
        let (_, connection) = reader.as_ref().expect("opened above");
        work(connection)
    })
}

/// A stored time: sqlx writes `DateTime<Utc>` as RFC 3339 text.
fn time(row: &Row, index: usize) -> rusqlite::Result<Time> {
    let text: &str = row.get_ref(index)?.as_str()?;
    parse_time(text).map(Time).ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(index, text.into(), rusqlite::types::Type::Text)
    })
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn optional_time(row: &Row, index: usize) -> rusqlite::Result<Option<Time>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => time(row, index).map(Some),
    }
}

fn text<'a>(row: &'a Row, index: usize) -> rusqlite::Result<&'a str> {
    Ok(row.get_ref(index)?.as_str()?)
}

fn optional_text<'a>(row: &'a Row, index: usize) -> rusqlite::Result<Option<&'a str>> {
    Ok(row.get_ref(index)?.as_str_or_null()?)
}

fn raw<'a>(row: &'a Row, index: usize) -> Result<&'a RawValue> {
    Ok(serde_json::from_str(text(row, index)?)?)
}

/// The transcript's JSON, written from the rows while they are read.
fn transcript(connection: &Connection, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
    let mut conversation = connection.prepare_cached(CONVERSATION)?;
    let mut rows = conversation.query(params![workspace, id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut json = TranscriptWriter::new(&Conversation {
        id: text(row, 0)?,
        channel: text(row, 1)?,
        external_user_id: optional_text(row, 2)?,
        locale: optional_text(row, 3)?,
        metadata: raw(row, 4)?,
        status: text(row, 5)?,
        message_count: row.get(6)?,
        created_at: time(row, 7)?,
        updated_at: time(row, 8)?,
        last_message_at: optional_time(row, 9)?,
    })?;
    let mut messages = connection.prepare_cached(MESSAGES)?;
    let mut message_rows = messages.query(params![workspace, id])?;
    while let Some(message) = message_rows.next()? {
        json.message(&Message {
            id: text(message, 0)?,
            conversation_id: text(message, 1)?,
            role: text(message, 2)?,
            text: text(message, 3)?,
            channel: text(message, 4)?,
            locale: optional_text(message, 5)?,
            metadata: raw(message, 6)?,
            citations: Citations(text(message, 7)?),
            created_at: time(message, 8)?,
        })?;
    }
    let escalation_id = optional_text(row, 15)?;
    let json = json.finish(
        &Outcomes {
            resolved: row.get(10)?,
            escalated: escalation_id.is_some(),
            lead_qualified: row.get(11)?,
            lead_score: row.get(12)?,
            intent: optional_text(row, 13)?,
            contact_fields: ContactFields(text(row, 14)?),
        },
        &Escalation::of(
            escalation_id,
            optional_text(row, 16)?,
            optional_text(row, 17)?,
            optional_text(row, 18)?,
            optional_text(row, 19)?,
        ),
    )?;
    Ok(Some(json))
}

/// Inserts the conversation and its event in one write transaction.
fn create(connection: &mut Connection, new: &NewConversation) -> Result<()> {
    let created_at = new.created_at.to_rfc3339();
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    transaction
        .prepare_cached(INSERT_CONVERSATION)?
        .execute(params![
            new.id,
            new.workspace,
            new.channel.as_str(),
            new.external_user_id,
            new.locale,
            new.metadata,
            created_at,
        ])?;
    transaction.prepare_cached(INSERT_EVENT)?.execute(params![
        new.event_id,
        new.workspace,
        new.event,
        new.id,
        created_at,
    ])?;
    let endpoints: i64 = transaction
        .prepare_cached(ENDPOINTS)?
        .query_row(params![new.workspace], |row| row.get(0))?;
    // The bench's workspace has no webhook endpoints; one with some would need deliveries too.
    ensure!(
        endpoints == 0,
        "the reference does not fan events out to endpoints"
    );
    transaction.commit()?;
    Ok(())
}

impl Store for Sqlite {
    async fn transcript(&self, workspace: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path.clone();
        let (workspace, id) = (workspace.to_string(), id.to_string());
        tokio::task::spawn_blocking(move || {
            with_reader(&path, |connection| transcript(connection, &workspace, &id))
        })
        .await?
    }

    async fn create(&self, conversation: NewConversation) -> Result<()> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            create(&mut connection, &conversation)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn reads_the_times_sqlx_writes() {
        let time = parse_time("2026-12-07T17:00:00.123456+00:00").expect("RFC 3339");
        assert_eq!(time.timestamp_subsec_micros(), 123_456);
        assert!(parse_time("yesterday").is_none());
    }
}
