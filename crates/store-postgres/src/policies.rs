//! PostgreSQL implementation of [`warden_store::PolicyStore`].

use async_trait::async_trait;
use warden_store::PolicyStore;

use crate::PostgresStore;

#[async_trait]
impl PolicyStore for PostgresStore {}
