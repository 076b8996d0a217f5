//! What every Keystone resource route shares: the caller, request bodies wrapped in their
//! resource's key, query flags, and links.

use axum::extract::Request;
use axum::http::HeaderMap;
use serde_json::{json, Map, Value};
use warden_core::{Principal, Warden};
use warden_domain::{DomainError, FieldErrorKind, Tenant};

use crate::error::KeystoneError;
use crate::tokens::caller_credential;
use warden_core::keystone::keystone_name;

/// The authenticated caller of a request.
pub(crate) async fn caller(
    warden: &Warden,
    headers: &HeaderMap,
) -> Result<Principal, KeystoneError> {
    Ok(warden.authenticate(&caller_credential(headers)?).await?)
}

/// `{"self": <url>}` for one object.
pub(crate) fn self_link(warden: &Warden, path: &str) -> Value {
    json!({ "self": format!("{}/v3/{path}", warden.settings().public_url) })
}

/// The links of a collection, which Warden returns whole.
pub(crate) fn collection_links(warden: &Warden, path: &str) -> Value {
    json!({
        "self": format!("{}{path}", warden.settings().public_url),
        "previous": null,
        "next": null,
    })
}

fn invalid(field: &str) -> DomainError {
    DomainError::invalid(field, FieldErrorKind::Invalid)
}

/// A request body `{"<key>": {...}}`: the object under the key, read field by field so that a
/// field of the wrong type is reported by name.
pub(crate) struct Body {
    key: &'static str,
    fields: Map<String, Value>,
}

impl Body {
    /// Reads the request's body and the object under `key`.
    pub(crate) async fn read(request: Request, key: &'static str) -> Result<Self, KeystoneError> {
        let (_, bytes) = warden_http::read_body(request).await?;
        let body: Value = warden_http::parse_json(&bytes)?;
        match body.get(key) {
            Some(Value::Object(fields)) => Ok(Self {
                key,
                fields: fields.clone(),
            }),
            Some(_) => Err(invalid(key).into()),
            None => Err(DomainError::invalid(key, FieldErrorKind::Missing).into()),
        }
    }

    fn name(&self, field: &str) -> String {
        format!("{}.{field}", self.key)
    }

    /// A string field; absent or `null` is `None`.
    pub(crate) fn string(&self, field: &str) -> Result<Option<String>, DomainError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.name(field))),
        }
    }

    /// A string field that must be there.
    pub(crate) fn required(&self, field: &str) -> Result<String, DomainError> {
        self.string(field)?
            .ok_or_else(|| DomainError::invalid(self.name(field), FieldErrorKind::Missing))
    }

    /// A string field that `null` clears: absent is `None`, `null` is `Some(None)`.
    pub(crate) fn nullable(&self, field: &str) -> Result<Option<Option<String>>, DomainError> {
        match self.fields.get(field) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(invalid(&self.name(field))),
        }
    }

    /// A boolean field; absent or `null` is `None`.
    pub(crate) fn boolean(&self, field: &str) -> Result<Option<bool>, DomainError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(&self.name(field))),
        }
    }

    /// A list of strings; absent or `null` is `None`.
    pub(crate) fn strings(&self, field: &str) -> Result<Option<Vec<String>>, DomainError> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid(&self.name(field))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(&self.name(field))),
        }
    }

    /// The fields not named in `known`: attributes Keystone keeps as they are given.
    pub(crate) fn extra(&self, known: &[&str]) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Refuses an attempt to change a field Keystone keeps fixed.
    pub(crate) fn forbid(&self, field: &str) -> Result<(), DomainError> {
        if self.fields.contains_key(field) {
            return Err(invalid(&self.name(field)));
        }
        Ok(())
    }
}

/// A query flag as Keystone reads it: present without a value, or a true/false value.
pub(crate) fn flag(raw: Option<&str>, field: &str) -> Result<Option<bool>, DomainError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("" | "true" | "1" | "yes" | "on") => Ok(Some(true)),
        Some("false" | "0" | "no" | "off") => Ok(Some(false)),
        Some(_) => Err(invalid(field)),
    }
}

/// The query pairs of a request, in order; a malformed query is 400.
pub(crate) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, DomainError> {
    warden_http::parse_query::<Vec<(String, String)>>(query).map_err(|_| invalid("query"))
}

/// One query value by name (the last one when repeated).
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A domain in Keystone's shape.
pub(crate) fn domain_json(warden: &Warden, t: &Tenant) -> Value {
    let id = t.id.simple();
    json!({
        "id": id,
        "name": keystone_name(t),
        "enabled": t.enabled,
        "description": t.description,
        "tags": t.tags,
        "options": {},
        "links": self_link(warden, &format!("domains/{id}")),
    })
}
