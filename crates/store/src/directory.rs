//! Users as a directory: listing with filters and cursor paging, and pending e-mail confirmations.

use async_trait::async_trait;

#[async_trait]
pub trait DirectoryStore: Send + Sync {}
