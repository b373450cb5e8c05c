//! Login sessions (an HttpOnly, SameSite=Lax cookie) with a CSRF token each,
//! and the limit on failed logins per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// The session cookie.
pub const SESSION_COOKIE: &str = "plinth_session";
/// The CSRF cookie (readable by the page, sent back as `X-CSRF-Token`).
pub const CSRF_COOKIE: &str = "plinth_csrf";
/// Failed logins allowed per address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The window failed logins are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// A session not used for this long ends.
pub const SESSION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    last_used: Instant,
}

/// Sessions and failed-login counts of one server.
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_idle_limit(SESSION_IDLE)
    }
}

fn token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// Sessions that end after `idle` without use.
    pub fn with_idle_limit(idle: Duration) -> Self {
        Self {
            sessions: Default::default(),
            failures: Default::default(),
            idle,
        }
    }

    /// Opens a session for `user`: returns its cookie token and CSRF token.
    pub fn open(&self, user: &str) -> (String, Session) {
        let session = Session {
            user: user.to_owned(),
            csrf: token(),
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

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.sessions.lock().unwrap().remove(id);
    }

    /// Counts a login attempt from `address` before the password is checked,
    /// so parallel attempts cannot slip past the limit; `Err` with the time to
    /// wait when the address already used up its attempts.
    pub fn attempt(&self, address: IpAddr) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap();
        failures.retain(|_, list| {
            list.retain(|t| t.elapsed() < FAILURE_WINDOW);
            !list.is_empty()
        });
        let list = failures.entry(address).or_default();
        if list.len() >= MAX_FAILURES {
            return Err(FAILURE_WINDOW.saturating_sub(list[0].elapsed()));
        }
        list.push(Instant::now());
        Ok(())
    }

    /// A successful login takes back its own attempt, and only that: a login
    /// to one's own account does not wipe failed guesses at another.
    pub fn succeeded(&self, address: IpAddr) {
        if let Some(list) = self.failures.lock().unwrap().get_mut(&address) {
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
        let (id, _) = sessions.open("ada");
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(50));
            assert!(sessions.get(&id).is_some(), "used within the limit");
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(sessions.get(&id).is_none(), "idle too long");
        let (other, _) = sessions.open("bob");
        sessions.close(&other);
        assert!(sessions.get(&other).is_none());
    }

    #[test]
    fn attempts_are_counted_before_the_check() {
        let sessions = Sessions::default();
        let address: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(sessions.attempt(address).is_ok());
        }
        assert!(sessions.attempt(address).is_err());
        sessions.succeeded(address);
        assert!(
            sessions.attempt(address).is_ok(),
            "a success takes back its own attempt only"
        );
        assert!(sessions.attempt(address).is_err());
    }
}
