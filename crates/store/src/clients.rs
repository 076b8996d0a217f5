//! API clients: create, read, list per tenant, change, delete, secret rotation; refresh tokens.

use async_trait::async_trait;

#[async_trait]
pub trait ClientStore: Send + Sync {}
