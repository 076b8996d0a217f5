//! Access policies (account face) and role assignments (keystone face) are one record:
//! trustee × tenant × role.

use crate::ids::{PolicyId, TenantId};
use crate::tenant::TenantKind;
use crate::time::Timestamp;

/// The roles Warden knows. Unknown role names from clients are kept as `Other` so that
/// service roles such as `backup_user` round-trip without granting anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    RootAdmin,
    PartnerAdmin,
    CompanyAdmin,
    UnitAdmin,
    ReadonlyAdmin,
    UserAdmin,
    Other(String),
}

impl Role {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "root_admin" => Role::RootAdmin,
            "partner_admin" => Role::PartnerAdmin,
            "company_admin" => Role::CompanyAdmin,
            "unit_admin" => Role::UnitAdmin,
            "readonly_admin" => Role::ReadonlyAdmin,
            "user_admin" => Role::UserAdmin,
            other => Role::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Role::RootAdmin => "root_admin",
            Role::PartnerAdmin => "partner_admin",
            Role::CompanyAdmin => "company_admin",
            Role::UnitAdmin => "unit_admin",
            Role::ReadonlyAdmin => "readonly_admin",
            Role::UserAdmin => "user_admin",
            Role::Other(name) => name,
        }
    }

    /// Service roles the account face accepts in access policies besides the admin roles. They
    /// grant nothing on the account face itself; other services read them from tokens.
    pub const SERVICE_ROLES: [&'static str; 10] = [
        "backup_user",
        "backup_admin",
        "protection_admin",
        "hci_admin",
        "sync_share_user",
        "sync_share_admin",
        "sync_share_guest",
        "monitoring_admin",
        "tenant_admin",
        "tenant_viewer",
    ];

    /// A role a client may assign: an admin role or a known service role.
    pub fn parse_assignable(raw: &str) -> Option<Self> {
        match Self::parse(raw) {
            Role::Other(name) if !Self::SERVICE_ROLES.contains(&name.as_str()) => None,
            role => Some(role),
        }
    }

    /// Whether this role may be held on a tenant of `kind`: each admin role belongs to its
    /// level of the tree; `readonly_admin`, `user_admin` and service roles fit anywhere below
    /// the root.
    pub fn allowed_on(&self, kind: TenantKind) -> bool {
        match self {
            Role::RootAdmin => kind == TenantKind::Root,
            Role::PartnerAdmin => matches!(kind, TenantKind::Partner | TenantKind::Folder),
            Role::CompanyAdmin => kind == TenantKind::Customer,
            Role::UnitAdmin => kind == TenantKind::Unit,
            Role::ReadonlyAdmin | Role::UserAdmin => true,
            Role::Other(_) => kind != TenantKind::Root,
        }
    }

    /// May grant roles to others: the tenant-level admin roles. `user_admin` manages user
    /// accounts but cannot hand out roles, so it cannot raise anyone's privileges.
    pub fn grants(&self) -> bool {
        matches!(
            self,
            Role::RootAdmin | Role::PartnerAdmin | Role::CompanyAdmin | Role::UnitAdmin
        )
    }

    /// May create, change and delete users and tenants of the subtree.
    pub fn manages(&self) -> bool {
        matches!(
            self,
            Role::RootAdmin
                | Role::PartnerAdmin
                | Role::CompanyAdmin
                | Role::UnitAdmin
                | Role::UserAdmin
        )
    }

    /// May read everything in the subtree.
    pub fn reads(&self) -> bool {
        self.manages() || matches!(self, Role::ReadonlyAdmin)
    }

    /// The administrator role of a tenant's level: what Keystone's `admin` role is when it is
    /// granted on a tenant of `kind`.
    pub fn admin_for(kind: TenantKind) -> Self {
        match kind {
            TenantKind::Root => Role::RootAdmin,
            TenantKind::Partner | TenantKind::Folder => Role::PartnerAdmin,
            TenantKind::Customer => Role::CompanyAdmin,
            TenantKind::Unit => Role::UnitAdmin,
        }
    }

    /// Whether a name is one of the account face's own roles, which Keystone role names may
    /// not take (a Keystone role of that name would grant what the account role grants).
    pub fn is_account_role(name: &str) -> bool {
        !matches!(Self::parse(name), Role::Other(_))
    }
}

/// How far a policy reaches from its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// The tenant and everything below it: every access policy of the account face.
    Tree,
    /// The tenant only: a Keystone role assignment.
    Tenant,
    /// Everything below the tenant but not the tenant itself: a Keystone assignment
    /// inherited to projects (`OS-INHERIT`).
    Below,
    /// A Keystone grant on a domain: it authorizes over everything in the domain, as a domain
    /// administrator or reader does, but as a role it is held in the domain's own scope only.
    Domain,
}

impl Reach {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reach::Tree => "tree",
            Reach::Tenant => "self",
            Reach::Below => "below",
            Reach::Domain => "domain",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "tree" => Some(Reach::Tree),
            "self" => Some(Reach::Tenant),
            "below" => Some(Reach::Below),
            "domain" => Some(Reach::Domain),
            _ => None,
        }
    }

    /// Whether a policy on `on` with this reach authorizes its holder on `tenant`.
    pub fn authorizes(&self, on: TenantId, tenant: &crate::Tenant) -> bool {
        let below = tenant.ancestors.contains(&on);
        match self {
            Reach::Tree | Reach::Domain => tenant.id == on || below,
            Reach::Tenant => tenant.id == on,
            Reach::Below => below,
        }
    }

    /// Whether a policy on `on` with this reach is a role its holder has in `tenant`'s scope:
    /// in tokens scoped to it, and among the effective role assignments on it.
    pub fn confers(&self, on: TenantId, tenant: &crate::Tenant) -> bool {
        let below = tenant.ancestors.contains(&on);
        match self {
            Reach::Tree => tenant.id == on || below,
            Reach::Tenant | Reach::Domain => tenant.id == on,
            Reach::Below => below,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrusteeType {
    User,
    Client,
    /// A Keystone group: every member holds the group's policies.
    Group,
}

impl TrusteeType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrusteeType::User => "user",
            TrusteeType::Client => "client",
            TrusteeType::Group => "group",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    pub id: PolicyId,
    pub trustee_id: uuid::Uuid,
    pub trustee_type: TrusteeType,
    pub tenant_id: TenantId,
    pub role: Role,
    pub reach: Reach,
    pub issuer_id: uuid::Uuid,
    pub version: i64,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_roles_belong_to_their_level_of_the_tree() {
        assert!(Role::RootAdmin.allowed_on(TenantKind::Root));
        assert!(!Role::RootAdmin.allowed_on(TenantKind::Partner));
        assert!(Role::PartnerAdmin.allowed_on(TenantKind::Folder));
        assert!(!Role::CompanyAdmin.allowed_on(TenantKind::Partner));
        assert!(Role::ReadonlyAdmin.allowed_on(TenantKind::Customer));
        assert!(!Role::parse("backup_user").allowed_on(TenantKind::Root));
    }

    #[test]
    fn only_known_roles_are_assignable() {
        assert_eq!(
            Role::parse_assignable("company_admin"),
            Some(Role::CompanyAdmin)
        );
        assert_eq!(
            Role::parse_assignable("backup_user"),
            Some(Role::Other("backup_user".into()))
        );
        assert_eq!(Role::parse_assignable("god_mode"), None);
        assert!(!Role::UserAdmin.grants());
    }
}
