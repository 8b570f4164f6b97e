//! Connection secrets (Slack bot tokens, Teams webhook URLs) sealed at rest: AES-256-GCM
//! with a key derived from `secret_key` (or `token_secret`), a fresh random nonce per
//! seal, and the account and provider bound in as associated data so a sealed value
//! copied to another row does not open. Stored as `v1.<nonce>.<ciphertext>` (base64url).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Seals and opens secrets. `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the stored secret cannot be opened (was secret_key changed?)")]
    Open,
    #[error("sealing failed")]
    Seal,
}

impl Sealer {
    /// A sealer keyed by SHA-256 of a domain label and `key` (a configured secret of at
    /// least 32 characters).
    pub fn new(key: &str) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"varsel connection secrets v1\0");
        h.update(key.as_bytes());
        let k: [u8; 32] = h.finalize().into();
        Sealer {
            cipher: Aes256Gcm::new(&k.into()),
        }
    }

    fn aad(account: &str, provider: &str) -> Vec<u8> {
        format!("{account}\0{provider}").into_bytes()
    }

    pub fn seal(&self, account: &str, provider: &str, secret: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SecretError::Seal)?;
        let aad = Self::aad(account, provider);
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Seal)?;
        Ok(format!("v1.{}.{}", B64.encode(nonce), B64.encode(ct)))
    }

    pub fn open(&self, account: &str, provider: &str, sealed: &str) -> Result<String, SecretError> {
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(n), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Open);
        };
        let nonce = B64.decode(n).map_err(|_| SecretError::Open)?;
        let ct = B64.decode(c).map_err(|_| SecretError::Open)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Open)?;
        let aad = Self::aad(account, provider);
        let pt = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(pt).map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn seals_without_the_clear_text_and_opens_only_where_sealed() {
        let s = Sealer::new(KEY);
        let sealed = s.seal("acme", "slack", "xoxb-secret-token").unwrap();
        assert!(!sealed.contains("xoxb"), "{sealed}");
        assert_ne!(
            sealed,
            s.seal("acme", "slack", "xoxb-secret-token").unwrap()
        );
        assert_eq!(
            s.open("acme", "slack", &sealed).unwrap(),
            "xoxb-secret-token"
        );
        // Bound to its row, and to the key.
        assert!(s.open("other", "slack", &sealed).is_err());
        assert!(s.open("acme", "teams", &sealed).is_err());
        assert!(
            Sealer::new(&KEY.repeat(2))
                .open("acme", "slack", &sealed)
                .is_err()
        );
        assert!(s.open("acme", "slack", "v1.garbage").is_err());
        assert!(s.open("acme", "slack", "").is_err());
    }
}
