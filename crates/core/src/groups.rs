//! Keystone groups: named sets of users in a domain. A group holds role assignments, and
//! every member holds them through it.

use std::sync::Arc;

use warden_domain::keystone::{parse_name, GroupPatch};
use warden_domain::{DomainError, Group, GroupId, Resource, User};
use warden_store::StoreError;

use crate::auth::Principal;
use crate::{store_error, store_error_for, Warden};

fn group_store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::Conflict(_) => DomainError::Conflict(Resource::Group),
        other => store_error_for(Resource::Group)(other),
    }
}

impl Warden {
    pub(crate) async fn load_group(&self, raw: &str) -> Result<Group, DomainError> {
        let id = GroupId::parse(raw).ok_or(DomainError::NotFound(Resource::Group))?;
        self.store.get_group(id).await.map_err(group_store_error)
    }

    /// A group the caller may read (read access to its domain).
    pub async fn get_group(&self, principal: &Principal, raw: &str) -> Result<Group, DomainError> {
        let group = self.load_group(raw).await?;
        if !principal.can_read(&*self.tenant(group.domain_id).await?) {
            return Err(DomainError::Forbidden);
        }
        Ok(group)
    }

    /// A group the caller may change (a managing role on its domain).
    async fn managed_group(&self, principal: &Principal, raw: &str) -> Result<Group, DomainError> {
        let group = self.load_group(raw).await?;
        if !principal.can_manage(&*self.tenant(group.domain_id).await?) {
            return Err(DomainError::Forbidden);
        }
        Ok(group)
    }

    /// The groups of the domains the caller may read; of one domain, with one name, as asked.
    pub async fn list_groups(
        &self,
        principal: &Principal,
        domain_id: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Group>, DomainError> {
        let domain = match domain_id {
            Some(raw) => match self.find_domain_by_id(raw).await? {
                Some(domain) => Some(domain.id),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let groups = self
            .store
            .list_groups(domain, name)
            .await
            .map_err(store_error)?;
        self.readable_groups(principal, groups).await
    }

    async fn readable_groups(
        &self,
        principal: &Principal,
        groups: Vec<Group>,
    ) -> Result<Vec<Group>, DomainError> {
        let mut readable = Vec::with_capacity(groups.len());
        for group in groups {
            if principal.can_read(&*self.tenant(group.domain_id).await?) {
                readable.push(group);
            }
        }
        Ok(readable)
    }

    /// Creates a group in a domain the caller manages (the caller's own domain by default).
    pub async fn create_group(
        &self,
        principal: &Principal,
        domain_id: Option<&str>,
        name: &str,
        description: String,
    ) -> Result<Group, DomainError> {
        let domain = match domain_id {
            Some(raw) => self.domain_by_id(raw).await?,
            None => self.domain_of(principal.tenant_id).await?,
        };
        if !principal.can_manage(&domain) {
            return Err(DomainError::Forbidden);
        }
        let group = Group {
            id: GroupId::new_random(),
            domain_id: domain.id,
            name: parse_name("group.name", name).map_err(|e| DomainError::Invalid(vec![e]))?,
            description,
            created_at: self.clock.now(),
        };
        self.store
            .insert_group(&group, &self.audit_by(principal))
            .await
            .map_err(group_store_error)?;
        Ok(group)
    }

    pub async fn update_group(
        &self,
        principal: &Principal,
        raw: &str,
        patch: GroupPatch,
    ) -> Result<Group, DomainError> {
        let mut group = self.managed_group(principal, raw).await?;
        if let Some(name) = &patch.name {
            group.name =
                parse_name("group.name", name).map_err(|e| DomainError::Invalid(vec![e]))?;
        }
        if let Some(description) = patch.description {
            group.description = description;
        }
        self.store
            .update_group(&group, &self.audit_by(principal))
            .await
            .map_err(group_store_error)?;
        Ok(group)
    }

    /// Deletes a group with its memberships and assignments.
    pub async fn delete_group(&self, principal: &Principal, raw: &str) -> Result<(), DomainError> {
        let group = self.managed_group(principal, raw).await?;
        self.store
            .delete_group(&group, &self.audit_by(principal))
            .await
            .map_err(group_store_error)
    }

    /// The group and user of a membership route: the caller manages the group's domain and may
    /// read the user.
    async fn membership(
        &self,
        principal: &Principal,
        group: &str,
        user: &str,
        change: bool,
    ) -> Result<(Group, User), DomainError> {
        let group = if change {
            self.managed_group(principal, group).await?
        } else {
            self.get_group(principal, group).await?
        };
        let user = self.get_user(principal, user).await?;
        Ok((group, Arc::unwrap_or_clone(user)))
    }

    /// `PUT /v3/groups/{group}/users/{user}`.
    pub async fn add_group_member(
        &self,
        principal: &Principal,
        group: &str,
        user: &str,
    ) -> Result<(), DomainError> {
        let (group, user) = self.membership(principal, group, user, true).await?;
        self.store
            .add_group_member(&group, &user, &self.audit_by(principal))
            .await
            .map_err(group_store_error)
    }

    /// `DELETE /v3/groups/{group}/users/{user}`: `NotFound(User)` when not a member.
    pub async fn remove_group_member(
        &self,
        principal: &Principal,
        group: &str,
        user: &str,
    ) -> Result<(), DomainError> {
        let (group, user) = self.membership(principal, group, user, true).await?;
        self.store
            .remove_group_member(&group, &user, &self.audit_by(principal))
            .await
            .map_err(store_error_for(Resource::User))
    }

    /// `HEAD /v3/groups/{group}/users/{user}`: `NotFound(User)` when not a member.
    pub async fn check_group_member(
        &self,
        principal: &Principal,
        group: &str,
        user: &str,
    ) -> Result<(), DomainError> {
        let (group, user) = self.membership(principal, group, user, false).await?;
        if self
            .store
            .is_group_member(group.id, user.id.uuid())
            .await
            .map_err(store_error)?
        {
            Ok(())
        } else {
            Err(DomainError::NotFound(Resource::User))
        }
    }

    /// `GET /v3/groups/{group}/users`: the members the caller may read.
    pub async fn group_members(
        &self,
        principal: &Principal,
        group: &str,
    ) -> Result<Vec<User>, DomainError> {
        let group = self.get_group(principal, group).await?;
        self.store
            .group_members(group.id)
            .await
            .map_err(store_error)
    }

    /// `GET /v3/users/{user}/groups`: the user's groups that the caller may read.
    pub async fn user_groups(
        &self,
        principal: &Principal,
        user: &str,
    ) -> Result<Vec<Group>, DomainError> {
        let user = self.get_user(principal, user).await?;
        let groups = self
            .store
            .user_groups(user.id.uuid())
            .await
            .map_err(store_error)?;
        if principal.is_user(user.id) {
            return Ok(groups);
        }
        self.readable_groups(principal, groups).await
    }
}
