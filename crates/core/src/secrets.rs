//! Secrets that are not passwords: API client secrets, the key-encryption key and what it
//! protects. High-entropy secrets are stored as SHA-256 and compared in constant time; a
//! password KDF here would cap token issuance at a few hundred per second for no gain.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source, which we cannot run without.
    if SystemRandom::new().fill(&mut buf).is_err() {
        tracing::error!("the operating system refused to provide random bytes");
        std::process::abort();
    }
    buf
}

/// A new client secret: 128 random bits as 32 lowercase hex characters.
pub fn new_client_secret() -> String {
    hex::encode(random_bytes::<16>())
}

/// A new generated password for the bootstrap administrator: 144 random bits.
pub fn new_generated_password() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Compares a presented secret with a stored SHA-256 in constant time.
pub fn secret_matches(presented: &str, stored_sha256_hex: &str) -> bool {
    let presented = sha256_hex(presented.as_bytes());
    presented
        .as_bytes()
        .ct_eq(stored_sha256_hex.as_bytes())
        .into()
}

/// The key-encryption key: AES-256-GCM over data at rest (signing keys, AK/SK secrets).
pub struct Kek {
    key: LessSafeKey,
}

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("the key-encryption key must be 32 bytes, base64 or hex encoded")]
    BadKey,
    #[error("the data could not be decrypted with this key-encryption key")]
    Decrypt,
}

impl Kek {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::BadKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Accepts 64 hex characters or standard base64 of 32 bytes.
    pub fn from_text(text: &str) -> Result<Self, KekError> {
        use base64::Engine;
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .filter(|b| b.len() == Self::LEN)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .filter(|b| b.len() == Self::LEN)
            .ok_or(KekError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn generate_text() -> String {
        hex::encode(random_bytes::<32>())
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. the key id) as associated data.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut out = plaintext.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        // Sealing only fails for inputs larger than AES-GCM allows (64 GiB).
        if self
            .key
            .seal_in_place_append_tag(nonce, Aad::from(context), &mut out)
            .is_err()
        {
            return Vec::new();
        }
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&out);
        sealed
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        if sealed.len() < NONCE_LEN {
            return Err(KekError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Decrypt)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| KekError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let kek = Kek::from_text(&Kek::generate_text()).unwrap();
        let sealed = kek.seal(b"kid-1", b"private key");
        assert_eq!(kek.open(b"kid-1", &sealed).unwrap(), b"private key");
        assert!(kek.open(b"kid-2", &sealed).is_err());
        let other = Kek::from_text(&Kek::generate_text()).unwrap();
        assert!(other.open(b"kid-1", &sealed).is_err());
    }

    #[test]
    fn client_secrets_are_128_bits_and_compare_by_hash() {
        let secret = new_client_secret();
        assert_eq!(secret.len(), 32);
        let stored = sha256_hex(secret.as_bytes());
        assert!(secret_matches(&secret, &stored));
        assert!(!secret_matches("wrong", &stored));
    }

    #[test]
    fn kek_text_must_be_32_bytes() {
        assert!(Kek::from_text("abcd").is_err());
        assert!(Kek::from_text(&"00".repeat(32)).is_ok());
    }
}
