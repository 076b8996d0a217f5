//! Access policies (role assignments), replaced as a whole set per trustee; and search over
//! the users and tenants of a subtree.

use async_trait::async_trait;
use warden_domain::{AccessPolicy, PolicyId, Tenant, TenantId, TenantKind};

use crate::{Audit, StoreError};

/// What a search hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchObject {
    User,
    Tenant,
}

/// One search hit, with what is needed to show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub object: SearchObject,
    pub id: uuid::Uuid,
    /// A user's tenant, or a tenant's parent.
    pub parent_id: Option<TenantId>,
    /// Tenant ids from the root of the tree down to the object's tenant (for a tenant, itself).
    pub tenant_path: Vec<TenantId>,
    /// A tenant's name or a user's login.
    pub name: String,
    pub kind: Option<TenantKind>,
    pub first_name: String,
    pub last_name: String,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Replaces every policy of `trustee` with `policies` in one transaction and returns the
    /// stored set — if the trustee still holds exactly the policies `expected` (by id), else
    /// `VersionMismatch`: the caller decided on a set that has changed since. `NotFound` when
    /// no user or API client has the id `trustee`.
    async fn replace_policies(
        &self,
        trustee: uuid::Uuid,
        expected: &[PolicyId],
        policies: &[AccessPolicy],
        audit: &Audit,
    ) -> Result<Vec<AccessPolicy>, StoreError>;

    /// Users and tenants inside `root`'s subtree whose login, e-mail, first or last name, or
    /// tenant name starts with `prefix` (already lowercased), at most `limit` of them. Each
    /// property is matched through its own index.
    async fn search(
        &self,
        root: &Tenant,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Every policy on a tenant of `root`'s subtree, with the home tenant of its holder (the
    /// user's or API client's own tenant).
    async fn policy_holders_in(
        &self,
        root: &Tenant,
    ) -> Result<Vec<(AccessPolicy, TenantId)>, StoreError>;

    /// The names of these tenants (unknown ids are left out).
    async fn tenant_names(&self, ids: &[TenantId]) -> Result<Vec<(TenantId, String)>, StoreError>;
}
