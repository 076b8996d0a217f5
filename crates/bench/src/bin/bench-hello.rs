//! The HTTP baseline: a bare hello-world server on the same axum, hyper and tokio as Warden,
//! with the same runtime set-up (`#[tokio::main]`, one worker per core it may run on).
//!
//! - `GET /hello` answers `Hello, World!`.
//! - `POST /sign` reads the body, then signs a JWT-sized input once with the algorithm given by
//!   `--alg` (RS256 with a 2048-bit key, ES256, EdDSA) through aws-lc-rs, the library Warden
//!   signs with, and answers the signature: the floor of a token issuance.
//!
//! Usage: `bench-hello [--alg RS256]`. Listens on 127.0.0.1 at a free port and prints
//! `listening on <address>`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use serde_json::json;

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct AppState {
    signer: Signer,
    rng: SystemRandom,
    counter: AtomicU64,
}

impl AppState {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        Ok(match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
                signature
            }
            Signer::Ecdsa(pair) => pair
                .sign(&self.rng, message)
                .map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        })
    }
}

async fn hello() -> &'static str {
    "Hello, World!"
}

/// A signing input of the size of Warden's access tokens (header and claims, base64url).
fn signing_input(n: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"0123456789abcdef"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"http://127.0.0.1:8080","aud":"http://127.0.0.1:8080","sub":"4c2d8f4e-6f0e-4b7a-9d43-0d3c1f5e2a11","exp":1900000000,"nbf":1700000000,"iat":1700000000,"jti":"{n:032x}","token_use":"access","scope":[],"client_id":"4c2d8f4e-6f0e-4b7a-9d43-0d3c1f5e2a11"}}"#
    ));
    format!("{header}.{claims}")
}

async fn sign(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, (http::StatusCode, String)> {
    let n = state.counter.fetch_add(1, Ordering::Relaxed) ^ body.len() as u64;
    let input = signing_input(n);
    let signature = state
        .sign(input.as_bytes())
        .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({
        "access_token": format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)),
        "token_type": "bearer",
    })))
}

fn signer(alg: &str) -> Result<Signer> {
    Ok(match alg {
        "RS256" => Signer::Rsa(
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("RSA key"))?,
        ),
        "ES256" => {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| anyhow::anyhow!("P-256 key"))?;
            Signer::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .map_err(|_| anyhow::anyhow!("P-256 key"))?,
            )
        }
        "EdDSA" => {
            Signer::Ed25519(Ed25519KeyPair::generate().map_err(|_| anyhow::anyhow!("Ed25519 key"))?)
        }
        other => bail!("unknown algorithm {other}"),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut alg = "RS256".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => alg = args.next().context("--alg needs a value")?,
            other => {
                bail!("unknown argument {other}; usage: bench-hello [--alg RS256|ES256|EdDSA]")
            }
        }
    }
    let state = Arc::new(AppState {
        signer: signer(&alg)?,
        rng: SystemRandom::new(),
        counter: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/sign", post(sign))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
    }
    axum::serve(listener, app).await?;
    Ok(())
}
