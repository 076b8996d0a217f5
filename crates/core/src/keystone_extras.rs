//! Keystone objects Warden keeps as clients store them and does not act on: policies, OAuth
//! 1.0a consumers and endpoint groups. Any valid token reads them; changing them needs an
//! administrator of the root tenant, as changing the catalog does.

use serde_json::{Map, Value};
use warden_domain::{DomainError, Resource};
use warden_store::{
    EndpointGroupRecord, Extra, KeystonePolicyRecord, OauthConsumerRecord, StoreError,
};

use crate::auth::Principal;
use crate::catalog::Nullable;
use crate::secrets::{random_bytes, sha256_hex};
use crate::{store_error, Warden};

#[derive(Clone, Debug, Default)]
pub struct PolicyPatch {
    pub policy_type: Option<String>,
    pub blob: Option<String>,
    pub project_id: Nullable<String>,
    pub user_id: Nullable<String>,
    /// Merged into the stored attributes, as Keystone merges them.
    pub extra: Extra,
}

#[derive(Clone, Debug, Default)]
pub struct ConsumerPatch {
    pub description: Nullable<String>,
    pub extra: Extra,
}

#[derive(Clone, Debug, Default)]
pub struct EndpointGroupPatch {
    pub name: Option<String>,
    pub description: Nullable<String>,
    /// Replaces the stored filters.
    pub filters: Option<Map<String, Value>>,
    pub extra: Extra,
}

/// A new id of 32 hex digits, as Keystone generates them.
fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

fn not_found(resource: Resource) -> impl Fn(StoreError) -> DomainError {
    move |e| match e {
        StoreError::NotFound => DomainError::NotFound(resource),
        other => store_error(other),
    }
}

impl Warden {
    pub async fn list_keystone_policies(
        &self,
        policy_type: Option<&str>,
    ) -> Result<Vec<KeystonePolicyRecord>, DomainError> {
        let listed = self.store.list_keystone_policies(policy_type).await;
        listed.map_err(store_error)
    }

    pub async fn get_keystone_policy(&self, id: &str) -> Result<KeystonePolicyRecord, DomainError> {
        let found = self.store.get_keystone_policy(id).await;
        found
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Policy))
    }

    /// Creates a policy under a new id; `policy.id` is ignored.
    pub async fn create_keystone_policy(
        &self,
        principal: &Principal,
        policy: KeystonePolicyRecord,
    ) -> Result<KeystonePolicyRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let policy = KeystonePolicyRecord {
            id: new_id(),
            ..policy
        };
        let audit = self.audit_by(principal);
        let inserted = self.store.insert_keystone_policy(&policy, &audit).await;
        inserted.map_err(store_error).map(|()| policy)
    }

    pub async fn update_keystone_policy(
        &self,
        principal: &Principal,
        id: &str,
        patch: PolicyPatch,
    ) -> Result<KeystonePolicyRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut policy = self.get_keystone_policy(id).await?;
        if let Some(policy_type) = patch.policy_type {
            policy.policy_type = policy_type;
        }
        if let Some(blob) = patch.blob {
            policy.blob = blob;
        }
        if let Some(project_id) = patch.project_id {
            policy.project_id = project_id;
        }
        if let Some(user_id) = patch.user_id {
            policy.user_id = user_id;
        }
        policy.extra.extend(patch.extra);
        let audit = self.audit_by(principal);
        let updated = self.store.update_keystone_policy(&policy, &audit).await;
        updated
            .map_err(not_found(Resource::Policy))
            .map(|()| policy)
    }

    pub async fn delete_keystone_policy(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let audit = self.audit_by(principal);
        let deleted = self.store.delete_keystone_policy(id, &audit).await;
        deleted.map_err(not_found(Resource::Policy))
    }

    pub async fn list_oauth_consumers(&self) -> Result<Vec<OauthConsumerRecord>, DomainError> {
        self.store.list_oauth_consumers().await.map_err(store_error)
    }

    pub async fn get_oauth_consumer(&self, id: &str) -> Result<OauthConsumerRecord, DomainError> {
        let found = self.store.get_oauth_consumer(id).await;
        found
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::Consumer))
    }

    /// Creates a consumer with a new id and secret (32 random bytes, 64 hex digits). Returns
    /// the consumer and its secret, which is not kept: only its SHA-256 is stored.
    pub async fn create_oauth_consumer(
        &self,
        principal: &Principal,
        description: Option<String>,
        extra: Extra,
    ) -> Result<(OauthConsumerRecord, String), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let secret = hex::encode(random_bytes::<32>());
        let consumer = OauthConsumerRecord {
            id: new_id(),
            description,
            secret_hash: sha256_hex(secret.as_bytes()),
            extra,
        };
        let audit = self.audit_by(principal);
        let inserted = self.store.insert_oauth_consumer(&consumer, &audit).await;
        inserted.map_err(store_error).map(|()| (consumer, secret))
    }

    pub async fn update_oauth_consumer(
        &self,
        principal: &Principal,
        id: &str,
        patch: ConsumerPatch,
    ) -> Result<OauthConsumerRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut consumer = self.get_oauth_consumer(id).await?;
        if let Some(description) = patch.description {
            consumer.description = description;
        }
        consumer.extra.extend(patch.extra);
        let audit = self.audit_by(principal);
        let updated = self.store.update_oauth_consumer(&consumer, &audit).await;
        updated
            .map_err(not_found(Resource::Consumer))
            .map(|()| consumer)
    }

    pub async fn delete_oauth_consumer(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let audit = self.audit_by(principal);
        let deleted = self.store.delete_oauth_consumer(id, &audit).await;
        deleted.map_err(not_found(Resource::Consumer))
    }

    pub async fn list_endpoint_groups(&self) -> Result<Vec<EndpointGroupRecord>, DomainError> {
        self.store.list_endpoint_groups().await.map_err(store_error)
    }

    pub async fn get_endpoint_group(&self, id: &str) -> Result<EndpointGroupRecord, DomainError> {
        let found = self.store.get_endpoint_group(id).await;
        found
            .map_err(store_error)?
            .ok_or(DomainError::NotFound(Resource::EndpointGroup))
    }

    /// Creates an endpoint group under a new id; `group.id` is ignored.
    pub async fn create_endpoint_group(
        &self,
        principal: &Principal,
        group: EndpointGroupRecord,
    ) -> Result<EndpointGroupRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let group = EndpointGroupRecord {
            id: new_id(),
            ..group
        };
        let audit = self.audit_by(principal);
        let inserted = self.store.insert_endpoint_group(&group, &audit).await;
        inserted.map_err(store_error).map(|()| group)
    }

    pub async fn update_endpoint_group(
        &self,
        principal: &Principal,
        id: &str,
        patch: EndpointGroupPatch,
    ) -> Result<EndpointGroupRecord, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let mut group = self.get_endpoint_group(id).await?;
        if let Some(name) = patch.name {
            group.name = name;
        }
        if let Some(description) = patch.description {
            group.description = description;
        }
        if let Some(filters) = patch.filters {
            group.filters = filters;
        }
        group.extra.extend(patch.extra);
        let audit = self.audit_by(principal);
        let updated = self.store.update_endpoint_group(&group, &audit).await;
        updated
            .map_err(not_found(Resource::EndpointGroup))
            .map(|()| group)
    }

    pub async fn delete_endpoint_group(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DomainError> {
        self.ensure_catalog_admin(principal).await?;
        let audit = self.audit_by(principal);
        let deleted = self.store.delete_endpoint_group(id, &audit).await;
        deleted.map_err(not_found(Resource::EndpointGroup))
    }
}
