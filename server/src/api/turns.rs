//! One message at a time per conversation: a message sent while another to the same conversation
//! is being answered waits for it (in order of arrival), so that each answer sees the messages
//! before it, as in a chat. Messages to other conversations run side by side. Across processes the
//! conversation's row lock keeps each reply right after its own message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use crate::store::tenant::WorkspaceId;

type Key = (String, String);

#[derive(Default)]
pub struct Turns {
    waiting: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A conversation's turn, held until dropped.
pub struct Turn {
    _held: OwnedMutexGuard<()>,
    waiting: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
    key: Key,
}

impl Turns {
    /// Waits for the conversation's turn (tokio's mutex is fair: first come, first served).
    pub async fn take(&self, workspace: &WorkspaceId, conversation_id: &str) -> Turn {
        let key = (workspace.as_str().to_string(), conversation_id.to_string());
        let turn = lock(&self.waiting).entry(key.clone()).or_default().clone();
        Turn {
            _held: turn.lock_owned().await,
            waiting: self.waiting.clone(),
            key,
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut waiting = lock(&self.waiting);
        // The map holds one reference and this turn another: nobody else waits, so the entry
        // goes (a waiter takes its reference under this same lock, so it cannot slip in between).
        if waiting
            .get(&self.key)
            .is_some_and(|turn| Arc::strong_count(turn) <= 2)
        {
            waiting.remove(&self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
