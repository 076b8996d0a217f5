//! Tenants: create, read, list with cursor paging, change with `version`, move, delete with cascade.
//!
//! Every structural change (create, move, delete) re-reads the tenants it depends on inside its
//! own transaction, so the tree stays consistent whatever the service checked before.

use async_trait::async_trait;
use warden_domain::tenant::TenantFilter;
use warden_domain::{Tenant, TenantId, User, UserId};

use crate::{Audit, StoreError};

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Inserts `tenant` under its parent. The stored path is the parent's path at that moment
    /// (`tenant.ancestors` is not trusted) and the parent gains `has_children`.
    /// `NotFound` when the parent is gone, `Conflict("parent_disabled")` when it is disabled,
    /// `Conflict("tenant_name")` when a sibling has the same name. Returns the stored tenant.
    async fn insert_tenant(&self, tenant: &Tenant, audit: &Audit) -> Result<Tenant, StoreError>;

    /// Inserts a user and its personal tenant (a child of the user's tenant, owned by the user)
    /// in one transaction. `Conflict("login")` when the login is taken, `NotFound` when the
    /// user's tenant is gone.
    async fn insert_user_with_personal_tenant(
        &self,
        user: &User,
        personal: &Tenant,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// One page of the tenants `filter` selects, ordered by depth (the root first) and then
    /// id, starting after the `(depth, id)` of the previous page's last tenant, at most
    /// `limit` of them. A subtree includes its root.
    async fn list_tenants(
        &self,
        filter: &TenantFilter,
        after: Option<(i64, TenantId)>,
        limit: u32,
    ) -> Result<Vec<Tenant>, StoreError>;

    /// The direct children of a tenant, by name and then id.
    async fn child_tenants(&self, parent: TenantId) -> Result<Vec<Tenant>, StoreError>;

    /// Writes `next` if the stored version is still `expected_version`, setting the version to
    /// `expected_version + 1` and `updated_at` to `audit.at`; returns the stored result.
    ///
    /// When `next.parent_id` differs from the stored one the tenant moves: the new parent is
    /// re-read in the same transaction (`NotFound` when gone, `Conflict("tenant_cycle")` when
    /// it is the tenant or lies below it, `Conflict("parent_disabled")` when disabled), the
    /// path of the whole subtree is rewritten and both parents' `has_children` are kept.
    /// `Conflict("tenant_name")` when a sibling has the same name.
    async fn update_tenant_if_version(
        &self,
        next: &Tenant,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<Tenant, StoreError>;

    /// Deletes the tenant if its version is still `expected_version`, with its whole subtree
    /// and everything in it, in one transaction: the users of those tenants and their
    /// policies, the API clients and their policies, and every policy on those tenants. A
    /// user elsewhere whose personal tenant goes loses the reference (and gets a new version).
    async fn delete_tenant_if_version(
        &self,
        id: TenantId,
        expected_version: i64,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// The ids of the users of a tenant (with `subtree`, of it and every tenant below it),
    /// ordered by login.
    async fn tenant_user_ids(
        &self,
        tenant: TenantId,
        subtree: bool,
    ) -> Result<Vec<UserId>, StoreError>;
}
