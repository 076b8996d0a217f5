//! Keystone's own objects: roles and groups. Role assignments are access policies
//! ([`crate::AccessPolicy`]); domains and projects are tenants.

use crate::error::{FieldError, FieldErrorKind};
use crate::ids::{GroupId, RoleId, TenantId};
use crate::policy::Role;
use crate::tenant::TenantKind;
use crate::time::Timestamp;

/// The roles `keystone-manage bootstrap` creates, each implying the next.
pub const BOOTSTRAP_ROLES: [&str; 3] = ["admin", "member", "reader"];

/// Keystone's longest name (roles, groups, projects, domains).
pub const MAX_NAME_CHARS: usize = 255;

/// A Keystone role: global when `domain_id` is `None`, else named within its domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoneRole {
    pub id: RoleId,
    pub name: String,
    pub domain_id: Option<TenantId>,
    pub description: String,
    /// The bootstrap roles can be neither changed nor deleted (Keystone's `immutable` option).
    pub immutable: bool,
    pub created_at: Timestamp,
}

impl KeystoneRole {
    /// The role an access policy holds when this role is granted on a tenant of `kind`.
    ///
    /// The global `admin` and `reader` are the account face's administrator roles — `admin`
    /// is the administrator of the tenant's level, `reader` is `readonly_admin` — so one grant
    /// means the same through every face. Other global roles are held by name; a
    /// domain-specific role by its id, since its name may repeat in another domain.
    pub fn policy_role(&self, kind: TenantKind) -> Role {
        match (self.domain_id, self.name.as_str()) {
            (None, "admin") => Role::admin_for(kind),
            (None, "reader") => Role::ReadonlyAdmin,
            (None, name) => Role::Other(name.to_owned()),
            (Some(_), _) => Role::Other(self.id.simple()),
        }
    }

    /// Whether a policy's role is this role as granted (see [`Self::policy_role`]).
    pub fn is_held_as(&self, role: &Role) -> bool {
        match (self.domain_id, self.name.as_str()) {
            (None, "admin") => role.manages(),
            (None, "reader") => *role == Role::ReadonlyAdmin,
            (None, name) => matches!(role, Role::Other(n) if n == name),
            (Some(_), _) => matches!(role, Role::Other(n) if *n == self.id.simple()),
        }
    }
}

/// A role to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRole {
    pub name: String,
    pub domain_id: Option<TenantId>,
    pub description: String,
}

/// A change to a role. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A Keystone group of users, in a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub domain_id: TenantId,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
}

/// A change to a group. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A Keystone name: 1 to 255 characters, not only blanks.
pub fn parse_name(field: &str, raw: &str) -> Result<String, FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::new(field, FieldErrorKind::Missing));
    }
    if raw.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(field, FieldErrorKind::TooLong));
    }
    Ok(raw.to_owned())
}

/// A role name: a Keystone name that is not one of the account face's roles.
pub fn parse_role_name(raw: &str) -> Result<String, FieldError> {
    let name = parse_name("name", raw)?;
    if Role::is_account_role(&name) {
        return Err(FieldError::new("name", FieldErrorKind::Invalid));
    }
    Ok(name)
}

/// Which kind a new Keystone project takes under a parent of `parent` kind: a customer under
/// the provider levels (a domain is one), a unit inside a customer's organisation.
pub fn project_kind_under(parent: TenantKind) -> TenantKind {
    match parent {
        TenantKind::Root | TenantKind::Partner | TenantKind::Folder => TenantKind::Customer,
        TenantKind::Customer | TenantKind::Unit => TenantKind::Unit,
    }
}

/// A project tag: 1 to 255 characters, no `/` or `,` (Keystone's rule).
pub fn parse_tag(raw: &str) -> Result<String, FieldError> {
    if raw.is_empty() || raw.chars().count() > MAX_NAME_CHARS || raw.contains(['/', ',']) {
        return Err(FieldError::new("tags", FieldErrorKind::Invalid));
    }
    Ok(raw.to_owned())
}

/// Keystone's limit on the tags of one project.
pub const MAX_TAGS: usize = 80;

/// A whole set of tags: each valid, at most [`MAX_TAGS`], duplicates dropped in order.
pub fn parse_tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, FieldError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = parse_tag(tag)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(FieldError::new("tags", FieldErrorKind::TooLong));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, domain: Option<TenantId>) -> KeystoneRole {
        KeystoneRole {
            id: RoleId::new_random(),
            name: name.to_owned(),
            domain_id: domain,
            description: String::new(),
            immutable: false,
            created_at: Timestamp::from_micros(0),
        }
    }

    #[test]
    fn admin_is_the_administrator_of_each_level_and_reader_reads() {
        let admin = role("admin", None);
        assert_eq!(admin.policy_role(TenantKind::Root), Role::RootAdmin);
        assert_eq!(admin.policy_role(TenantKind::Customer), Role::CompanyAdmin);
        assert_eq!(admin.policy_role(TenantKind::Unit), Role::UnitAdmin);
        assert!(admin.is_held_as(&Role::UserAdmin));
        let reader = role("reader", None);
        assert_eq!(reader.policy_role(TenantKind::Unit), Role::ReadonlyAdmin);
        assert!(!reader.is_held_as(&Role::RootAdmin));
    }

    #[test]
    fn other_roles_are_held_by_name_and_domain_roles_by_id() {
        let member = role("member", None);
        assert_eq!(
            member.policy_role(TenantKind::Customer),
            Role::Other("member".into())
        );
        assert!(member.is_held_as(&Role::Other("member".into())));
        let scoped = role("member", Some(TenantId::new_random()));
        assert_eq!(
            scoped.policy_role(TenantKind::Customer),
            Role::Other(scoped.id.simple())
        );
        assert!(!scoped.is_held_as(&Role::Other("member".into())));
    }

    #[test]
    fn names_and_tags_are_checked() {
        assert!(parse_role_name("root_admin").is_err());
        assert!(parse_role_name("  ").is_err());
        assert!(parse_role_name(&"x".repeat(256)).is_err());
        assert_eq!(parse_role_name("Member").unwrap(), "Member");
        assert!(parse_tag("a/b").is_err());
        assert!(parse_tag("a,b").is_err());
        assert_eq!(parse_tags(["a", "b", "a"]).unwrap(), vec!["a", "b"]);
        let many: Vec<String> = (0..81).map(|i| i.to_string()).collect();
        assert!(parse_tags(many.iter().map(String::as_str)).is_err());
    }
}
