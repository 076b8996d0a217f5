//! Tenants form one tree: root → partner → folder → customer → unit. A Keystone domain is a
//! tenant flagged as a domain; a Keystone project is any tenant.

use crate::ids::{TenantId, UserId};
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantKind {
    Root,
    Partner,
    Folder,
    Customer,
    Unit,
}

impl TenantKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantKind::Root => "root",
            TenantKind::Partner => "partner",
            TenantKind::Folder => "folder",
            TenantKind::Customer => "customer",
            TenantKind::Unit => "unit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "root" => TenantKind::Root,
            "partner" => TenantKind::Partner,
            "folder" => TenantKind::Folder,
            "customer" => TenantKind::Customer,
            "unit" => TenantKind::Unit,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub parent_id: Option<TenantId>,
    /// Ancestors from the root down to the parent; empty for the root.
    pub ancestors: Vec<TenantId>,
    pub kind: TenantKind,
    pub name: String,
    pub is_domain: bool,
    pub enabled: bool,
    pub language: String,
    pub owner_id: Option<UserId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Tenant {
    /// Whether `other` is this tenant or lies below it.
    pub fn contains(&self, other: &Tenant) -> bool {
        other.id == self.id || other.ancestors.contains(&self.id)
    }
}
