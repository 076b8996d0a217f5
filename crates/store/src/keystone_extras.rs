//! Keystone objects Warden keeps but does not act on: policies (`/v3/policies`), OAuth 1.0a
//! consumers (`/v3/OS-OAUTH1/consumers`) and endpoint groups
//! (`/v3/OS-EP-FILTER/endpoint_groups`). They belong to the deployment, like the catalog, so
//! their audit events are recorded in the root tenant. A consumer's secret is stored as its
//! SHA-256 only; it is shown once, when the consumer is created.

use async_trait::async_trait;
use serde_json::{Map, Value};

use warden_domain::TenantId;

use crate::{Audit, Extra, StoreError};

/// A Keystone policy: an opaque `blob` of some `type`, as a client stored it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeystonePolicyRecord {
    pub id: String,
    pub policy_type: String,
    pub blob: String,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub extra: Extra,
}

/// An OAuth 1.0a consumer; `secret_hash` is the SHA-256 (hex) of its secret.
#[derive(Clone, Debug, PartialEq)]
pub struct OauthConsumerRecord {
    pub id: String,
    pub description: Option<String>,
    pub secret_hash: String,
    pub extra: Extra,
}

/// An endpoint group: the endpoints matching `filters` (keys among `interface`,
/// `service_id` and `region_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointGroupRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub filters: Map<String, Value>,
    pub extra: Extra,
}

/// A domain's configuration: its options of the `identity` and `ldap` groups as a JSON object
/// of groups, and the sensitive options apart, sealed by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainConfigRecord {
    pub domain_id: TenantId,
    pub config: Map<String, Value>,
    pub sealed_sensitive: Option<Vec<u8>>,
    /// 1 when created, incremented by every change.
    pub version: i64,
}

#[async_trait]
pub trait KeystoneExtrasStore: Send + Sync {
    async fn insert_keystone_policy(
        &self,
        policy: &KeystonePolicyRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_keystone_policy(
        &self,
        id: &str,
    ) -> Result<Option<KeystonePolicyRecord>, StoreError>;
    /// Every policy, or those of one type, by id.
    async fn list_keystone_policies(
        &self,
        policy_type: Option<&str>,
    ) -> Result<Vec<KeystonePolicyRecord>, StoreError>;
    /// Writes every field; `NotFound` when it is gone.
    async fn update_keystone_policy(
        &self,
        policy: &KeystonePolicyRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn delete_keystone_policy(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    async fn insert_oauth_consumer(
        &self,
        consumer: &OauthConsumerRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_oauth_consumer(&self, id: &str)
        -> Result<Option<OauthConsumerRecord>, StoreError>;
    /// Every consumer, by id.
    async fn list_oauth_consumers(&self) -> Result<Vec<OauthConsumerRecord>, StoreError>;
    /// Writes the description and extra attributes, never the secret; `NotFound` when gone.
    async fn update_oauth_consumer(
        &self,
        consumer: &OauthConsumerRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn delete_oauth_consumer(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    async fn insert_endpoint_group(
        &self,
        group: &EndpointGroupRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_endpoint_group(&self, id: &str)
        -> Result<Option<EndpointGroupRecord>, StoreError>;
    /// Every endpoint group, by id.
    async fn list_endpoint_groups(&self) -> Result<Vec<EndpointGroupRecord>, StoreError>;
    /// Writes every field; `NotFound` when it is gone.
    async fn update_endpoint_group(
        &self,
        group: &EndpointGroupRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn delete_endpoint_group(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    async fn get_domain_config(
        &self,
        domain_id: TenantId,
    ) -> Result<Option<DomainConfigRecord>, StoreError>;
    /// Writes `config` (with `config.version`) if the stored version is still
    /// `expected_version`, `None` meaning that no configuration is stored; `VersionMismatch`
    /// otherwise, `NotFound` when the domain is gone.
    async fn put_domain_config(
        &self,
        config: &DomainConfigRecord,
        expected_version: Option<i64>,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    /// Deletes the configuration if its version is still `expected_version`;
    /// `VersionMismatch` otherwise, `NotFound` when there is none.
    async fn delete_domain_config(
        &self,
        domain_id: TenantId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError>;
}
