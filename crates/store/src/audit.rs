//! The audit trail: every change the store makes to a tenant, user, API client or policy set is
//! recorded as one event, written by the backend in the same transaction as the change, so an
//! event exists exactly when its change does. Reads never write events.

use async_trait::async_trait;
use warden_domain::{ApiClient, ClientId, Tenant, TenantId, Timestamp, User, UserId};

use crate::StoreError;

/// Who asks for a change, and in which request. Every write method of the store takes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    pub actor: Actor,
    /// The `X-Request-Id` of the request that made the change; empty outside a request.
    pub request_id: String,
    pub at: Timestamp,
}

impl Audit {
    pub fn new(actor: Actor, request_id: impl Into<String>, at: Timestamp) -> Self {
        Self {
            actor,
            request_id: request_id.into(),
            at,
        }
    }

    /// A change the server makes on its own (first start, maintenance).
    pub fn system(at: Timestamp) -> Self {
        Self::new(Actor::System, String::new(), at)
    }

    /// The stored id of the actor of `change`; a link holder is recorded under the id of the
    /// user the change is about (the one the link was mailed to).
    pub fn actor_id(&self, change: &Change) -> Option<String> {
        match self.actor {
            Actor::User(id) => Some(id.to_string()),
            Actor::Client(id) => Some(id.to_string()),
            Actor::LinkHolder => Some(change.object_id.clone()),
            Actor::System => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    Client(ClientId),
    /// Whoever presented a mailed one-time link (activation, e-mail change confirmation); the
    /// event names the user the link was issued to.
    LinkHolder,
    /// The server itself.
    System,
}

impl Actor {
    /// The stored kind: `user`, `client`, `link` or `system`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::Client(_) => "client",
            Actor::LinkHolder => "link",
            Actor::System => "system",
        }
    }
}

/// What kind of object an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Tenant,
    User,
    Client,
    /// The set of access policies held by one user or API client (the object id is theirs).
    Policies,
    /// A user's permanent access key (the object id is the access key id).
    Credential,
    /// A Keystone role.
    Role,
    /// A Keystone group, and its members.
    Group,
    /// A region, service or endpoint of the Keystone catalog (recorded in the root tenant).
    Region,
    Service,
    Endpoint,
    /// A Keystone credential (`/v3/credentials`), recorded in its user's tenant.
    KeystoneCredential,
    /// A Keystone application credential, recorded in its user's tenant.
    ApplicationCredential,
    /// A Keystone policy, OAuth consumer or endpoint group (recorded in the root tenant).
    KeystonePolicy,
    OauthConsumer,
    EndpointGroup,
    /// A domain's configuration (`/v3/domains/{id}/config`), recorded in the domain.
    DomainConfig,
}

impl ObjectType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectType::Tenant => "tenant",
            ObjectType::User => "user",
            ObjectType::Client => "client",
            ObjectType::Policies => "access_policies",
            ObjectType::Credential => "credential",
            ObjectType::Role => "role",
            ObjectType::Group => "group",
            ObjectType::Region => "region",
            ObjectType::Service => "service",
            ObjectType::Endpoint => "endpoint",
            ObjectType::KeystoneCredential => "keystone_credential",
            ObjectType::ApplicationCredential => "application_credential",
            ObjectType::KeystonePolicy => "keystone_policy",
            ObjectType::OauthConsumer => "oauth_consumer",
            ObjectType::EndpointGroup => "endpoint_group",
            ObjectType::DomainConfig => "domain_config",
        }
    }
}

/// One change as the backends record it: the object, what happened to it, its version before
/// and after, and the tenant it lives in (for a tenant, the tenant itself).
#[derive(Clone, Debug)]
pub struct Change {
    pub tenant_id: TenantId,
    pub object_type: ObjectType,
    pub object_id: String,
    pub action: &'static str,
    pub old_version: Option<i64>,
    pub new_version: Option<i64>,
}

impl Change {
    pub fn new(
        object_type: ObjectType,
        object_id: impl ToString,
        tenant_id: TenantId,
        action: &'static str,
    ) -> Self {
        Self {
            tenant_id,
            object_type,
            object_id: object_id.to_string(),
            action,
            old_version: None,
            new_version: None,
        }
    }

    pub fn versions(mut self, old: Option<i64>, new: Option<i64>) -> Self {
        self.old_version = old;
        self.new_version = new;
        self
    }

    pub fn created_user(user: &User) -> Self {
        Self::new(ObjectType::User, user.id, user.tenant_id, "create")
            .versions(None, Some(user.version))
    }

    /// A change that raised the stored user's version by one.
    pub fn updated_user(stored: &User, action: &'static str) -> Self {
        Self::new(ObjectType::User, stored.id, stored.tenant_id, action)
            .versions(Some(stored.version - 1), Some(stored.version))
    }

    pub fn created_tenant(tenant: &Tenant) -> Self {
        Self::new(ObjectType::Tenant, tenant.id, tenant.id, "create")
            .versions(None, Some(tenant.version))
    }

    pub fn updated_tenant(stored: &Tenant, action: &'static str) -> Self {
        Self::new(ObjectType::Tenant, stored.id, stored.id, action)
            .versions(Some(stored.version - 1), Some(stored.version))
    }

    pub fn created_client(client: &ApiClient) -> Self {
        Self::new(ObjectType::Client, client.id, client.tenant_id, "create")
            .versions(None, Some(client.version))
    }

    pub fn updated_client(stored: &ApiClient, action: &'static str) -> Self {
        Self::new(ObjectType::Client, stored.id, stored.tenant_id, action)
            .versions(Some(stored.version - 1), Some(stored.version))
    }

    /// The policy set of `trustee`, whose home tenant is `tenant`, was replaced.
    pub fn replaced_policies(trustee: uuid::Uuid, tenant: TenantId) -> Self {
        Self::new(ObjectType::Policies, trustee, tenant, "replace")
    }
}

/// A recorded change, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the trail; strictly increasing in commit order on SQLite, in insertion
    /// order on PostgreSQL.
    pub seq: i64,
    pub at: Timestamp,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub tenant_id: TenantId,
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    pub old_version: Option<i64>,
    pub new_version: Option<i64>,
    pub request_id: String,
}

/// Which events to read.
#[derive(Clone, Debug)]
pub struct AuditQuery<'a> {
    /// Only events about objects in this tenant's subtree (at the time of the change).
    pub subtree_of: &'a Tenant,
    pub object_id: Option<&'a str>,
    /// Only events after this position.
    pub after: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// One page of the trail in order of `seq`.
    async fn audit_events(&self, query: &AuditQuery<'_>) -> Result<Vec<AuditEvent>, StoreError>;
}
