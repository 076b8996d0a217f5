//! Keystone roles and role assignments. An assignment is an access policy: granting a role
//! to a user or group on a domain or project stores one policy (reach `Tenant`, or `Below`
//! when it is inherited to projects), so every face sees the same grants.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use warden_domain::keystone::{parse_name, parse_role_name, NewRole, RolePatch};
use warden_domain::policy::TrusteeType;
use warden_domain::{
    AccessPolicy, DomainError, GroupId, KeystoneRole, PolicyId, Reach, Resource, Role, RoleId,
    Tenant, TenantId, UserId,
};
use warden_store::{PolicyQuery, StoreError};

use crate::auth::Principal;
use crate::keystone::keystone_name;
use crate::{store_error, store_error_for, Warden};

/// The most projects one inherited assignment is expanded to by an `effective` listing.
pub const MAX_EFFECTIVE_EXPANSION: u32 = 1000;

/// A stable 32-hex id derived from a name, for roles that have no row: the account face's
/// service roles, which Keystone shows by name.
pub fn derived_role_id(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

/// A role as Keystone shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub domain_id: Option<TenantId>,
}

/// Every Keystone role and inference rule, to show the roles a policy gives.
#[derive(Clone, Debug, Default)]
pub struct RoleBook {
    roles: Vec<KeystoneRole>,
    /// (prior, implied) rules.
    inferences: Vec<(RoleId, RoleId)>,
}

impl RoleBook {
    pub fn new(roles: Vec<KeystoneRole>, inferences: Vec<(RoleId, RoleId)>) -> Self {
        Self { roles, inferences }
    }

    /// `held` with every role they imply, transitively, each once, in order of discovery.
    pub fn with_implied(&self, held: Vec<RoleView>) -> Vec<RoleView> {
        let mut all = held;
        let mut next = 0;
        while next < all.len() {
            let prior = all[next].id.clone();
            next += 1;
            for (_, implied) in self.inferences.iter().filter(|(p, _)| p.simple() == prior) {
                if let Some(role) = self.roles.iter().find(|r| r.id == *implied) {
                    let view = Self::view(role);
                    if !all.contains(&view) {
                        all.push(view);
                    }
                }
            }
        }
        all
    }

    fn global(&self, name: &str) -> Option<&KeystoneRole> {
        self.roles
            .iter()
            .find(|r| r.domain_id.is_none() && r.name == name)
    }

    fn view(role: &KeystoneRole) -> RoleView {
        RoleView {
            id: role.id.simple(),
            name: role.name.clone(),
            domain_id: role.domain_id,
        }
    }

    /// The Keystone role a policy's role shows as: every managing role is `admin`,
    /// `readonly_admin` is `reader`, other names are global roles, 32 hex digits a
    /// domain-specific role.
    pub fn view_of(&self, role: &Role) -> RoleView {
        let by_name = |name: &str| {
            self.global(name).map(Self::view).unwrap_or(RoleView {
                id: derived_role_id(name),
                name: name.to_owned(),
                domain_id: None,
            })
        };
        match role {
            r if r.manages() => by_name("admin"),
            Role::ReadonlyAdmin => by_name("reader"),
            Role::Other(name) => self
                .roles
                .iter()
                .find(|r| r.domain_id.is_some() && r.id.simple() == *name)
                .map(Self::view)
                .unwrap_or_else(|| by_name(name)),
            other => by_name(other.as_str()),
        }
    }
}

/// Who holds an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorId {
    User(UserId),
    Group(GroupId),
}

impl ActorId {
    fn uuid(&self) -> uuid::Uuid {
        match self {
            ActorId::User(id) => id.uuid(),
            ActorId::Group(id) => id.uuid(),
        }
    }
}

/// A grant as a Keystone route names it: the target (a domain, a project, or the system),
/// the actor, the role and whether it is inherited to the projects below.
#[derive(Clone, Debug)]
pub struct GrantRef<'a> {
    pub target: &'a str,
    pub on_domain: bool,
    /// On the whole deployment (`/v3/system/...`): held on the root with reach `Tree`, as the
    /// root's administrator holds `root_admin`.
    pub system: bool,
    pub actor: ActorRef<'a>,
    pub role: &'a str,
    pub inherited: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum ActorRef<'a> {
    User(&'a str),
    Group(&'a str),
}

/// One role assignment as `/v3/role_assignments` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub role: RoleView,
    pub actor: ActorId,
    pub tenant: TenantId,
    pub on_domain: bool,
    /// A role on the whole deployment: a policy reaching the root's whole tree.
    pub system: bool,
    pub inherited: bool,
}

/// Names of what an assignment refers to (`include_names`).
#[derive(Clone, Debug, Default)]
pub struct AssignmentNames {
    pub actor_name: String,
    pub actor_domain: Option<(TenantId, String)>,
    pub target_name: String,
    /// The domain of a project target.
    pub target_domain: Option<(TenantId, String)>,
}

/// The filters of `GET /v3/role_assignments`.
#[derive(Clone, Debug, Default)]
pub struct AssignmentQuery {
    pub user: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
    pub project: Option<String>,
    pub domain: Option<String>,
    /// Only assignments inherited to projects (`scope.OS-INHERIT:inherited_to=projects`).
    pub inherited_only: bool,
    /// Groups resolved to their members and inherited assignments to the projects they reach.
    pub effective: bool,
    /// Only roles on the system (`scope.system=all`).
    pub system: bool,
    /// With a project: the assignments on the projects below it too.
    pub include_subtree: bool,
}

/// The policy roles that mean `role` as granted anywhere (see `KeystoneRole::policy_role`).
fn held_as(role: &KeystoneRole) -> Vec<String> {
    match (role.domain_id, role.name.as_str()) {
        (None, "admin") => [
            Role::RootAdmin,
            Role::PartnerAdmin,
            Role::CompanyAdmin,
            Role::UnitAdmin,
            Role::UserAdmin,
        ]
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect(),
        (None, "reader") => vec![Role::ReadonlyAdmin.as_str().to_owned()],
        (None, name) => vec![name.to_owned()],
        (Some(_), _) => vec![role.id.simple()],
    }
}

fn role_store_error(e: StoreError) -> DomainError {
    match e {
        StoreError::Conflict(_) => DomainError::Conflict(Resource::Role),
        other => store_error_for(Resource::Role)(other),
    }
}

impl Warden {
    /// Every role and inference rule, for showing the roles policies give; from this node's
    /// cache (see `node_cache`): tokens show them on every issue and validation.
    pub async fn role_book(&self) -> Result<Arc<RoleBook>, DomainError> {
        if let Some(book) = self.role_cache.fresh() {
            return Ok(book);
        }
        let generation = self.role_cache.generation();
        let book = Arc::new(RoleBook::new(
            self.store.list_roles().await.map_err(store_error)?,
            self.store.role_inferences().await.map_err(store_error)?,
        ));
        self.role_cache.keep(generation, book.clone());
        Ok(book)
    }

    fn parse_role_id(raw: &str) -> Result<RoleId, DomainError> {
        RoleId::parse(raw).ok_or(DomainError::NotFound(Resource::Role))
    }

    async fn load_role(&self, raw: &str) -> Result<KeystoneRole, DomainError> {
        self.store
            .get_role(Self::parse_role_id(raw)?)
            .await
            .map_err(role_store_error)
    }

    /// A domain by id (`default` too), or `NotFound(Domain)`.
    pub(crate) async fn domain_by_id(&self, raw: &str) -> Result<Tenant, DomainError> {
        self.find_domain_by_id(raw)
            .await?
            .ok_or(DomainError::NotFound(Resource::Domain))
    }

    /// Roles with this name or any; global ones, or those of one domain when asked. Any
    /// authenticated caller may read the global roles; a domain's roles need read access to
    /// the domain.
    pub async fn list_roles(
        &self,
        principal: &Principal,
        name: Option<&str>,
        domain_id: Option<&str>,
    ) -> Result<Vec<KeystoneRole>, DomainError> {
        let domain = match domain_id {
            Some(raw) => match self.find_domain_by_id(raw).await? {
                Some(domain) if principal.can_read(&domain) => Some(domain.id),
                Some(_) => return Err(DomainError::Forbidden),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let mut roles = self.store.list_roles().await.map_err(store_error)?;
        roles.retain(|r| r.domain_id == domain && name.is_none_or(|n| r.name == n));
        Ok(roles)
    }

    pub async fn get_role(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<KeystoneRole, DomainError> {
        let role = self.load_role(raw_id).await?;
        if let Some(domain) = role.domain_id {
            if !principal.can_read(&*self.tenant(domain).await?) {
                return Err(DomainError::Forbidden);
            }
        }
        Ok(role)
    }

    /// Where a role is administered: its domain, or the root for a global role.
    async fn role_owner(&self, domain: Option<TenantId>) -> Result<Tenant, DomainError> {
        match domain {
            Some(id) => self.tenant(id).await.map(Arc::unwrap_or_clone),
            None => self.root().await,
        }
    }

    /// Creates a role; a global one needs an administrator of the root, a domain's one an
    /// administrator of the domain.
    pub async fn create_role(
        &self,
        principal: &Principal,
        new: NewRole,
    ) -> Result<KeystoneRole, DomainError> {
        let owner = self.role_owner(new.domain_id).await?;
        if new.domain_id.is_some() && !owner.is_domain {
            return Err(DomainError::NotFound(Resource::Domain));
        }
        if !principal.can_manage(&owner) {
            return Err(DomainError::Forbidden);
        }
        let role = KeystoneRole {
            id: RoleId::new_random(),
            name: parse_role_name(&new.name).map_err(|e| DomainError::Invalid(vec![e]))?,
            domain_id: new.domain_id,
            description: new.description,
            immutable: false,
            created_at: self.clock.now(),
        };
        let written = self
            .store
            .insert_role(&role, &self.audit_by(principal))
            .await;
        self.role_cache.invalidate();
        written.map_err(role_store_error)?;
        Ok(role)
    }

    pub async fn update_role(
        &self,
        principal: &Principal,
        raw_id: &str,
        patch: RolePatch,
    ) -> Result<KeystoneRole, DomainError> {
        let current = self.load_role(raw_id).await?;
        if !principal.can_manage(&self.role_owner(current.domain_id).await?) || current.immutable {
            return Err(DomainError::Forbidden);
        }
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name = parse_role_name(name).map_err(|e| DomainError::Invalid(vec![e]))?;
        }
        if let Some(description) = patch.description {
            next.description = description;
        }
        // A global role's policies hold it by name: a rename carries them over.
        let renamed = (current.domain_id.is_none() && next.name != current.name)
            .then_some((current.name.as_str(), next.name.as_str()));
        let written = self
            .store
            .update_role(&next, renamed, &self.audit_by(principal))
            .await;
        self.role_cache.invalidate();
        written.map_err(role_store_error)?;
        Ok(next)
    }

    /// Deletes a role and every assignment of it.
    pub async fn delete_role(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<(), DomainError> {
        let role = self.load_role(raw_id).await?;
        if !principal.can_manage(&self.role_owner(role.domain_id).await?) || role.immutable {
            return Err(DomainError::Forbidden);
        }
        let written = self
            .store
            .delete_role(&role, &held_as(&role), &self.audit_by(principal))
            .await;
        self.role_cache.invalidate();
        written.map_err(role_store_error)
    }

    /// The target, actor and role of a grant route, checked: changing a grant needs the right
    /// to grant roles on the target, reading one read access to it; a domain-specific role
    /// is granted only inside its domain.
    async fn resolve_grant(
        &self,
        principal: &Principal,
        grant: &GrantRef<'_>,
        change: bool,
    ) -> Result<(Tenant, ActorId, TenantId, KeystoneRole), DomainError> {
        let (target, actor, home) = self.resolve_target_actor(grant).await?;
        let role = self.load_role(grant.role).await?;
        let allowed = if change {
            principal.can_grant(&target)
        } else {
            principal.can_read(&target)
        };
        if !allowed {
            return Err(DomainError::Forbidden);
        }
        if let Some(domain) = role.domain_id {
            if change && self.domain_of(target.id).await?.id != domain {
                return Err(DomainError::Forbidden);
            }
        }
        Ok((target, actor, home, role))
    }

    /// The target and actor a grant route names, with the actor's home tenant (where the
    /// audit event of a change is recorded).
    async fn resolve_target_actor(
        &self,
        grant: &GrantRef<'_>,
    ) -> Result<(Tenant, ActorId, TenantId), DomainError> {
        let target = if grant.system {
            self.role_owner(None).await?
        } else if grant.on_domain {
            self.domain_by_id(grant.target).await?
        } else {
            self.find_tenant(grant.target)
                .await?
                .ok_or(DomainError::NotFound(Resource::Project))?
        };
        let (actor, home) = match grant.actor {
            ActorRef::User(raw) => {
                let id = UserId::parse(raw).ok_or(DomainError::NotFound(Resource::User))?;
                let user = self
                    .store
                    .get_user(id)
                    .await
                    .map_err(store_error_for(Resource::User))?;
                (ActorId::User(user.id), user.tenant_id)
            }
            ActorRef::Group(raw) => {
                let group = self.load_group(raw).await?;
                (ActorId::Group(group.id), group.domain_id)
            }
        };
        Ok((target, actor, home))
    }

    /// `PUT /v3/{domains|projects}/{id}/{users|groups}/{id}/roles/{role}` (and the
    /// `OS-INHERIT` form): grants the role; granting it again changes nothing.
    pub async fn grant_role(
        &self,
        principal: &Principal,
        grant: GrantRef<'_>,
    ) -> Result<(), DomainError> {
        let (target, actor, home, role) = self.resolve_grant(principal, &grant, true).await?;
        let policy = AccessPolicy {
            id: PolicyId::new_random(),
            trustee_id: actor.uuid(),
            trustee_type: match actor {
                ActorId::User(_) => TrusteeType::User,
                ActorId::Group(_) => TrusteeType::Group,
            },
            tenant_id: target.id,
            role: role.policy_role(target.kind),
            reach: if grant.system {
                Reach::Tree
            } else if grant.inherited {
                Reach::Below
            } else if target.is_domain {
                Reach::Domain
            } else {
                Reach::Tenant
            },
            issuer_id: principal
                .user_id()
                .map_or(principal.tenant_id.uuid(), |u| u.uuid()),
            version: 1,
            created_at: self.clock.now(),
        };
        self.store
            .grant_policy(&policy, home, &self.audit_by(principal))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::NotFound(Resource::Project),
                other => store_error(other),
            })?;
        Ok(())
    }

    /// The reaches a grant route's assignment may be stored with: a direct Keystone
    /// assignment, or an account-face policy (which reaches the tenant too).
    fn route_reaches(grant: &GrantRef<'_>) -> &'static [Reach] {
        if grant.system {
            &[Reach::Tree]
        } else if grant.inherited {
            &[Reach::Below]
        } else {
            &[Reach::Tenant, Reach::Domain, Reach::Tree]
        }
    }

    /// `HEAD`/`GET` of a grant: `NotFound(Role)` when the actor does not hold it.
    pub async fn check_grant(
        &self,
        principal: &Principal,
        grant: GrantRef<'_>,
    ) -> Result<(), DomainError> {
        let (target, actor, _, role) = self.resolve_grant(principal, &grant, false).await?;
        let held = self
            .store
            .find_policies(&PolicyQuery {
                trustees: Some(&[actor.uuid()]),
                tenants: Some(&[target.id]),
                roles: Some(&held_as(&role)),
            })
            .await
            .map_err(store_error)?;
        let reaches = Self::route_reaches(&grant);
        if held.iter().any(|p| reaches.contains(&p.reach)) {
            Ok(())
        } else {
            Err(DomainError::NotFound(Resource::Role))
        }
    }

    /// `DELETE` of a grant: `NotFound(Role)` when the actor did not hold it.
    pub async fn revoke_role(
        &self,
        principal: &Principal,
        grant: GrantRef<'_>,
    ) -> Result<(), DomainError> {
        let (target, actor, home, role) = self.resolve_grant(principal, &grant, true).await?;
        self.store
            .revoke_policies(
                actor.uuid(),
                target.id,
                Self::route_reaches(&grant),
                &held_as(&role),
                home,
                &self.audit_by(principal),
            )
            .await
            .map_err(store_error_for(Resource::Role))
    }

    /// `GET /v3/{domains|projects|system}/…/{users|groups}/{id}/roles` (and the `OS-INHERIT`
    /// form): the roles the actor holds there directly. The grant's role is not read.
    pub async fn list_grants(
        &self,
        principal: &Principal,
        probe: GrantRef<'_>,
    ) -> Result<Vec<RoleView>, DomainError> {
        let (target, actor, _) = self.resolve_target_actor(&probe).await?;
        if !principal.can_read(&target) {
            return Err(DomainError::Forbidden);
        }
        let held = self
            .store
            .find_policies(&PolicyQuery {
                trustees: Some(&[actor.uuid()]),
                tenants: Some(&[target.id]),
                roles: None,
            })
            .await
            .map_err(store_error)?;
        let book = self.role_book().await?;
        let reaches = Self::route_reaches(&probe);
        let mut roles: Vec<RoleView> = Vec::new();
        for policy in held.iter().filter(|p| reaches.contains(&p.reach)) {
            let view = book.view_of(&policy.role);
            if !roles.contains(&view) {
                roles.push(view);
            }
        }
        Ok(roles)
    }

    /// `GET /v3/role_assignments`: the assignments the caller may read (on tenants they can
    /// read, or their own), as asked.
    pub async fn role_assignments(
        &self,
        principal: &Principal,
        query: &AssignmentQuery,
    ) -> Result<Vec<Assignment>, DomainError> {
        let book = self.role_book().await?;
        let Some(scope) = self.assignment_scope(query).await? else {
            return Ok(Vec::new());
        };
        let role_filter = match &query.role {
            Some(raw) => match RoleId::parse(raw) {
                Some(id) => Some(id.simple()),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let trustees = self.assignment_trustees(query).await?;
        let tenant_ids: Option<Vec<TenantId>> = scope
            .as_ref()
            .map(|tenants| tenants.iter().map(|t| t.id).collect());
        let policies = self
            .store
            .find_policies(&PolicyQuery {
                trustees: trustees.as_deref(),
                tenants: tenant_ids.as_deref(),
                roles: None,
            })
            .await
            .map_err(store_error)?;
        let mut tenants: HashMap<TenantId, Option<Tenant>> = HashMap::new();
        let mut found: Vec<Assignment> = Vec::new();
        for policy in policies {
            let Some(tenant) = self.cached_tenant(&mut tenants, policy.tenant_id).await? else {
                continue;
            };
            let role = book.view_of(&policy.role);
            if role_filter.as_ref().is_some_and(|id| *id != role.id) {
                continue;
            }
            let actor = match policy.trustee_type {
                TrusteeType::User => ActorId::User(UserId::from_uuid(policy.trustee_id)),
                TrusteeType::Group => ActorId::Group(GroupId::from_uuid(policy.trustee_id)),
                TrusteeType::Client => continue,
            };
            let own = matches!(actor, ActorId::User(id) if principal.is_user(id));
            if !own && !principal.can_read(&tenant) {
                continue;
            }
            let inherited = policy.reach == Reach::Below;
            let system = policy.reach == Reach::Tree && tenant.parent_id.is_none();
            if query.system && !system {
                continue;
            }
            let assignment = Assignment {
                role,
                actor,
                tenant: tenant.id,
                on_domain: tenant.is_domain,
                system,
                inherited,
            };
            if query.effective {
                self.expand(&assignment, policy.reach, &tenant, query, &mut found)
                    .await?;
            } else if !query.inherited_only || inherited {
                found.push(assignment);
            }
        }
        if query.effective {
            found = Self::with_implied_assignments(&book, found);
            // A domain-specific role is never held as such: it only names the roles it
            // implies (Keystone leaves it out of effective listings and tokens).
            found.retain(|a| a.role.domain_id.is_none());
            found.dedup();
        }
        Ok(found)
    }

    /// Each effective assignment followed by one per role its role implies.
    fn with_implied_assignments(book: &RoleBook, found: Vec<Assignment>) -> Vec<Assignment> {
        let mut all = Vec::with_capacity(found.len());
        for assignment in found {
            for role in book.with_implied(vec![assignment.role.clone()]) {
                let implied = Assignment {
                    role,
                    ..assignment.clone()
                };
                if !all.contains(&implied) {
                    all.push(implied);
                }
            }
        }
        all
    }

    /// The tenants a listing is limited to (`None`: all), or `None` outright when a named
    /// scope does not exist.
    async fn assignment_scope(
        &self,
        query: &AssignmentQuery,
    ) -> Result<Option<Option<Vec<Tenant>>>, DomainError> {
        if let Some(raw) = &query.domain {
            return Ok(self.find_domain_by_id(raw).await?.map(|d| Some(vec![d])));
        }
        let Some(raw) = &query.project else {
            return Ok(Some(None));
        };
        let Some(project) = self.find_tenant(raw).await? else {
            return Ok(None);
        };
        let mut tenants = vec![project.clone()];
        if query.effective {
            // Inherited assignments above reach down to it.
            for id in &project.ancestors {
                tenants.push(Arc::unwrap_or_clone(self.tenant(*id).await?));
            }
        }
        if query.include_subtree {
            tenants.extend(self.subtree_below(&project).await?);
        }
        Ok(Some(Some(tenants)))
    }

    /// The trustees a listing is limited to (`None`: all); with `effective`, a user's groups
    /// too.
    async fn assignment_trustees(
        &self,
        query: &AssignmentQuery,
    ) -> Result<Option<Vec<uuid::Uuid>>, DomainError> {
        if let Some(raw) = &query.user {
            let Some(id) = UserId::parse(raw) else {
                return Ok(Some(Vec::new()));
            };
            let mut trustees = vec![id.uuid()];
            if query.effective {
                let groups = self
                    .store
                    .user_groups(id.uuid())
                    .await
                    .map_err(store_error)?;
                trustees.extend(groups.iter().map(|g| g.id.uuid()));
            }
            return Ok(Some(trustees));
        }
        if let Some(raw) = &query.group {
            return Ok(Some(
                GroupId::parse(raw).map(|g| g.uuid()).into_iter().collect(),
            ));
        }
        Ok(None)
    }

    /// An assignment as it takes effect: a group's for each member (only the user asked for,
    /// when one was), an inherited one on each project below its tenant (only the project
    /// asked for, when one was).
    async fn expand(
        &self,
        assignment: &Assignment,
        reach: Reach,
        tenant: &Tenant,
        query: &AssignmentQuery,
        found: &mut Vec<Assignment>,
    ) -> Result<(), DomainError> {
        let users: Vec<ActorId> = match assignment.actor {
            ActorId::User(_) => vec![assignment.actor],
            ActorId::Group(group) => self
                .store
                .group_members(group)
                .await
                .map_err(store_error)?
                .iter()
                .map(|u| ActorId::User(u.id))
                .filter(|a| {
                    query
                        .user
                        .as_deref()
                        .and_then(UserId::parse)
                        .is_none_or(|u| *a == ActorId::User(u))
                })
                .collect(),
        };
        let wanted_project = match &query.project {
            Some(raw) => self.find_tenant(raw).await?,
            None => None,
        };
        let mut targets: Vec<(TenantId, bool)> = Vec::new();
        if reach != Reach::Below {
            targets.push((tenant.id, tenant.is_domain));
        }
        // An account-face policy on a project reaches the projects below it; a grant on a
        // domain, Keystone's or the account face's, is held in the domain's scope only.
        let reaches_below = match reach {
            Reach::Below => true,
            Reach::Tree => !tenant.is_domain,
            Reach::Tenant | Reach::Domain => false,
        };
        if reaches_below {
            match &wanted_project {
                Some(project) if reach.confers(tenant.id, project) && project.id != tenant.id => {
                    targets.push((project.id, false));
                }
                Some(_) => {}
                None => {
                    for below in self.subtree_below(tenant).await? {
                        targets.push((below.id, below.is_domain));
                    }
                }
            }
        }
        for actor in users {
            for (id, on_domain) in &targets {
                let direct_on_asked = wanted_project.as_ref().is_none_or(|p| p.id == *id);
                if !direct_on_asked || (query.inherited_only && !assignment.inherited) {
                    continue;
                }
                found.push(Assignment {
                    role: assignment.role.clone(),
                    actor,
                    tenant: *id,
                    on_domain: *on_domain,
                    system: assignment.system && *id == assignment.tenant,
                    inherited: false,
                });
            }
        }
        Ok(())
    }

    /// The tenants strictly below `tenant`, at most [`MAX_EFFECTIVE_EXPANSION`].
    async fn subtree_below(&self, tenant: &Tenant) -> Result<Vec<Tenant>, DomainError> {
        let mut below = self
            .store
            .list_tenants(
                &warden_domain::tenant::TenantFilter::Subtree(tenant.id),
                None,
                MAX_EFFECTIVE_EXPANSION + 1,
            )
            .await
            .map_err(store_error)?;
        below.retain(|t| t.id != tenant.id);
        Ok(below)
    }

    /// A tenant by id, `default` naming the root; `None` when there is none.
    pub(crate) async fn find_tenant(&self, raw: &str) -> Result<Option<Tenant>, DomainError> {
        if let Some(domain) = self.find_domain_by_id(raw).await? {
            return Ok(Some(domain));
        }
        match TenantId::parse(raw) {
            Some(id) => match self.store.get_tenant(id).await {
                Ok(t) => Ok(Some(Arc::unwrap_or_clone(t))),
                Err(StoreError::NotFound) => Ok(None),
                Err(e) => Err(store_error(e)),
            },
            None => Ok(None),
        }
    }

    /// The names `include_names` adds to an assignment.
    pub async fn assignment_names(
        &self,
        assignment: &Assignment,
    ) -> Result<AssignmentNames, DomainError> {
        let mut names = AssignmentNames::default();
        let actor_home = match assignment.actor {
            ActorId::User(id) => match self.store.get_user(id).await {
                Ok(user) => {
                    names.actor_name = user.login.as_str().to_owned();
                    Some(user.tenant_id)
                }
                Err(_) => None,
            },
            ActorId::Group(id) => match self.store.get_group(id).await {
                Ok(group) => {
                    names.actor_name = group.name;
                    Some(group.domain_id)
                }
                Err(_) => None,
            },
        };
        if let Some(home) = actor_home {
            let domain = self.domain_of(home).await?;
            names.actor_domain = Some((domain.id, keystone_name(&domain).to_owned()));
        }
        let target = self.tenant(assignment.tenant).await?;
        names.target_name = keystone_name(&target).to_owned();
        if !assignment.on_domain {
            let domain = self.domain_of(target.id).await?;
            names.target_domain = Some((domain.id, keystone_name(&domain).to_owned()));
        }
        Ok(names)
    }
}

/// One inference rule: the prior role and what it implies.
#[derive(Clone, Debug)]
pub struct RoleInference {
    pub prior: KeystoneRole,
    pub implies: Vec<KeystoneRole>,
}

impl Warden {
    /// The two roles of an inference route; changing a rule needs an administrator of the
    /// prior role's domain (the root for a global one).
    async fn inference_roles(
        &self,
        principal: &Principal,
        prior: &str,
        implied: &str,
        change: bool,
    ) -> Result<(KeystoneRole, KeystoneRole), DomainError> {
        let prior = self.load_role(prior).await?;
        let implied = self.load_role(implied).await?;
        let owner = self.role_owner(prior.domain_id).await?;
        let allowed = if change {
            principal.can_manage(&owner)
        } else {
            principal.can_read(&owner)
        };
        if !allowed {
            return Err(DomainError::Forbidden);
        }
        Ok((prior, implied))
    }

    /// `PUT /v3/roles/{prior}/implies/{implied}`. A global role cannot imply a domain's role,
    /// and nothing may imply `admin` (Keystone's prohibited implied role); both 403.
    pub async fn add_role_inference(
        &self,
        principal: &Principal,
        prior: &str,
        implied: &str,
    ) -> Result<(KeystoneRole, KeystoneRole), DomainError> {
        let (prior, implied) = self
            .inference_roles(principal, prior, implied, true)
            .await?;
        let admin = implied.domain_id.is_none() && implied.name == "admin";
        if admin
            || (prior.domain_id.is_none() && implied.domain_id.is_some())
            || prior.id == implied.id
        {
            return Err(DomainError::Forbidden);
        }
        let written = self
            .store
            .add_role_inference(&prior, &implied, &self.audit_by(principal))
            .await;
        self.role_cache.invalidate();
        written.map_err(role_store_error)?;
        Ok((prior, implied))
    }

    /// `GET`/`HEAD /v3/roles/{prior}/implies/{implied}`: `NotFound(Role)` without the rule.
    pub async fn get_role_inference(
        &self,
        principal: &Principal,
        prior: &str,
        implied: &str,
    ) -> Result<(KeystoneRole, KeystoneRole), DomainError> {
        let (prior, implied) = self
            .inference_roles(principal, prior, implied, false)
            .await?;
        let rules = self.store.role_inferences().await.map_err(store_error)?;
        if rules.contains(&(prior.id, implied.id)) {
            Ok((prior, implied))
        } else {
            Err(DomainError::NotFound(Resource::Role))
        }
    }

    /// `DELETE /v3/roles/{prior}/implies/{implied}`.
    pub async fn remove_role_inference(
        &self,
        principal: &Principal,
        prior: &str,
        implied: &str,
    ) -> Result<(), DomainError> {
        let (prior, implied) = self
            .inference_roles(principal, prior, implied, true)
            .await?;
        let written = self
            .store
            .remove_role_inference(&prior, &implied, &self.audit_by(principal))
            .await;
        self.role_cache.invalidate();
        written.map_err(role_store_error)
    }

    /// `GET /v3/role_inferences` (every prior role) or `GET /v3/roles/{prior}/implies` (one):
    /// the rules whose prior role the caller may read, each prior role with what it implies
    /// directly.
    pub async fn role_inferences(
        &self,
        principal: &Principal,
        prior: Option<&str>,
    ) -> Result<Vec<RoleInference>, DomainError> {
        let only = match prior {
            Some(raw) => Some(self.get_role(principal, raw).await?.id),
            None => None,
        };
        let roles = self.store.list_roles().await.map_err(store_error)?;
        let rules = self.store.role_inferences().await.map_err(store_error)?;
        let find = |id: &RoleId| roles.iter().find(|r| r.id == *id).cloned();
        let mut found: Vec<RoleInference> = Vec::new();
        for (p, i) in &rules {
            if only.is_some_and(|o| o != *p) {
                continue;
            }
            let (Some(prior), Some(implied)) = (find(p), find(i)) else {
                continue;
            };
            match found.iter_mut().find(|r| r.prior.id == prior.id) {
                Some(rule) => rule.implies.push(implied),
                None => found.push(RoleInference {
                    prior,
                    implies: vec![implied],
                }),
            }
        }
        if let (Some(id), true) = (only, found.is_empty()) {
            if let Some(prior) = find(&id) {
                found.push(RoleInference {
                    prior,
                    implies: Vec::new(),
                });
            }
        }
        let mut readable = Vec::with_capacity(found.len());
        for rule in found {
            if principal.can_read(&self.role_owner(rule.prior.domain_id).await?) {
                readable.push(rule);
            }
        }
        Ok(readable)
    }
}

/// Parses a role body's name for a create (`name` required).
pub fn new_role(
    name: Option<&str>,
    domain_id: Option<TenantId>,
    description: Option<String>,
) -> Result<NewRole, DomainError> {
    let name = name
        .ok_or_else(|| DomainError::invalid("role.name", warden_domain::FieldErrorKind::Missing))?;
    parse_name("role.name", name).map_err(|e| DomainError::Invalid(vec![e]))?;
    Ok(NewRole {
        name: name.to_owned(),
        domain_id,
        description: description.unwrap_or_default(),
    })
}
