//! Keystone domain configurations (`/v3/domains/{id}/config`): per domain, options of the
//! `identity` and `ldap` groups.
//!
//! Warden keeps them as Keystone keeps them under its default settings
//! (`domain_specific_drivers_enabled = false`): validated against the options Keystone lets a
//! domain set, stored, shown and changed, and not acted on, since every domain is served from
//! the one store. Sensitive options (`ldap.password`) are sealed with the key-encryption key
//! apart from the rest and never shown. Changes are compare-and-set on the stored version and
//! retried, so concurrent changes of different options all land.

use serde_json::{json, Map, Value};
use warden_domain::catalog::CatalogRule;
use warden_domain::{DomainError, Resource, Tenant};
use warden_store::{DomainConfigRecord, StoreError};

use crate::auth::Principal;
use crate::{store_error, Warden};

/// How often a change is retried after losing a race with another change.
const RETRIES: usize = 8;

/// The `identity` options a domain may set, with the defaults Warden shows for them.
fn identity_defaults() -> Map<String, Value> {
    into_map(json!({ "driver": "sql", "list_limit": null }))
}

/// The `ldap` options a domain may set (Keystone's list), with Keystone's defaults.
fn ldap_defaults() -> Map<String, Value> {
    let mut defaults = into_map(json!({
        "url": "ldap://localhost",
        "user": null,
        "suffix": "cn=example,cn=com",
        "query_scope": "one",
        "page_size": 0,
        "alias_dereferencing": "default",
        "debug_level": null,
        "chase_referrals": null,
        "user_tree_dn": null,
        "user_filter": null,
        "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn",
        "user_name_attribute": "sn",
        "user_mail_attribute": "mail",
        "user_description_attribute": "description",
        "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled",
        "user_enabled_invert": false,
        "user_enabled_mask": 0,
        "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": null,
        "user_enabled_emulation": false,
        "user_enabled_emulation_dn": null,
        "user_enabled_emulation_use_group_config": false,
        "user_additional_attribute_mapping": [],
    }));
    defaults.extend(into_map(json!({
        "group_tree_dn": null,
        "group_filter": null,
        "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn",
        "group_name_attribute": "ou",
        "group_members_are_ids": false,
        "group_member_attribute": "member",
        "group_desc_attribute": "description",
        "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [],
        "tls_cacertfile": null,
        "tls_cacertdir": null,
        "use_tls": false,
        "tls_req_cert": "demand",
        "use_pool": true,
        "pool_size": 10,
        "pool_retry_max": 3,
        "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600,
        "use_auth_pool": true,
        "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    })));
    defaults
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The options of `group` a domain may set and see, with their defaults; `None` for a group
/// Keystone does not configure per domain.
fn group_defaults(group: &str) -> Option<Map<String, Value>> {
    match group {
        "identity" => Some(identity_defaults()),
        "ldap" => Some(ldap_defaults()),
        _ => None,
    }
}

/// Options that are stored sealed and never shown.
fn is_sensitive(group: &str, option: &str) -> bool {
    group == "ldap" && option == "password"
}

fn unsupported() -> DomainError {
    DomainError::CatalogRule(CatalogRule::UnsupportedDomainConfig)
}

fn not_found() -> DomainError {
    DomainError::NotFound(Resource::DomainConfig)
}

/// A group name a domain may configure.
fn supported_group(group: &str) -> Result<(), DomainError> {
    group_defaults(group).map(|_| ()).ok_or_else(unsupported)
}

/// An option a domain may set in `group`, shown or sensitive.
fn supported_option(group: &str, option: &str) -> Result<(), DomainError> {
    let defaults = group_defaults(group).ok_or_else(unsupported)?;
    if defaults.contains_key(option) || is_sensitive(group, option) {
        Ok(())
    } else {
        Err(unsupported())
    }
}

/// An option's value: any JSON but an object (Keystone's options are scalars and lists).
fn supported_value(value: &Value) -> Result<(), DomainError> {
    if value.is_object() {
        Err(unsupported())
    } else {
        Ok(())
    }
}

/// A configuration as a request gives it: an object of supported groups, each an object of at
/// least one supported option.
fn checked_config(config: &Value) -> Result<Map<String, Value>, DomainError> {
    let groups = config.as_object().ok_or_else(unsupported)?;
    if groups.is_empty() {
        return Err(unsupported());
    }
    for (group, options) in groups {
        let options = options.as_object().ok_or_else(unsupported)?;
        if options.is_empty() {
            return Err(unsupported());
        }
        for (option, value) in options {
            supported_option(group, option)?;
            supported_value(value)?;
        }
    }
    Ok(groups.clone())
}

/// Where a read or a change applies: the whole configuration, one group, or one option.
#[derive(Clone, Copy, Debug)]
pub enum ConfigPart<'a> {
    All,
    Group(&'a str),
    Option(&'a str, &'a str),
}

impl ConfigPart<'_> {
    fn check(&self) -> Result<(), DomainError> {
        match *self {
            ConfigPart::All => Ok(()),
            ConfigPart::Group(group) => supported_group(group),
            ConfigPart::Option(group, option) => supported_option(group, option),
        }
    }
}

/// The part of `config` asked for, as Keystone shows it: the whole configuration, `{group:
/// {…}}`, or `{option: value}`; `NotFound` when that part is not set.
fn shown_part(config: &Map<String, Value>, part: ConfigPart<'_>) -> Result<Value, DomainError> {
    match part {
        ConfigPart::All => Ok(Value::Object(config.clone())),
        ConfigPart::Group(group) => {
            let options = config.get(group).ok_or_else(not_found)?;
            Ok(json!({ group: options }))
        }
        ConfigPart::Option(group, option) => {
            let value = config
                .get(group)
                .and_then(|options| options.get(option))
                .ok_or_else(not_found)?;
            Ok(json!({ option: value }))
        }
    }
}

/// A configuration split into what is shown and what is sealed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Parts {
    shown: Map<String, Value>,
    sensitive: Map<String, Value>,
}

impl Parts {
    fn split(config: Map<String, Value>) -> Self {
        let mut parts = Parts::default();
        for (group, options) in config {
            for (option, value) in into_map(options) {
                let side = if is_sensitive(&group, &option) {
                    &mut parts.sensitive
                } else {
                    &mut parts.shown
                };
                if let Value::Object(target) = side
                    .entry(group.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    target.insert(option, value);
                }
            }
        }
        parts
    }

    /// Both sides as one configuration.
    fn joined(&self) -> Map<String, Value> {
        let mut all = self.shown.clone();
        for (group, options) in &self.sensitive {
            if let Value::Object(target) = all
                .entry(group.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                target.extend(into_map(options.clone()));
            }
        }
        all
    }
}

/// The stored configuration with its sealed part opened, and its version.
struct Loaded {
    all: Map<String, Value>,
    version: i64,
}

fn seal_context(domain: &Tenant) -> Vec<u8> {
    format!("warden/domain-config/{}", domain.id.simple()).into_bytes()
}

impl Warden {
    /// `GET /v3/domains/config/default` and its group and option forms: the values a domain
    /// without a configuration of its own has.
    pub fn default_domain_config(&self, part: ConfigPart<'_>) -> Result<Value, DomainError> {
        part.check()?;
        if let ConfigPart::Option(group, option) = part {
            if is_sensitive(group, option) {
                return Err(not_found());
            }
        }
        let defaults = into_map(json!({
            "identity": identity_defaults(),
            "ldap": ldap_defaults(),
        }));
        shown_part(&defaults, part)
    }

    /// `GET /v3/domains/{id}/config[/{group}[/{option}]]`, for administrators of the
    /// deployment. Sensitive options are never shown.
    pub async fn domain_config(
        &self,
        principal: &Principal,
        raw_domain: &str,
        part: ConfigPart<'_>,
    ) -> Result<Value, DomainError> {
        let domain = self.configurable_domain(principal, raw_domain).await?;
        part.check()?;
        let loaded = self
            .load_domain_config(&domain)
            .await?
            .ok_or_else(not_found)?;
        let shown = Parts::split(loaded.all).shown;
        shown_part(&shown, part)
    }

    /// `PUT /v3/domains/{id}/config`: replaces the whole configuration. Returns what is shown
    /// of it and whether it is new (201) rather than replaced (200).
    pub async fn replace_domain_config(
        &self,
        principal: &Principal,
        raw_domain: &str,
        config: &Value,
    ) -> Result<(Value, bool), DomainError> {
        let domain = self.configurable_domain(principal, raw_domain).await?;
        let config = checked_config(config)?;
        let (domain, config) = (&domain, &config);
        crate::retrying_races(RETRIES, || async move {
            let current = self.load_domain_config(domain).await?;
            let expected = current.as_ref().map(|c| c.version);
            let shown = self
                .write_domain_config(principal, domain, config.clone(), expected)
                .await
                .map_err(store_error)?;
            Ok((Value::Object(shown), current.is_none()))
        })
        .await
    }

    /// `PATCH /v3/domains/{id}/config[/{group}[/{option}]]`: merges `change` into the stored
    /// configuration. A group or option named in the path must already be set; `change` must
    /// name exactly that group (`{group: {…}}`) or option (`{option: value}`). Returns the
    /// whole configuration as shown.
    pub async fn update_domain_config(
        &self,
        principal: &Principal,
        raw_domain: &str,
        part: ConfigPart<'_>,
        change: &Value,
    ) -> Result<Value, DomainError> {
        let domain = self.configurable_domain(principal, raw_domain).await?;
        part.check()?;
        let change = match part {
            ConfigPart::All => checked_config(change)?,
            ConfigPart::Group(group) => {
                let change = checked_config(change)?;
                if change.len() != 1 || !change.contains_key(group) {
                    return Err(unsupported());
                }
                change
            }
            ConfigPart::Option(group, option) => {
                let given = change.as_object().ok_or_else(unsupported)?;
                match given.get(option) {
                    Some(value) if given.len() == 1 => {
                        supported_value(value)?;
                        into_map(json!({ group: { option: value } }))
                    }
                    _ => return Err(unsupported()),
                }
            }
        };
        let (domain, change) = (&domain, &change);
        crate::retrying_races(RETRIES, || async move {
            let current = self
                .load_domain_config(domain)
                .await?
                .ok_or_else(not_found)?;
            let mut all = current.all;
            match part {
                ConfigPart::All => {}
                ConfigPart::Group(group) if !all.contains_key(group) => return Err(not_found()),
                ConfigPart::Option(group, option)
                    if all.get(group).and_then(|o| o.get(option)).is_none() =>
                {
                    return Err(not_found())
                }
                _ => {}
            }
            for (group, options) in change {
                if let Value::Object(target) = all
                    .entry(group.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    target.extend(into_map(options.clone()));
                }
            }
            let shown = self
                .write_domain_config(principal, domain, all, Some(current.version))
                .await
                .map_err(store_error)?;
            Ok(Value::Object(shown))
        })
        .await
    }

    /// `DELETE /v3/domains/{id}/config[/{group}[/{option}]]`. A configuration left with no
    /// option is deleted, as Keystone keeps none.
    pub async fn delete_domain_config(
        &self,
        principal: &Principal,
        raw_domain: &str,
        part: ConfigPart<'_>,
    ) -> Result<(), DomainError> {
        let domain = self.configurable_domain(principal, raw_domain).await?;
        part.check()?;
        let domain = &domain;
        crate::retrying_races(RETRIES, || async move {
            let current = self
                .load_domain_config(domain)
                .await?
                .ok_or_else(not_found)?;
            let mut all = current.all;
            match part {
                ConfigPart::All => all.clear(),
                ConfigPart::Group(group) => {
                    all.remove(group).ok_or_else(not_found)?;
                }
                ConfigPart::Option(group, option) => {
                    let options = all.get_mut(group).and_then(Value::as_object_mut);
                    options
                        .and_then(|options| options.remove(option))
                        .ok_or_else(not_found)?;
                    if all
                        .get(group)
                        .and_then(Value::as_object)
                        .is_some_and(Map::is_empty)
                    {
                        all.remove(group);
                    }
                }
            }
            let written = if all.is_empty() {
                let audit = self.audit_by(principal);
                self.store
                    .delete_domain_config(domain.id, current.version, &audit)
                    .await
                    .map(|()| Map::new())
            } else {
                self.write_domain_config(principal, domain, all, Some(current.version))
                    .await
            };
            match written {
                Err(StoreError::NotFound) => Err(not_found()),
                Err(e) => Err(store_error(e)),
                Ok(_) => Ok(()),
            }
        })
        .await
    }

    /// The domain named by the path, if the caller administers the deployment: a domain's
    /// configuration is the operator's, as in Keystone (system scope).
    async fn configurable_domain(
        &self,
        principal: &Principal,
        raw_domain: &str,
    ) -> Result<Tenant, DomainError> {
        self.ensure_catalog_admin(principal).await?;
        self.domain_by_id(raw_domain).await
    }

    async fn load_domain_config(&self, domain: &Tenant) -> Result<Option<Loaded>, DomainError> {
        let Some(record) = self
            .store
            .get_domain_config(domain.id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let sensitive = match &record.sealed_sensitive {
            None => Map::new(),
            Some(sealed) => {
                let plain = self.kek.open(&seal_context(domain), sealed).map_err(|_| {
                    tracing::error!(
                        domain = %domain.id,
                        "a domain configuration's sealed options do not open with the key-encryption key"
                    );
                    DomainError::Internal
                })?;
                serde_json::from_slice(&plain).map_err(|_| DomainError::Internal)?
            }
        };
        let parts = Parts {
            shown: record.config,
            sensitive,
        };
        Ok(Some(Loaded {
            all: parts.joined(),
            version: record.version,
        }))
    }

    /// Writes `all` as the configuration if the stored version is still `expected`; returns
    /// what is shown of it.
    async fn write_domain_config(
        &self,
        principal: &Principal,
        domain: &Tenant,
        all: Map<String, Value>,
        expected: Option<i64>,
    ) -> Result<Map<String, Value>, StoreError> {
        let parts = Parts::split(all);
        let sealed_sensitive = (!parts.sensitive.is_empty()).then(|| {
            let plain = Value::Object(parts.sensitive.clone()).to_string();
            self.kek.seal(&seal_context(domain), plain.as_bytes())
        });
        let record = DomainConfigRecord {
            domain_id: domain.id,
            config: parts.shown.clone(),
            sealed_sensitive,
            version: expected.map_or(1, |v| v + 1),
        };
        self.store
            .put_domain_config(&record, expected, &self.audit_by(principal))
            .await?;
        Ok(parts.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keystones_groups_and_options_are_accepted() {
        let ok =
            json!({"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "p"}});
        assert!(checked_config(&ok).is_ok());
        for bad in [
            json!({}),
            json!([]),
            json!({"identity": {}}),
            json!({"identity": "sql"}),
            json!({"assignment": {"driver": "sql"}}),
            json!({"identity": {"connection": "sqlite://"}}),
            json!({"ldap": {"url": {"nested": true}}}),
        ] {
            assert_eq!(
                checked_config(&bad),
                Err(unsupported()),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn sensitive_options_are_split_off_and_joined_back() {
        let all = into_map(json!({
            "identity": {"driver": "ldap"},
            "ldap": {"url": "ldap://x", "password": "secret"},
        }));
        let parts = Parts::split(all.clone());
        assert_eq!(
            Value::Object(parts.shown.clone()),
            json!({"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x"}})
        );
        assert_eq!(
            Value::Object(parts.sensitive.clone()),
            json!({"ldap": {"password": "secret"}})
        );
        assert_eq!(parts.joined(), all);
    }

    #[test]
    fn parts_are_shown_in_keystones_shapes() {
        let config = into_map(json!({"identity": {"driver": "ldap", "list_limit": 5}}));
        assert_eq!(
            shown_part(&config, ConfigPart::Group("identity")).unwrap(),
            json!({"identity": {"driver": "ldap", "list_limit": 5}})
        );
        assert_eq!(
            shown_part(&config, ConfigPart::Option("identity", "list_limit")).unwrap(),
            json!({"list_limit": 5})
        );
        assert_eq!(
            shown_part(&config, ConfigPart::Group("ldap")),
            Err(not_found())
        );
    }
}
