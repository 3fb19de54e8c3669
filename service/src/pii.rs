//! Salted hashing of personal data, shared by the enricher (per-tenant hashing of e-mail,
//! phone, IP and name) and the sink (erasure records, which keep only hashes).

use sha2::{Digest, Sha256};

/// Salted hash of a personal value: lowercase hex of `SHA-256(salt || 0x00 || value)`.
///
/// The zero byte separates salt and value so that no (salt, value) pair can produce the
/// bytes of another (`"ab" + "c"` vs `"a" + "bc"`). Pass the normalized value (the E.164
/// phone, the lowercased e-mail) so equal values hash equally.
pub fn hash_pii(salt: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0u8]);
    hasher.update(value.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
