//! The Keystone service catalog (regions, services, endpoints) and Keystone credentials
//! (`/v3/credentials`). Catalog objects belong to the deployment, so their audit events are
//! recorded in the root tenant; a credential's in the tenant of the user owning it. A
//! credential's blob is stored sealed with the key-encryption key: EC2 blobs hold secrets.

use async_trait::async_trait;
use serde_json::{Map, Value};
use warden_domain::{Timestamp, UserId};

use crate::{Audit, StoreError};

/// Attributes a client sent beyond the ones Keystone names; kept and shown back as sent.
pub type Extra = Map<String, Value>;

#[derive(Clone, Debug, PartialEq)]
pub struct RegionRecord {
    pub id: String,
    pub parent_region_id: Option<String>,
    pub description: String,
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRecord {
    pub id: String,
    pub service_type: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub extra: Extra,
}

/// Which network an endpoint is reached on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub const ALL: [Interface; 3] = [Interface::Public, Interface::Internal, Interface::Admin];

    pub fn as_str(&self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Interface::ALL.into_iter().find(|i| i.as_str() == raw)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EndpointRecord {
    pub id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub interface: Interface,
    pub url: String,
    pub enabled: bool,
    pub extra: Extra,
}

/// Which endpoints to list; `None` matches any.
#[derive(Clone, Debug, Default)]
pub struct EndpointFilter<'a> {
    pub interface: Option<Interface>,
    pub service_id: Option<&'a str>,
    pub region_id: Option<&'a str>,
}

/// A Keystone credential as stored, its blob sealed (see [`KeystoneCredential`]).
#[derive(Clone, Debug, PartialEq)]
pub struct KeystoneCredentialRecord {
    pub id: String,
    pub user_id: UserId,
    pub project_id: Option<String>,
    pub credential_type: String,
    pub blob_sealed: Vec<u8>,
    pub extra: Extra,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// `Conflict("region")` when the id is taken, `NotFound` when the parent does not exist.
    async fn insert_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError>;
    async fn get_region(&self, id: &str) -> Result<Option<RegionRecord>, StoreError>;
    /// Every region, or the children of one, by id.
    async fn list_regions(&self, parent: Option<&str>) -> Result<Vec<RegionRecord>, StoreError>;
    /// Writes every field of `region`. `NotFound` when it or its new parent is gone,
    /// `Conflict("region_cycle")` when the parent is the region itself or below it.
    async fn update_region(&self, region: &RegionRecord, audit: &Audit) -> Result<(), StoreError>;
    /// Deletes a region and the regions below it; `Conflict("region_endpoints")`, deleting
    /// nothing, when any of them has endpoints.
    async fn delete_region(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    async fn insert_service(
        &self,
        service: &ServiceRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_service(&self, id: &str) -> Result<Option<ServiceRecord>, StoreError>;
    /// Every service, or those of one type, by id.
    async fn list_services(
        &self,
        service_type: Option<&str>,
    ) -> Result<Vec<ServiceRecord>, StoreError>;
    /// Writes every field of `service`; `NotFound` when it is gone.
    async fn update_service(
        &self,
        service: &ServiceRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    /// Deletes a service and its endpoints.
    async fn delete_service(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    /// `NotFound` when its service or region does not exist.
    async fn insert_endpoint(
        &self,
        endpoint: &EndpointRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_endpoint(&self, id: &str) -> Result<Option<EndpointRecord>, StoreError>;
    async fn list_endpoints(
        &self,
        filter: &EndpointFilter<'_>,
    ) -> Result<Vec<EndpointRecord>, StoreError>;
    /// Writes every field of `endpoint`; `NotFound` when it, its service or region is gone.
    async fn update_endpoint(
        &self,
        endpoint: &EndpointRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn delete_endpoint(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;

    /// `Conflict("credential")` when the id is taken, `NotFound` when the user is gone.
    async fn insert_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn get_keystone_credential(
        &self,
        id: &str,
    ) -> Result<Option<KeystoneCredentialRecord>, StoreError>;
    /// Every credential, or those of one user and/or type, oldest first.
    async fn list_keystone_credentials(
        &self,
        user: Option<UserId>,
        credential_type: Option<&str>,
    ) -> Result<Vec<KeystoneCredentialRecord>, StoreError>;
    /// Writes every field but `created_at`; `NotFound` when it or its user is gone.
    async fn update_keystone_credential(
        &self,
        credential: &KeystoneCredentialRecord,
        audit: &Audit,
    ) -> Result<(), StoreError>;
    async fn delete_keystone_credential(&self, id: &str, audit: &Audit) -> Result<(), StoreError>;
}
