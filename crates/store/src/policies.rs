//! Access policies (role assignments): a user's whole set, replaced at once; search.

use async_trait::async_trait;

#[async_trait]
pub trait PolicyStore: Send + Sync {}
