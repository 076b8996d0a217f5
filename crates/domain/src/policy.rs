//! Access policies (account face) and role assignments (keystone face) are one record:
//! trustee × tenant × role.

use crate::ids::{PolicyId, TenantId};
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrusteeType {
    User,
    Client,
}

impl TrusteeType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TrusteeType::User => "user",
            TrusteeType::Client => "client",
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
    pub issuer_id: uuid::Uuid,
    pub version: i64,
    pub created_at: Timestamp,
}
