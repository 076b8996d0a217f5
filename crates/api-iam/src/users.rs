//! `/v3.0/OS-USER/users`: show a user, and the self-service contact change of the seed.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use warden_core::{Principal, Warden};
use warden_domain::{
    AreaCode, AuthFailure, ContactPatch, DomainError, Email, FieldError, FieldErrorKind,
    PhoneChange, PhoneNumber,
};

use crate::error::IamError;

pub(crate) async fn caller(warden: &Warden, headers: &HeaderMap) -> Result<Principal, IamError> {
    let credential = warden_http::keystone_credential(headers)
        .map_err(|_| DomainError::Unauthenticated(AuthFailure::Invalid))?
        .ok_or(DomainError::Unauthenticated(AuthFailure::Missing))?;
    Ok(warden.authenticate(&credential).await?)
}

#[derive(Deserialize)]
struct InfoRequest {
    user: InfoUser,
}

/// Both published shapes: `email` + `phone` + `areacode` (the seed, OTC) and `email` +
/// `mobile` as `CC-NUMBER` (Huawei public cloud and its SDK).
#[derive(Deserialize)]
struct InfoUser {
    email: Option<String>,
    phone: Option<String>,
    areacode: Option<String>,
    mobile: Option<String>,
}

impl InfoUser {
    fn into_patch(self) -> Result<ContactPatch, DomainError> {
        let invalid = |e: FieldError| DomainError::Invalid(vec![e]);
        let email = self
            .email
            .map(|e| Email::parse("email", &e).map(Some))
            .transpose()
            .map_err(invalid)?;
        let phone = match (self.mobile, self.phone, self.areacode) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(DomainError::MalformedBody(
                    "give either mobile or phone with areacode".to_owned(),
                ))
            }
            (Some(mobile), None, None) => {
                let (code, number) = mobile.split_once('-').ok_or_else(|| {
                    invalid(FieldError::new("mobile", FieldErrorKind::InvalidPhone))
                })?;
                Some(phone_change("mobile", code, "mobile", number)?)
            }
            (None, Some(phone), Some(code)) => {
                Some(phone_change("areacode", &code, "phone", &phone)?)
            }
            (None, Some(_), None) => {
                return Err(invalid(FieldError::new(
                    "areacode",
                    FieldErrorKind::PhoneWithoutAreaCode,
                )))
            }
            (None, None, Some(_)) => {
                return Err(invalid(FieldError::new(
                    "phone",
                    FieldErrorKind::PhoneWithoutAreaCode,
                )))
            }
            (None, None, None) => None,
        };
        Ok(ContactPatch {
            email,
            phone,
            ..ContactPatch::default()
        })
    }
}

fn phone_change(
    code_field: &str,
    code: &str,
    number_field: &str,
    number: &str,
) -> Result<PhoneChange, DomainError> {
    let areacode = AreaCode::parse(code_field, code).map_err(|e| DomainError::Invalid(vec![e]))?;
    let phone =
        PhoneNumber::parse(number_field, number).map_err(|e| DomainError::Invalid(vec![e]))?;
    Ok(PhoneChange {
        areacode: areacode.as_str().to_owned(),
        phone: phone.as_str().to_owned(),
    })
}

/// `PUT /v3.0/OS-USER/users/{user_id}/info` → 204. Only the user named in the path.
pub async fn update_info(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    request: Request,
) -> Result<StatusCode, IamError> {
    let principal = caller(&warden, request.headers()).await?;
    let (_, bytes) = warden_http::read_body(request).await?;
    let body: InfoRequest = warden_http::parse_json(&bytes)?;
    let patch = body.user.into_patch()?;
    warden
        .update_own_contact(&principal, &user_id, patch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3.0/OS-USER/users/{user_id}`: the user themself or an administrator.
pub async fn show(
    State(warden): State<Arc<Warden>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, IamError> {
    let principal = caller(&warden, &headers).await?;
    let user = warden.get_user(&principal, &user_id).await?;
    let domain = warden.domain_of(user.tenant_id).await?;
    let base = &warden.settings().public_url;
    let c = &user.contact;
    Ok(Json(json!({
        "user": {
            "id": user.id.simple(),
            "name": user.login.as_str(),
            "domain_id": domain.id.simple(),
            "enabled": user.enabled,
            "email": c.email.as_ref().map(|e| e.as_str()).unwrap_or(""),
            "areacode": c.areacode,
            "phone": c.phone,
            "description": user.description,
            "access_mode": "default",
            "pwd_status": false,
            "pwd_strength": "None",
            "is_domain_owner": false,
            "xuser_id": "",
            "xuser_type": "",
            "create_time": user.created_at.iam_naive(),
            "update_time": user.updated_at.iam_naive(),
            "last_login_time": null,
            "last_pwd_auth_time": null,
            "pwd_create_time": null,
            "modify_pwd_time": null,
            "links": {
                "self": format!("{base}/v3.0/OS-USER/users/{}", user.id.simple()),
                "previous": null,
                "next": null,
            },
        }
    })))
}
