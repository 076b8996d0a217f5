//! PostgreSQL implementation of [`warden_store::DirectoryStore`].

use async_trait::async_trait;
use warden_store::DirectoryStore;

use crate::PostgresStore;

#[async_trait]
impl DirectoryStore for PostgresStore {}
