// Temporary: the Store interface over today's Storage, until the storage branch lands.
use super::{Storage, StorageError, StoredRoom, StoredSession};
use crate::protocol::ChatMessage;

pub trait Store: Send {
    fn commit(&mut self, batch: &Batch) -> Result<(), StorageError>;
    fn room(&mut self, key: &str) -> Result<Option<StoredRoom>, StorageError>;
    fn after(
        &mut self,
        key: &str,
        name: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError>;
    fn before(
        &mut self,
        key: &str,
        name: &str,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StorageError>;
    fn sessions(&mut self) -> Result<Vec<StoredSession>, StorageError>;
    fn delete_before(&mut self, cutoff_ms: u64) -> Result<usize, StorageError>;
}

#[derive(Default)]
pub struct Batch {
    pub messages: Vec<(String, ChatMessage)>,
    pub sessions: Vec<SessionChange>,
}

pub enum SessionChange {
    Save {
        token: String,
        name: String,
        idle_since_ms: u64,
    },
    Delete {
        token: String,
    },
}

impl Store for Storage {
    fn commit(&mut self, batch: &Batch) -> Result<(), StorageError> {
        let rows: Vec<(&str, &ChatMessage)> = batch
            .messages
            .iter()
            .map(|(k, m)| (k.as_str(), m))
            .collect();
        if !rows.is_empty() {
            self.save_messages(&rows)?;
        }
        for change in &batch.sessions {
            match change {
                SessionChange::Save {
                    token,
                    name,
                    idle_since_ms,
                } => self.save_session(token, name, *idle_since_ms)?,
                SessionChange::Delete { token } => self.delete_session(token)?,
            }
        }
        Ok(())
    }
    fn room(&mut self, key: &str) -> Result<Option<StoredRoom>, StorageError> {
        Storage::room(self, key)
    }
    fn after(
        &mut self,
        key: &str,
        name: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StorageError> {
        Storage::after(self, key, &name.into(), after, limit)
    }
    fn before(
        &mut self,
        key: &str,
        name: &str,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), StorageError> {
        Storage::before(self, key, &name.into(), before, limit)
    }
    fn sessions(&mut self) -> Result<Vec<StoredSession>, StorageError> {
        Storage::sessions(self)
    }
    fn delete_before(&mut self, cutoff_ms: u64) -> Result<usize, StorageError> {
        Storage::delete_before(self, cutoff_ms)
    }
}
