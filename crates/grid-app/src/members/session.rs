//! A member's session: signed with the member's own keys, bound to its registration.
//!
//! A session value is `m1.{id}.{expires}.{mac}.{registration}`: a random id (new on every
//! sign-in), the epoch millisecond it expires at, an HMAC-SHA256 over the three under a
//! key derived from the registration's side keys, and the registration last (its id may
//! hold dots). So the grid keeps no secret of its own for members; a session opens only
//! the registration it names; changing the registration's keys (a new channel) ends its
//! sessions; and logout revokes the id in the store, as the portal's does.

use grid_core::{EpochMs, Registration, RegistrationId};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const VERSION: &str = "m1";

/// A session a member's keys signed: whose, which one, and until when (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSession {
    pub registration: RegistrationId,
    pub id: String,
    pub expires: EpochMs,
}

impl MemberSession {
    /// A new session of `registration`, expiring at `expires`, and the cookie value
    /// that carries it.
    pub fn sign(registration: &Registration, expires: EpochMs) -> (Self, String) {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        let session = Self { registration: registration.id.clone(), id: hex::encode(bytes), expires };
        let body = format!("{VERSION}.{}.{}", session.id, expires.get());
        let mac = hex::encode(mac(registration, &body).finalize().into_bytes());
        (session, format!("{body}.{mac}.{}", registration.id))
    }

    /// The registration a cookie value names, if it is shaped like a session; whether
    /// it is one is [`open`](Self::open)'s to say, with that registration.
    pub fn claimed_by(value: &str) -> Option<RegistrationId> {
        let mut parts = value.splitn(5, '.');
        let (Some(VERSION), Some(_), Some(_), Some(_), Some(registration)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        RegistrationId::parse(registration).ok()
    }

    /// The session `value` carries, if `registration`'s keys signed it and it has not
    /// expired by `now`.
    pub fn open(registration: &Registration, value: &str, now: EpochMs) -> Option<Self> {
        let mut parts = value.splitn(5, '.');
        let (Some(VERSION), Some(id), Some(expires), Some(presented), Some(named)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if named != registration.id.as_str() {
            return None;
        }
        mac(registration, &format!("{VERSION}.{id}.{expires}")).verify_slice(&hex::decode(presented).ok()?).ok()?;
        let expires = EpochMs::try_from(expires.parse::<u64>().ok()?).ok()?;
        (now < expires).then(|| Self { registration: registration.id.clone(), id: id.to_owned(), expires })
    }
}

/// The MAC of `body` under a key derived from `registration`'s id and side keys.
fn mac(registration: &Registration, body: &str) -> Hmac<Sha256> {
    let mut key = Hmac::<Sha256>::new_from_slice(b"energy-grid member session key v1").expect("any key length");
    key.update(registration.id.as_str().as_bytes());
    for side_key in registration.side_keys() {
        key.update(b"\0");
        key.update(side_key.expose().as_bytes());
    }
    let key = key.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(body.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use grid_core::{EpochMs, ItemType, ReturnChannel};

    use super::*;

    /// A time `ms` after 2027-01-15.
    fn at(ms: u64) -> EpochMs {
        EpochMs::try_from(1_800_000_000_000 + ms).unwrap()
    }

    fn member(id: &str) -> Registration {
        let mut r = Registration::new(RegistrationId::parse(id).unwrap(), ItemType::Consumer, None, None, at(0));
        r.return_channel = Some(ReturnChannel::generate());
        r
    }

    #[test]
    fn a_session_opens_only_its_own_registration_until_it_expires() {
        let alice = member("consumer.alice");
        let (session, value) = MemberSession::sign(&alice, at(1000));
        assert_eq!(MemberSession::claimed_by(&value), Some(alice.id.clone()));
        assert_eq!(MemberSession::open(&alice, &value, at(0)), Some(session));
        assert_eq!(MemberSession::open(&alice, &value, at(1000)), None, "expired");
        for side_key in alice.side_keys() {
            assert!(!value.contains(side_key.expose()), "no key in the cookie");
        }
        // Another member, even one whose id the value is edited to name, cannot use it.
        let bob = member("consumer.bob01");
        assert_eq!(MemberSession::open(&bob, &value, at(0)), None);
        let renamed = value.replace("consumer.alice", "consumer.bob01");
        assert_eq!(MemberSession::open(&bob, &renamed, at(0)), None);
        // New keys end the sessions the old ones signed.
        let mut rekeyed = alice.clone();
        rekeyed.return_channel = Some(ReturnChannel::generate());
        assert_eq!(MemberSession::open(&rekeyed, &value, at(0)), None);
    }

    #[test]
    fn a_session_whose_expiry_or_id_was_changed_does_not_open() {
        let alice = member("consumer-alice");
        let (session, value) = MemberSession::sign(&alice, at(1000));
        let mac = value.split('.').nth(3).unwrap();
        for forged in [
            format!("m1.{}.{}.{mac}.consumer-alice", session.id, u64::MAX),
            format!("m1.{}.{}.{mac}.consumer-alice", "0".repeat(32), session.expires.get()),
            format!("v1.{}.{}.{mac}.consumer-alice", session.id, session.expires.get()),
            "m1.x".to_owned(),
        ] {
            assert_eq!(MemberSession::open(&alice, &forged, at(0)), None, "{forged}");
        }
    }
}
