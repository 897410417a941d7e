//! The database handle, and the one way to write to it: [`Db::write`].
//!
//! SQLite has a single writer. A writer that finds the database locked sleeps in SQLite's busy
//! handler, milliseconds at a time, which makes write latency jump by tens of milliseconds under
//! concurrency; so on SQLite a write transaction first takes its turn in this process's fair
//! queue, and gives it back when it commits or rolls back. Nothing else holds the turn: a request
//! reads its body, retrieves, asks the model and looks up names before it writes, and waits for
//! nobody's writes while it does. PostgreSQL has row locks and no queue.
//!
//! A request with an `Idempotency-Key` runs as one [`Unit`]: its writes share one transaction,
//! which commits only with the stored response (see `store::idempotency`), so a request that
//! committed always has its response and one that did not never happened.

use std::sync::{Arc, Mutex};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The database: reads go straight to the pool; writes go through [`Db::write`].
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite's single writer as a fair queue; `None` on PostgreSQL.
    writer: Option<Arc<Semaphore>>,
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        let writer = (conn.get_database_backend() == DatabaseBackend::Sqlite)
            .then(|| Arc::new(Semaphore::new(1)));
        Self { conn, writer }
    }

    /// The pool itself, for what is not a tenant's read or write: migrations and readiness.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes the pool, once whoever uses it is done.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }

    /// Begins a write: the queue's turn on SQLite, then the transaction. Inside a keyed request's
    /// [`Unit`], the unit's transaction, begun by its first write, is continued instead.
    pub async fn write(&self) -> Result<Write, DbErr> {
        match UNIT.try_with(Arc::clone) {
            Ok(unit) => unit.join(self).await,
            Err(_) => self.begin().await,
        }
    }

    async fn begin(&self) -> Result<Write, DbErr> {
        let turn = match &self.writer {
            // The semaphore is never closed, so acquiring only waits.
            Some(writer) => Some(
                writer
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|err| DbErr::Custom(err.to_string()))?,
            ),
            None => None,
        };
        // `BEGIN IMMEDIATE` on SQLite: a deferred transaction that reads and then writes fails at
        // once with "database is locked" if another connection (another process, or a sqlite3
        // shell) wrote in between; a writer waiting at `BEGIN` is what the busy timeout is for.
        // PostgreSQL ignores the mode.
        let txn = self
            .conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?;
        Ok(Write {
            txn,
            turn,
            wake: Mutex::new(Vec::new()),
            unit: None,
        })
    }
}

/// A write transaction, holding SQLite's turn until it ends. Dropped without a commit, it rolls
/// back.
pub struct Write {
    // Declared first, so that it rolls back before the turn is given back.
    txn: DatabaseTransaction,
    turn: Option<OwnedSemaphorePermit>,
    /// Woken once the transaction commits (the webhook worker, the knowledge syncer).
    wake: Mutex<Vec<Arc<Notify>>>,
    /// The keyed request this write belongs to: its commit is the unit's.
    unit: Option<Member>,
}

impl Write {
    /// Wakes `notify` once this transaction commits, not before: whoever it wakes then finds what
    /// was written.
    pub fn wake_after_commit(&self, notify: &Arc<Notify>) {
        lock(&self.wake).push(notify.clone());
    }

    /// A transaction inside this one (a savepoint), for a statement that may fail without failing
    /// the write: on PostgreSQL a failed statement ends the transaction it ran in.
    pub async fn savepoint(&self) -> Result<DatabaseTransaction, DbErr> {
        self.txn.begin().await
    }

    /// Commits. In a keyed request's unit, the transaction stays open for the unit's own commit,
    /// with the stored response.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        match self.unit.take() {
            Some(member) => {
                member.leave().put(self);
                Ok(())
            }
            None => {
                self.txn.commit().await?;
                drop(self.turn);
                for notify in self
                    .wake
                    .into_inner()
                    .unwrap_or_else(|err| err.into_inner())
                {
                    notify.notify_one();
                }
                Ok(())
            }
        }
    }
}

/// A write's place in its unit. Dropped with the write (an error, a cancelled request), it marks
/// the unit failed: the unit's transaction is gone, and with it whatever the request wrote before.
struct Member(Option<Arc<Unit>>);

impl Member {
    fn leave(mut self) -> Arc<Unit> {
        self.0.take().expect("a member leaves once")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(unit) = self.0.take() {
            *lock(&unit.state) = UnitState::Failed;
        }
    }
}

/// The writes of one keyed request, held open until its response is stored with them.
#[derive(Default)]
pub struct Unit {
    state: Mutex<UnitState>,
}

#[derive(Default)]
enum UnitState {
    /// Nothing written yet.
    #[default]
    Empty,
    /// A write of the request is open now.
    Busy,
    /// Written, and waiting for the response.
    Open(Write),
    /// A write was dropped without its commit: everything the request wrote rolled back.
    Failed,
}

/// How a unit ended.
pub enum Finished {
    /// The request wrote nothing.
    Nothing,
    /// The request's writes, open, for the response to be stored in and committed with.
    Written(Write),
    /// The request's writes rolled back.
    RolledBack,
}

tokio::task_local! {
    static UNIT: Arc<Unit>;
}

impl Unit {
    /// Runs `request` with its writes gathered in this unit.
    pub async fn run<F: Future>(self: &Arc<Self>, request: F) -> F::Output {
        UNIT.scope(self.clone(), request).await
    }

    /// What the request left, once it is over.
    pub fn finish(&self) -> Finished {
        match std::mem::replace(&mut *lock(&self.state), UnitState::Failed) {
            UnitState::Empty => Finished::Nothing,
            UnitState::Open(write) => Finished::Written(write),
            UnitState::Busy | UnitState::Failed => Finished::RolledBack,
        }
    }

    /// The unit's transaction for the request's next write, or what to do without it.
    async fn join(self: &Arc<Self>, db: &Db) -> Result<Write, DbErr> {
        let state = std::mem::replace(&mut *lock(&self.state), UnitState::Busy);
        let write = match state {
            UnitState::Open(write) => write,
            UnitState::Empty => db.begin().await.inspect_err(|_| {
                *lock(&self.state) = UnitState::Empty;
            })?,
            UnitState::Busy => {
                return Err(DbErr::Custom(
                    "a keyed request began a write while another of its writes was open".into(),
                ));
            }
            UnitState::Failed => {
                *lock(&self.state) = UnitState::Failed;
                return Err(DbErr::Custom(
                    "a keyed request wrote again after its earlier writes rolled back".into(),
                ));
            }
        };
        Ok(Write {
            unit: Some(Member(Some(self.clone()))),
            ..write
        })
    }

    fn put(&self, write: Write) {
        *lock(&self.state) = UnitState::Open(write);
    }
}

/// Reads (and the statements of a write, on [`Write`]) go to the connection underneath.
macro_rules! connection {
    ($handle:ty, $field:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $handle {
            fn get_database_backend(&self) -> DatabaseBackend {
                self.$field.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.$field.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.$field.execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.$field.query_one_raw(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.$field.query_all_raw(stmt).await
            }

            fn support_returning(&self) -> bool {
                self.$field.support_returning()
            }
        }
    };
}

connection!(Db, conn);
connection!(Write, txn);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
