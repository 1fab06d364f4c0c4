//! The operator's access token (`PORTAL_TOKEN`) and the session cookie derived from it.
//!
//! The session is stateless, so it works the same on one process and on many Lambda
//! instances: the cookie holds SHA-256 of a fixed label and the token, never the token
//! itself. Changing `PORTAL_TOKEN` ends every session. Comparisons are constant-time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token that opens the portal: 16–256 printable ASCII characters, no spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalToken(String);

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a portal token is 16 to 256 printable ASCII characters without spaces")]
pub struct PortalTokenError;

impl PortalToken {
    pub fn parse(value: impl Into<String>) -> Result<Self, PortalTokenError> {
        let value = value.into();
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if (16..=256).contains(&value.len()) && printable { Ok(Self(value)) } else { Err(PortalTokenError) }
    }

    /// A fresh random token (32 hex characters), for `gridctl serve` without one.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token itself, to print once for the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The session cookie's value for this token.
    pub fn session(&self) -> String {
        let digest = Sha256::new().chain_update(b"energy-grid portal session v1\0").chain_update(&self.0).finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `presented` is this token's session.
    pub fn opens_session(&self, presented: &str) -> bool {
        self.session().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_printable_and_never_shown_in_debug() {
        assert!(PortalToken::parse("0123456789abcdef").is_ok());
        for bad in ["short", "with spaces in the token", "ünïcödé-tokens-are-out", "", &"x".repeat(257)] {
            assert_eq!(PortalToken::parse(bad), Err(PortalTokenError), "{bad:?}");
        }
        let token = PortalToken::parse("a-secret-portal-token").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
        assert_eq!(PortalToken::generate().expose().len(), 32);
        assert_ne!(PortalToken::generate(), PortalToken::generate());
    }

    #[test]
    fn a_session_opens_only_with_its_own_token() {
        let token = PortalToken::parse("a-secret-portal-token").unwrap();
        let other = PortalToken::parse("another-portal-token").unwrap();
        assert!(token.matches("a-secret-portal-token") && !token.matches("a-secret-portal-tokeN"));
        assert!(token.opens_session(&token.session()));
        assert!(!token.opens_session(&other.session()));
        assert!(!token.opens_session("a-secret-portal-token"), "the cookie is not the token");
        assert_eq!(token.session().len(), 64);
    }
}
