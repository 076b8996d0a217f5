//! SQLite implementation of [`warden_store::TenantStore`].

use async_trait::async_trait;
use warden_store::TenantStore;

use crate::SqliteStore;

#[async_trait]
impl TenantStore for SqliteStore {}
