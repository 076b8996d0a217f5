//! API clients: OAuth2 confidential clients that act for their tenant's subtree.

use crate::error::{FieldError, FieldErrorKind};
use crate::ids::{ClientId, TenantId, UserId};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub struct ApiClient {
    pub id: ClientId,
    pub tenant_id: TenantId,
    /// `api_client` or `agent`.
    pub kind: String,
    pub token_endpoint_auth_method: String,
    /// Free-form client data, e.g. `{"client_name": "MyApp"}`.
    pub data: serde_json::Value,
    pub enabled: bool,
    /// Whether this client may exchange a user's login and password for a token (`password`
    /// grant). Off for new clients: a client that can collect passwords is a phishing tool.
    pub allow_password_grant: bool,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub version: i64,
    /// Tokens of this client issued before this instant are refused (a secret rotated without
    /// grace, as after a leak).
    pub tokens_not_before: Timestamp,
}

/// What a client is: `api_client` (an integration) or `agent` (a protection agent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKind(String);

impl ClientKind {
    pub const KNOWN: [&'static str; 2] = ["api_client", "agent"];

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if Self::KNOWN.contains(&raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::Invalid))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a client authenticates at the token endpoint. Only shared-secret methods exist: the
/// secret goes in HTTP Basic (`client_secret_basic`) or in the form (`client_secret_post`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMethod(String);

impl AuthMethod {
    pub const KNOWN: [&'static str; 2] = ["client_secret_basic", "client_secret_post"];

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if Self::KNOWN.contains(&raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, FieldErrorKind::Invalid))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form client data: a JSON object of bounded size, so a client record cannot be used
/// to store arbitrary amounts of data.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientData(serde_json::Value);

impl ClientData {
    pub const MAX_BYTES: usize = 16 * 1024;

    pub fn parse(field: &str, value: serde_json::Value) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        let text = value.to_string();
        if text.len() > Self::MAX_BYTES {
            return Err(FieldError::new(field, FieldErrorKind::TooLong));
        }
        // NUL has no place in client data, and PostgreSQL's JSONB cannot store it.
        if text.contains("\\u0000") {
            return Err(FieldError::new(field, FieldErrorKind::Invalid));
        }
        Ok(Self(value))
    }

    pub fn empty() -> Self {
        Self(serde_json::Value::Object(serde_json::Map::new()))
    }

    pub fn into_value(self) -> serde_json::Value {
        self.0
    }
}

/// A new API client as requested; the service adds the id, secret and bookkeeping.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApiClient {
    pub tenant_id: TenantId,
    pub kind: ClientKind,
    pub token_endpoint_auth_method: AuthMethod,
    pub data: ClientData,
    pub allow_password_grant: bool,
}

/// A change to a client; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientPatch {
    pub data: Option<ClientData>,
    pub enabled: Option<bool>,
    pub allow_password_grant: Option<bool>,
}

impl ApiClient {
    /// This client with `patch` applied; the version is the store's business.
    pub fn patched(&self, patch: &ClientPatch) -> ApiClient {
        let mut next = self.clone();
        if let Some(data) = &patch.data {
            next.data = data.0.clone();
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        if let Some(allow) = patch.allow_password_grant {
            next.allow_password_grant = allow;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_accept_only_known_forms() {
        assert!(ClientKind::parse("type", "api_client").is_ok());
        assert!(ClientKind::parse("type", "agent").is_ok());
        assert_eq!(
            ClientKind::parse("type", "robot").unwrap_err().field,
            "type"
        );
        assert!(AuthMethod::parse("m", "client_secret_basic").is_ok());
        assert!(AuthMethod::parse("m", "private_key_jwt").is_err());
        assert!(ClientData::parse("data", serde_json::json!({"client_name": "x"})).is_ok());
        assert!(ClientData::parse("data", serde_json::json!(["x"])).is_err());
        let big = "x".repeat(ClientData::MAX_BYTES);
        assert_eq!(
            ClientData::parse("data", serde_json::json!({ "n": big }))
                .unwrap_err()
                .kind,
            FieldErrorKind::TooLong
        );
    }
}

#[cfg(test)]
mod data_tests {
    use super::*;

    #[test]
    fn client_data_refuses_nul_anywhere() {
        assert!(ClientData::parse("data", serde_json::json!({"client_name": "a\u{0}b"})).is_err());
        assert!(ClientData::parse("data", serde_json::json!({"a\u{0}": 1})).is_err());
        assert!(ClientData::parse("data", serde_json::json!({"client_name": "ok"})).is_ok());
    }
}
