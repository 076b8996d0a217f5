//! API clients: OAuth2 confidential clients that act for their tenant's subtree.

use crate::ids::{ClientId, TenantId, UserId};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub struct ApiClient {
    pub id: ClientId,
    pub tenant_id: TenantId,
    /// `api_client` or `agent`.
    pub kind: String,
    pub token_endpoint_auth_method: String,
    /// Free-form client data, e.g. `{"client_name": "MyApp"}`.
    pub data: serde_json::Value,
    pub enabled: bool,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub version: i64,
}
