//! SQLite implementation of [`warden_store::ClientStore`].

use async_trait::async_trait;
use warden_store::ClientStore;

use crate::SqliteStore;

#[async_trait]
impl ClientStore for SqliteStore {}
