//! Keystone's roles, groups and group membership, and role assignments as access policies
//! granted and revoked one at a time.

use async_trait::async_trait;
use warden_domain::{AccessPolicy, Group, GroupId, KeystoneRole, Reach, RoleId, TenantId, User};

use crate::{Audit, StoreError};

/// Which policies to read; `None` places no condition.
#[derive(Clone, Debug, Default)]
pub struct PolicyQuery<'a> {
    /// Held by one of these users, API clients or groups.
    pub trustees: Option<&'a [uuid::Uuid]>,
    /// On one of these tenants.
    pub tenants: Option<&'a [TenantId]>,
    /// Holding one of these roles (as stored, see `KeystoneRole::policy_role`).
    pub roles: Option<&'a [String]>,
}

#[async_trait]
pub trait KeystoneStore: Send + Sync {
    /// `Conflict("unique")` when a role of the same domain (or a global one) has the name.
    async fn insert_role(&self, role: &KeystoneRole, audit: &Audit) -> Result<(), StoreError>;

    async fn get_role(&self, id: RoleId) -> Result<KeystoneRole, StoreError>;

    /// Every role, global and domain-specific, ordered by name.
    async fn list_roles(&self) -> Result<Vec<KeystoneRole>, StoreError>;

    /// Writes a changed role. A global role's policies hold it by name, so a rename carries
    /// them over in the same transaction: `renamed` is (old name, new name) then.
    async fn update_role(
        &self,
        role: &KeystoneRole,
        renamed: Option<(&str, &str)>,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// Deletes a role and every policy holding it (`held_as`: the stored role names).
    async fn delete_role(
        &self,
        role: &KeystoneRole,
        held_as: &[String],
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// Makes `prior` imply `implied` (a no-op when it already does).
    async fn add_role_inference(
        &self,
        prior: &KeystoneRole,
        implied: &KeystoneRole,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// `NotFound` when `prior` did not imply `implied`.
    async fn remove_role_inference(
        &self,
        prior: &KeystoneRole,
        implied: &KeystoneRole,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// Every inference rule as (prior, implied).
    async fn role_inferences(&self) -> Result<Vec<(RoleId, RoleId)>, StoreError>;

    /// `Conflict("unique")` when the domain already has a group of that name.
    async fn insert_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError>;

    async fn get_group(&self, id: GroupId) -> Result<Group, StoreError>;

    /// Groups of one domain or of all, with one name or any, ordered by name.
    async fn list_groups(
        &self,
        domain: Option<TenantId>,
        name: Option<&str>,
    ) -> Result<Vec<Group>, StoreError>;

    async fn update_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError>;

    /// Deletes a group, its memberships and its policies.
    async fn delete_group(&self, group: &Group, audit: &Audit) -> Result<(), StoreError>;

    /// Adds a member (a no-op when already one). `NotFound` when either went away.
    async fn add_group_member(
        &self,
        group: &Group,
        user: &User,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// Removes a member; `NotFound` when the user was not one.
    async fn remove_group_member(
        &self,
        group: &Group,
        user: &User,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    async fn is_group_member(&self, group: GroupId, user: uuid::Uuid) -> Result<bool, StoreError>;

    /// The members of a group, ordered by login.
    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError>;

    /// The groups a user is a member of, ordered by name.
    async fn user_groups(&self, user: uuid::Uuid) -> Result<Vec<Group>, StoreError>;

    /// Grants one policy; when the trustee already holds the same role on the tenant with the
    /// same reach, nothing changes and the stored one is returned. `NotFound` when the
    /// tenant went away. The audit event is recorded in `home` (the trustee's tenant or
    /// domain).
    async fn grant_policy(
        &self,
        policy: &AccessPolicy,
        home: TenantId,
        audit: &Audit,
    ) -> Result<AccessPolicy, StoreError>;

    /// Revokes what `trustee` holds on `tenant` with one of `reaches` among `roles`;
    /// `NotFound` when it held none of them.
    async fn revoke_policies(
        &self,
        trustee: uuid::Uuid,
        tenant: TenantId,
        reaches: &[Reach],
        roles: &[String],
        home: TenantId,
        audit: &Audit,
    ) -> Result<(), StoreError>;

    /// Policies as asked, ordered by creation.
    async fn find_policies(&self, query: &PolicyQuery<'_>)
        -> Result<Vec<AccessPolicy>, StoreError>;

    /// What a user holds: their own policies and those of every group they are a member of.
    async fn held_policies(&self, user: uuid::Uuid) -> Result<Vec<AccessPolicy>, StoreError>;
}
