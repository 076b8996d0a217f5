//! Reading the member object of a Keystone request body (`{"region": {...}}`): the named
//! attributes with their types and limits, every refusal collected, and whatever else the
//! client sent kept as the object's extra attributes, as Keystone keeps them.

use axum::extract::Request;
use serde_json::{Map, Value};
use warden_core::{Principal, Warden};
use warden_domain::{DomainError, FieldError, FieldErrorKind};
use warden_store::Extra;

use crate::error::KeystoneError;
use crate::tokens::caller_credential;

/// Ids, names and types: Keystone's column width.
pub const MAX_NAME: usize = 255;
/// Descriptions and blobs are unbounded text in Keystone; the body limit bounds them here.
pub const MAX_TEXT: usize = 64 * 1024;
pub const MAX_URL: usize = 2048;

pub struct Fields {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

/// The caller, then the member object `key` of the body: a caller without a token is told so
/// (401) before anything about the body.
pub async fn authenticated_member(
    warden: &Warden,
    request: Request,
    key: &str,
) -> Result<(Principal, Fields), KeystoneError> {
    let caller = warden
        .authenticate(&caller_credential(request.headers())?)
        .await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    Ok((caller, Fields::parse(&bytes, key)?))
}

impl Fields {
    fn parse(bytes: &[u8], key: &str) -> Result<Self, KeystoneError> {
        let body: Value = warden_http::parse_json(bytes)?;
        match body.get(key) {
            Some(Value::Object(object)) => Ok(Self {
                object: object.clone(),
                errors: Vec::new(),
            }),
            Some(_) => Err(DomainError::invalid(key, FieldErrorKind::Invalid).into()),
            None => Err(DomainError::invalid(key, FieldErrorKind::Missing).into()),
        }
    }

    fn refuse(&mut self, field: &str, kind: FieldErrorKind) {
        self.errors.push(FieldError::new(field, kind));
    }

    /// A text attribute: absent (`None`), `null` (`Some(None)`), or text of at most `max`
    /// characters.
    pub fn nullable_text(&mut self, field: &str, max: usize) -> Option<Option<String>> {
        match self.object.remove(field)? {
            Value::Null => Some(None),
            Value::String(text) if text.chars().count() > max => {
                self.refuse(field, FieldErrorKind::TooLong);
                None
            }
            Value::String(text) => Some(Some(text)),
            _ => {
                self.refuse(field, FieldErrorKind::Invalid);
                None
            }
        }
    }

    /// A text attribute that may be absent but not `null`.
    pub fn text(&mut self, field: &str, max: usize) -> Option<String> {
        match self.nullable_text(field, max) {
            Some(None) => {
                self.refuse(field, FieldErrorKind::Invalid);
                None
            }
            other => other.flatten(),
        }
    }

    /// A text attribute that must be there and not be empty.
    pub fn required_text(&mut self, field: &str, max: usize) -> String {
        let present = self.object.contains_key(field);
        let refused = self.errors.len();
        let value = self.text(field, max).unwrap_or_default();
        if !present {
            self.refuse(field, FieldErrorKind::Missing);
        } else if value.is_empty() && self.errors.len() == refused {
            self.refuse(field, FieldErrorKind::Invalid);
        }
        value
    }

    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.object.remove(field)? {
            Value::Bool(value) => Some(value),
            _ => {
                self.refuse(field, FieldErrorKind::Invalid);
                None
            }
        }
    }

    /// A URL as Keystone's schema takes it: a scheme, a colon, and something after it.
    pub fn url(&mut self, field: &str) -> Option<String> {
        let url = self.text(field, MAX_URL)?;
        let valid = url.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && !rest.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
        });
        if !valid {
            self.refuse(field, FieldErrorKind::Invalid);
        }
        valid.then_some(url)
    }

    /// On a change, an `id` in the body must be the one in the path (Keystone's
    /// `_require_matching_id`).
    pub fn matching_id(&mut self, path_id: &str) {
        match self.object.remove("id") {
            None => {}
            Some(Value::String(id)) if id == path_id => {}
            Some(_) => self.refuse("id", FieldErrorKind::Invalid),
        }
    }

    /// A change must change something: an empty member object is refused.
    pub fn require_any(&mut self, key: &str) {
        if self.object.is_empty() {
            self.refuse(key, FieldErrorKind::Invalid);
        }
    }

    /// Refuses the body as missing `field` unless it is there.
    pub fn require(&mut self, field: &str) {
        if !self.object.contains_key(field) {
            self.refuse(field, FieldErrorKind::Missing);
        }
    }

    /// An attribute as sent, for a shape this reader has no method for.
    pub fn take(&mut self, field: &str) -> Option<Value> {
        self.object.remove(field)
    }

    /// A field error found while interpreting a value read here.
    pub fn invalid(&mut self, field: &str) {
        self.refuse(field, FieldErrorKind::Invalid);
    }

    /// Every refusal at once, or the attributes left over: the object's extra attributes.
    /// `links` is ours to render, never stored.
    pub fn finish(mut self) -> Result<Extra, DomainError> {
        self.object.remove("links");
        if self.errors.is_empty() {
            Ok(self.object)
        } else {
            Err(DomainError::Invalid(self.errors))
        }
    }
}

/// Keystone's member shape: the extra attributes, overridden by the named ones.
pub fn with_extra(extra: &Extra, named: Value) -> Value {
    let mut object = extra.clone();
    if let Value::Object(named) = named {
        object.extend(named);
    }
    Value::Object(object)
}
