//! AK/SK request signing, `SDK-HMAC-SHA256`, as the Huawei Cloud SDKs sign requests: the
//! canonical request, the string to sign, and verification of an `Authorization` header
//! against a secret key. Pure functions; looking up the secret by access key is the caller's.

use aws_lc_rs::hmac;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// How far a request's `X-Sdk-Date` may be from the server's clock.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// RFC 3986 unreserved characters stay literal; everything else is `%XX` (uppercase).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The request as it arrived, in the parts the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Header names (any case) and values as received.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The parts of an `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    /// Lowercase, in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why a signed request is refused; every case answers 401 `APIGW.0301` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    MissingDate,
    Expired,
    Mismatch,
}

/// Parses the `Authorization` header; `None` when it is not this algorithm at all.
pub fn parse_authorization(value: &str) -> Option<Result<Credentials, SignatureError>> {
    let rest = value.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
    let mut access = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let Some((key, val)) = part.trim().split_once('=') else {
            return Some(Err(SignatureError::Malformed));
        };
        match key {
            "Access" => access = Some(val.to_owned()),
            "SignedHeaders" => {
                signed = Some(
                    val.split(';')
                        .map(str::to_ascii_lowercase)
                        .collect::<Vec<_>>(),
                )
            }
            "Signature" => signature = Some(val.to_ascii_lowercase()),
            _ => return Some(Err(SignatureError::Malformed)),
        }
    }
    Some(match (access, signed, signature) {
        (Some(access_key), Some(signed_headers), Some(signature))
            if !access_key.is_empty() && !signed_headers.is_empty() && signature.len() == 64 =>
        {
            Ok(Credentials {
                access_key,
                signed_headers,
                signature,
            })
        }
        _ => Err(SignatureError::Malformed),
    })
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|segment| encode(&decode(segment)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode(&decode(&k.replace('+', " "))),
                encode(&decode(&v.replace('+', " "))),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The canonical request the client signed, built from what the server received.
pub fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let mut headers = String::new();
    for name in signed_headers {
        headers.push_str(name);
        headers.push(':');
        headers.push_str(header(request.headers, name).unwrap_or("").trim());
        headers.push('\n');
    }
    let payload = match header(request.headers, "x-sdk-content-sha256") {
        Some(declared) => declared.to_owned(),
        None => hex::encode(Sha256::digest(request.body)),
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
        headers,
        signed_headers.join(";"),
        payload
    )
}

/// `SDK-HMAC-SHA256\n<date>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(date: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

pub fn sign(secret_key: &str, string_to_sign: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret_key.as_bytes());
    hex::encode(hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}

/// Parses `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`) into Unix seconds.
fn sdk_date_seconds(date: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Verifies a request's signature with `secret_key`: `x-sdk-date` and `host` must be signed,
/// the date within 15 minutes of `now_seconds`, and the signature equal in constant time.
pub fn verify(
    request: &SignedRequest<'_>,
    credentials: &Credentials,
    secret_key: &str,
    now_seconds: i64,
) -> Result<(), SignatureError> {
    let signed = &credentials.signed_headers;
    if !signed.iter().any(|h| h == "x-sdk-date") || !signed.iter().any(|h| h == "host") {
        return Err(SignatureError::Malformed);
    }
    let date = header(request.headers, "x-sdk-date")
        .ok_or(SignatureError::MissingDate)?
        .trim();
    let at = sdk_date_seconds(date).ok_or(SignatureError::MissingDate)?;
    if (now_seconds - at).abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::Expired);
    }
    let expected = sign(
        secret_key,
        &string_to_sign(date, &canonical_request(request, signed)),
    );
    if expected
        .as_bytes()
        .ct_eq(credentials.signature.as_bytes())
        .into()
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn signed(list: &str) -> Vec<String> {
        list.split(';').map(str::to_owned).collect()
    }

    #[test]
    fn vector_1_the_official_example() {
        let h = headers(&[
            ("Content-Type", "application/json"),
            ("X-Sdk-Date", "20191115T033655Z"),
            ("Host", "service.region.example.com"),
        ]);
        let request = SignedRequest {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: Some("limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"),
            headers: &h,
            body: b"",
        };
        let canonical = canonical_request(&request, &signed("content-type;host;x-sdk-date"));
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        let signature = sign(
            "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
            &string_to_sign("20191115T033655Z", &canonical),
        );
        assert_eq!(
            signature,
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    fn vector_2() -> (Vec<(String, String)>, &'static [u8]) {
        (
            headers(&[
                ("Content-Type", "application/json;charset=utf-8"),
                ("User-Agent", "huaweicloud-usdk-python/3.0"),
                ("X-Domain-Id", "dom123"),
                ("X-Sdk-Date", "20240101T000000Z"),
                ("Host", "127.0.0.1:8080"),
            ]),
            br#"{"user": {"email": "a@example.com", "mobile": "0086-123456789"}}"#,
        )
    }

    #[test]
    fn vector_2_the_self_service_update_signed_by_the_sdk() {
        let (h, body) = vector_2();
        let request = SignedRequest {
            method: "PUT",
            path: "/v3.0/OS-USER/users/u-0001/info",
            query: None,
            headers: &h,
            body,
        };
        let authorization = "SDK-HMAC-SHA256 Access=TESTAK1234567890, \
            SignedHeaders=content-type;host;user-agent;x-domain-id;x-sdk-date, \
            Signature=4f90925f1efb0ea52c4ab03f0f7e54e600eaea7b6ac5b0ad252b375dac8ef85f";
        let credentials = parse_authorization(authorization).unwrap().unwrap();
        assert_eq!(credentials.access_key, "TESTAK1234567890");
        let now = sdk_date_seconds("20240101T000000Z").unwrap();
        assert_eq!(verify(&request, &credentials, "TESTSKsecret", now), Ok(()));
        assert_eq!(
            verify(&request, &credentials, "TESTSKsecret", now + 16 * 60),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(&request, &credentials, "wrong-secret", now),
            Err(SignatureError::Mismatch)
        );
        let tampered = SignedRequest {
            body: b"{}",
            ..request
        };
        assert_eq!(
            verify(&tampered, &credentials, "TESTSKsecret", now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn vector_3_query_canonicalization() {
        let h = headers(&[
            ("Content-Type", "application/json"),
            ("X-Sdk-Date", "20240101T000000Z"),
            ("Host", "127.0.0.1:8080"),
        ]);
        let request = SignedRequest {
            method: "GET",
            path: "/v3/users",
            query: Some("domain_id=dom123&enabled=true&name=a%20b%2Fc"),
            headers: &h,
            body: b"",
        };
        let canonical = canonical_request(&request, &signed("content-type;host;x-sdk-date"));
        assert_eq!(
            sign(
                "TESTSKsecret",
                &string_to_sign("20240101T000000Z", &canonical)
            ),
            "c1f5cb863b321c060c3c91fd45c4990578a35aa06acadca0f4f5f27ad0aa8785"
        );
    }

    #[test]
    fn malformed_headers_and_unsigned_essentials_are_refused() {
        assert_eq!(parse_authorization("Bearer x"), None);
        assert_eq!(
            parse_authorization("SDK-HMAC-SHA256 Access=a"),
            Some(Err(SignatureError::Malformed))
        );
        assert_eq!(
            parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=00"),
            Some(Err(SignatureError::Malformed))
        );
        let (h, body) = vector_2();
        let request = SignedRequest {
            method: "PUT",
            path: "/x",
            query: None,
            headers: &h,
            body,
        };
        let without_date = Credentials {
            access_key: "a".into(),
            signed_headers: signed("content-type;host"),
            signature: "0".repeat(64),
        };
        assert_eq!(
            verify(&request, &without_date, "s", 0),
            Err(SignatureError::Malformed)
        );
    }
}
