//! Login sessions (an HttpOnly, SameSite=Lax cookie) with a CSRF token each,
//! and the limits on failed logins: per user and address (so one user's
//! wrong passwords never lock another user out, even behind a reverse proxy
//! where everyone shares an address), and a higher cap per address (so one
//! address cannot guess at every user).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// The session cookie.
pub const SESSION_COOKIE: &str = "plinth_session";
/// The CSRF cookie (readable by the page, sent back as `X-CSRF-Token`).
pub const CSRF_COOKIE: &str = "plinth_csrf";

/// A session not used for this long ends.
pub const SESSION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);

/// How many failed logins are allowed, and for how long they count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginLimits {
    /// Failed logins to one user from one address within `window`.
    pub per_user: usize,
    /// Failed logins from one address, to any users, within `window`.
    pub per_address: usize,
    /// How long a failed login counts (and so how long a lock-out lasts).
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 20,
            window: Duration::from_secs(300),
        }
    }
}

impl LoginLimits {
    /// The limits set in the config (`server.login_failures_per_user`,
    /// `server.login_failures_per_address`, `server.login_lockout`).
    pub fn from_config(config: &crate::config::ConfigStore) -> Self {
        use crate::config::host_settings as keys;
        let count = |key: &keys::CountKey| usize::try_from(key.get(config)).unwrap_or(usize::MAX);
        Self {
            per_user: count(&keys::LOGIN_FAILURES_PER_USER),
            per_address: count(&keys::LOGIN_FAILURES_PER_ADDRESS),
            window: keys::LOGIN_LOCKOUT.duration(config),
        }
    }
}

/// Why a login attempt is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LockedOut {
    /// Too many failed logins to this user from this address.
    User(Duration),
    /// Too many failed logins from this address.
    Address(Duration),
}

impl LockedOut {
    /// How long until an attempt is allowed again.
    pub fn wait(self) -> Duration {
        match self {
            LockedOut::User(d) | LockedOut::Address(d) => d,
        }
    }
}

/// The key of failed logins per user and address.
type UserAtAddress = (String, IpAddr);

/// The part of a user name that failed logins are counted under: names are
/// kept short, so that guesses with huge names take no memory to count.
fn counted_name(user: &str) -> String {
    user.chars().take(64).collect()
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    /// The user's identity when the session opened (see
    /// [`crate::users::User::identity`]): another user of the same name
    /// does not inherit the session.
    pub identity: Option<String>,
    pub csrf: String,
    /// What the session's push channels authenticate with (`{"auth":
    /// "<user>:<push token>"}`, OctoPrint's `session`): never the cookie.
    pub push_token: String,
    /// The hash of the API key a passive login opened it with: the session
    /// ends when that key no longer works.
    pub key_sha256: Option<String>,
    last_used: Instant,
}

/// Sessions and failed-login counts of one server.
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<Failures>,
    idle: Duration,
    limits: LoginLimits,
}

/// When recent login attempts were made, per user and address and per address.
#[derive(Default)]
struct Failures {
    per_user: HashMap<UserAtAddress, Vec<Instant>>,
    per_address: HashMap<IpAddr, Vec<Instant>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(SESSION_IDLE, LoginLimits::default())
    }
}

pub(crate) fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Forgets attempts older than `window` and lists that became empty.
fn forget_old<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Vec<Instant>>, window: Duration) {
    map.retain(|_, list| {
        list.retain(|t| t.elapsed() < window);
        !list.is_empty()
    });
}

/// How long until the oldest of `list` stops counting, if `list` is at `limit`.
fn locked(list: Option<&Vec<Instant>>, limit: usize, window: Duration) -> Option<Duration> {
    let list = list?;
    (list.len() >= limit).then(|| window.saturating_sub(list[0].elapsed()))
}

impl Sessions {
    /// Sessions that end after `idle` without use, with `limits` on failed logins.
    pub fn new(idle: Duration, limits: LoginLimits) -> Self {
        Self {
            sessions: Default::default(),
            failures: Default::default(),
            idle,
            limits,
        }
    }

    /// Sessions that end after `idle` without use.
    #[cfg(test)]
    pub fn with_idle_limit(idle: Duration) -> Self {
        Self::new(idle, LoginLimits::default())
    }

    /// Opens a session for `user` of `identity` (`key_sha256`: the API
    /// key's hash when a key opened it): returns its cookie token and the
    /// session.
    pub fn open(
        &self,
        user: &str,
        identity: Option<String>,
        key_sha256: Option<String>,
    ) -> (String, Session) {
        let session = Session {
            user: user.to_owned(),
            identity,
            csrf: token(),
            push_token: token(),
            key_sha256,
            last_used: Instant::now(),
        };
        let id = token();
        let mut sessions = self.sessions.lock().unwrap();
        sessions.retain(|_, s| s.last_used.elapsed() < self.idle);
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session of a cookie token, if it has not been idle too long.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap();
        let session = sessions.get_mut(id)?;
        if session.last_used.elapsed() >= self.idle {
            sessions.remove(id);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }

    /// The session (its cookie token) whose push token is `push_token`.
    pub fn by_push_token(&self, push_token: &str) -> Option<(String, Session)> {
        let sessions = self.sessions.lock().unwrap();
        sessions
            .iter()
            .find(|(_, s)| {
                s.push_token.len() == push_token.len()
                    && s.push_token
                        .bytes()
                        .zip(push_token.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
                    && s.last_used.elapsed() < self.idle
            })
            .map(|(id, s)| (id.clone(), s.clone()))
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.sessions.lock().unwrap().remove(id);
    }

    /// Counts a login attempt as `user` from `address` before the password is
    /// checked, so parallel attempts cannot slip past the limits; refused when
    /// that user from that address, or that address, used up its attempts.
    pub fn attempt(&self, user: &str, address: IpAddr) -> Result<(), LockedOut> {
        let LoginLimits {
            per_user,
            per_address,
            window,
        } = self.limits;
        let mut failures = self.failures.lock().unwrap();
        forget_old(&mut failures.per_user, window);
        forget_old(&mut failures.per_address, window);
        let key = (counted_name(user), address);
        if let Some(wait) = locked(failures.per_user.get(&key), per_user, window) {
            return Err(LockedOut::User(wait));
        }
        if let Some(wait) = locked(failures.per_address.get(&address), per_address, window) {
            return Err(LockedOut::Address(wait));
        }
        failures
            .per_user
            .entry(key)
            .or_default()
            .push(Instant::now());
        failures
            .per_address
            .entry(address)
            .or_default()
            .push(Instant::now());
        Ok(())
    }

    /// A successful login takes back its own attempt, and only that: a login
    /// to one's own account does not wipe failed guesses at another.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap();
        if let Some(list) = failures.per_user.get_mut(&(counted_name(user), address)) {
            list.pop();
        }
        if let Some(list) = failures.per_address.get_mut(&address) {
            list.pop();
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sessions_end_and_used_ones_live_on() {
        let sessions = Sessions::with_idle_limit(Duration::from_millis(150));
        let (id, _) = sessions.open("ada", None, None);
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(50));
            assert!(sessions.get(&id).is_some(), "used within the limit");
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(sessions.get(&id).is_none(), "idle too long");
        let (other, _) = sessions.open("bob", None, None);
        sessions.close(&other);
        assert!(sessions.get(&other).is_none());
    }

    #[test]
    fn attempts_are_counted_before_the_check() {
        let sessions = Sessions::default();
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..5 {
            assert!(sessions.attempt("ada", address).is_ok());
        }
        assert!(matches!(
            sessions.attempt("ada", address),
            Err(LockedOut::User(_))
        ));
        sessions.succeeded("ada", address);
        assert!(
            sessions.attempt("ada", address).is_ok(),
            "a success takes back its own attempt only"
        );
        assert!(sessions.attempt("ada", address).is_err());
    }

    #[test]
    fn one_users_failures_do_not_lock_out_another_but_an_address_has_a_cap() {
        let limits = LoginLimits {
            per_user: 2,
            per_address: 5,
            window: Duration::from_secs(60),
        };
        let sessions = Sessions::new(SESSION_IDLE, limits);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            sessions.attempt("mallory", proxy).unwrap();
        }
        assert!(matches!(
            sessions.attempt("mallory", proxy),
            Err(LockedOut::User(_))
        ));
        assert!(sessions.attempt("ada", proxy).is_ok(), "another user");
        assert!(
            sessions.attempt("mallory", elsewhere).is_ok(),
            "another address"
        );
        for user in ["b", "c"] {
            sessions.attempt(user, proxy).unwrap();
        }
        // Five attempts from the proxy: the address is at its cap for everyone.
        let refused = sessions.attempt("d", proxy);
        assert!(matches!(refused, Err(LockedOut::Address(w)) if w > Duration::from_secs(50)));
    }

    #[test]
    fn failures_stop_counting_after_the_window() {
        let limits = LoginLimits {
            per_user: 1,
            per_address: 1,
            window: Duration::from_millis(100),
        };
        let sessions = Sessions::new(SESSION_IDLE, limits);
        let address: IpAddr = "127.0.0.3".parse().unwrap();
        sessions.attempt("ada", address).unwrap();
        assert!(sessions.attempt("ada", address).is_err());
        std::thread::sleep(Duration::from_millis(150));
        assert!(sessions.attempt("ada", address).is_ok());
    }
}
