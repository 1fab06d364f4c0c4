//! The operator's access token (`PORTAL_TOKEN`), parsed with the rest of the configuration,
//! and the sessions the portal signs with it.
//!
//! A session value is `v1.{id}.{expires}.{mac}`: a random id (new on every sign-in), the
//! epoch millisecond it expires at, and an HMAC-SHA256 over both under a key derived
//! from the token. So any process, or any Lambda instance, checks a session without
//! looking anything up; changing `PORTAL_TOKEN` ends every session at once; and logout
//! revokes one id in the store ([`grid_store::SignInLog`]), which every check consults.
//! Comparisons are constant-time.

use std::fmt;

use grid_core::EpochMs;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A token that opens the portal: 16–256 printable ASCII characters, no spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalToken(String);

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a portal token is 16 to 256 printable ASCII characters without spaces")]
pub struct PortalTokenError;

/// A session the token signed: which one, and until when (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub expires: EpochMs,
}

const VERSION: &str = "v1";

impl PortalToken {
    pub fn parse(value: impl Into<String>) -> Result<Self, PortalTokenError> {
        let value = value.into();
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if (16..=256).contains(&value.len()) && printable { Ok(Self(value)) } else { Err(PortalTokenError) }
    }

    /// A fresh random token (32 hex characters), for `gridctl serve` without one.
    pub fn generate() -> Self {
        Self(hex::encode(random::<16>()))
    }

    /// The token itself, to print once for the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// A new session, expiring at `expires`, and the cookie value that carries it.
    pub fn sign_session(&self, expires: EpochMs) -> (Session, String) {
        let session = Session { id: hex::encode(random::<16>()), expires };
        let body = format!("{VERSION}.{}.{}", session.id, expires.get());
        let value = format!("{body}.{}", hex::encode(self.mac(&body).finalize().into_bytes()));
        (session, value)
    }

    /// The session `value` carries, if this token signed it and it has not expired by `now`.
    pub fn open_session(&self, value: &str, now: EpochMs) -> Option<Session> {
        let (body, mac) = value.rsplit_once('.')?;
        self.mac(body).verify_slice(&hex::decode(mac).ok()?).ok()?;
        let mut parts = body.split('.');
        let (VERSION, Some(id), Some(expires), None) = (parts.next()?, parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let expires = EpochMs::try_from(expires.parse::<u64>().ok()?).ok()?;
        (now < expires).then(|| Session { id: id.to_owned(), expires })
    }

    /// The MAC of `body` under a key derived from the token (never the token itself).
    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut key = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes keys of any length");
        key.update(b"energy-grid portal session key v1");
        let key = key.finalize().into_bytes();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        mac
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

impl fmt::Debug for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time `ms` after 2027-01-15.
    fn at(ms: u64) -> EpochMs {
        EpochMs::try_from(1_800_000_000_000 + ms).unwrap()
    }

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
    fn every_sign_in_gets_a_new_session_that_only_its_token_opens_until_it_expires() {
        let token = PortalToken::parse("a-secret-portal-token").unwrap();
        let other = PortalToken::parse("another-portal-token").unwrap();
        assert!(token.matches("a-secret-portal-token") && !token.matches("a-secret-portal-tokeN"));
        let (first, value) = token.sign_session(at(1000));
        let (second, again) = token.sign_session(at(1000));
        assert_ne!((&first.id, &value), (&second.id, &again), "a new value on every sign-in");
        assert!(!value.contains("a-secret-portal-token"), "the cookie is not the token");
        assert_eq!(token.open_session(&value, at(0)), Some(first.clone()));
        assert_eq!(token.open_session(&value, at(999)), Some(first));
        assert_eq!(token.open_session(&value, at(1000)), None, "expired");
        assert_eq!(other.open_session(&value, at(0)), None, "another token did not sign it");
    }

    #[test]
    fn a_session_whose_expiry_or_id_was_changed_does_not_open() {
        let token = PortalToken::parse("a-secret-portal-token").unwrap();
        let (session, value) = token.sign_session(at(1000));
        let mac = value.rsplit_once('.').unwrap().1;
        for forged in [
            format!("v1.{}.{}.{mac}", session.id, u64::MAX),
            format!("v1.{}.{}.{mac}", "0".repeat(32), session.expires.get()),
            format!("v2.{}.{}.{mac}", session.id, session.expires.get()),
            format!("v1.{}.{}", session.id, session.expires.get()),
            value.replace("v1.", ""),
            String::new(),
            "....".to_owned(),
        ] {
            assert_eq!(token.open_session(&forged, at(0)), None, "{forged}");
        }
    }
}
