//! Tenants: create, read, list with cursor paging, change with `version`, move, delete with cascade.

use async_trait::async_trait;

#[async_trait]
pub trait TenantStore: Send + Sync {}
