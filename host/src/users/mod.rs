//! Users of the host: `<basedir>/users.yaml`, passwords hashed with argon2,
//! one API key per user (stored as a SHA-256 hash), roles and permissions as
//! OctoPrint has them.
//!
//! Changes are read-modify-write under a lock file and written atomically, so
//! the command line and a running host never lose each other's changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::disk::write_atomic;

mod permissions;

use permissions::known_permissions;
pub use permissions::{
    is_known_permission, ADMIN_PERMISSIONS, PERMISSION_DESCRIPTIONS, USER_PERMISSIONS,
};

fn active_default() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// One user as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The argon2 hash of the password (PHC string).
    pub password: String,
    /// Made at random when the user is added. A session remembers it, so a
    /// session of a removed user never passes for a new user of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// A deactivated user cannot log in, and their keys and sessions stop
    /// working (OctoPrint's `active`).
    #[serde(default = "active_default", skip_serializing_if = "is_true")]
    pub active: bool,
    /// Administrators have every permission.
    #[serde(default)]
    pub admin: bool,
    /// The user's permissions (an administrator's are implied).
    #[serde(default)]
    pub permissions: BTreeSet<String>,
    /// SHA-256 (hex) of the user's API key, if one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sha256: Option<String>,
    /// The keys applications got for this user (OctoPrint's application
    /// keys), one per application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_keys: Vec<AppKey>,
}

/// An application's key for a user: only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKey {
    /// The application's name, as it asked.
    pub app: String,
    /// SHA-256 (hex) of the key.
    pub sha256: String,
    /// When it was made, in seconds since the epoch.
    pub created: u64,
}

impl User {
    /// Whether the user has `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.admin || self.permissions.contains(permission)
    }

    /// Whether the key of hash `sha256` (the user's own or an
    /// application's) still works for this user.
    pub fn holds_key(&self, sha256: &str) -> bool {
        self.api_key_sha256.as_deref() == Some(sha256)
            || self.app_keys.iter().any(|k| k.sha256 == sha256)
    }

    /// What a plugin may learn of user `name`: no password, no API key.
    pub fn summary(&self, name: &str) -> plinth_abi::UserSummary {
        let permissions = ADMIN_PERMISSIONS
            .iter()
            .chain(USER_PERMISSIONS)
            .filter(|p| self.has(p))
            .map(|p| (*p).to_owned())
            .collect();
        plinth_abi::UserSummary {
            name: name.to_owned(),
            active: self.active,
            admin: self.admin,
            permissions,
        }
    }
}

/// `users.yaml`.
pub struct Users {
    path: PathBuf,
    /// The file's content as last read, with the stamp it had, and the
    /// users by the SHA-256 of each of their keys.
    cache: std::sync::Mutex<Option<(FileStamp, Arc<Read>)>>,
}

/// What [`Users::by_api_key_unchanged`] found.
#[derive(Debug)]
pub enum KeyLookup {
    /// The key is this active user's (their own or an application's).
    Found(String, User),
    /// No active user holds the key.
    Unknown,
    /// The users file changed since it was last read: nothing was looked up.
    FileChanged,
}

/// The users file as last read.
struct Read {
    users: BTreeMap<String, User>,
    /// SHA-256 (hex) of every key of an active user (their own and their
    /// applications') → the user's name.
    keys: std::collections::HashMap<String, String>,
}

impl Read {
    fn new(users: BTreeMap<String, User>) -> Self {
        let keys = users
            .iter()
            .filter(|(_, u)| u.active)
            .flat_map(|(name, u)| {
                let own = u.api_key_sha256.iter();
                let apps = u.app_keys.iter().map(|k| &k.sha256);
                own.chain(apps).map(move |k| (k.clone(), name.clone()))
            })
            .collect();
        Self { users, keys }
    }
}

/// Length, modification time and inode: every write is a rename to a new file.
type FileStamp = (u64, Option<std::time::SystemTime>, u64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok(), inode))
}

/// Why a change of the users did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The users file (or its lock) cannot be read, parsed or written.
    #[error("{}: cannot {what}: {error}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// Why.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A user name that cannot be used, and why.
    #[error("invalid user name {0:?}: {1}")]
    BadName(String, &'static str),
    /// An empty password.
    #[error("the password is empty")]
    EmptyPassword,
    /// A permission this host does not know.
    #[error("unknown permission {0:?}; known: {known}", known = known_permissions())]
    UnknownPermission(String),
    /// A user of that name exists.
    #[error("there is already a user `{0}`")]
    Exists(String),
    /// The first-run administrator, when users exist already.
    #[error("there are users already: log in as one of them")]
    UsersExist,
    /// No user of that name.
    #[error("no user `{0}`")]
    NoSuchUser(String),
    /// The change would leave no active administrator.
    #[error("that would leave no active administrator: make another user an administrator first")]
    LastAdmin,
    /// Hashing the password failed.
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
}

fn file_error<'a, E>(path: &'a Path, what: &'static str) -> impl FnOnce(E) -> UserError + 'a
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    move |error| UserError::File {
        path: path.to_path_buf(),
        what,
        error: error.into(),
    }
}

impl Users {
    /// The users of the base folder `basedir`.
    pub fn new(basedir: &Path) -> Self {
        Self {
            path: basedir.join("users.yaml"),
            cache: Default::default(),
        }
    }

    /// The file the users live in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every user, by name (read again only when the file changed).
    pub fn all(&self) -> Result<BTreeMap<String, User>, UserError> {
        Ok(self.current()?.users.clone())
    }

    /// User `name`, if there is one.
    pub fn get(&self, name: &str) -> Result<Option<User>, UserError> {
        Ok(self.current()?.users.get(name).cloned())
    }

    /// Whether there is no user at all.
    pub fn is_empty(&self) -> Result<bool, UserError> {
        Ok(self.current()?.users.is_empty())
    }

    /// The file as last read if it has not changed since: one `stat`, no
    /// read and no parse, so request handlers ask it on the runtime's
    /// threads. `None` when it changed or was never read (then ask
    /// [`all`](Self::all) or [`by_api_key`](Self::by_api_key) on a
    /// blocking thread).
    fn unchanged(&self) -> Option<Arc<Read>> {
        let stamp = file_stamp(&self.path)?;
        match self.cache.lock().unwrap().as_ref() {
            Some((cached, read)) if *cached == stamp => Some(read.clone()),
            _ => None,
        }
    }

    fn current(&self) -> Result<Arc<Read>, UserError> {
        if let Some(read) = self.unchanged() {
            return Ok(read);
        }
        let stamp = file_stamp(&self.path);
        let read = Arc::new(Read::new(self.read()?));
        if let Some(stamp) = stamp {
            *self.cache.lock().unwrap() = Some((stamp, read.clone()));
        }
        Ok(read)
    }

    fn read(&self) -> Result<BTreeMap<String, User>, UserError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(file_error(&self.path, "read")(e)),
        };
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        yaml_serde::from_str(&text).map_err(file_error(&self.path, "parse"))
    }

    /// Changes the users under the lock and writes them back.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, User>) -> Result<T, UserError>,
    ) -> Result<T, UserError> {
        let lock_path = self.path.with_file_name("users.yaml.lock");
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(file_error(dir, "create"))?;
        }
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(file_error(&lock_path, "open"))?;
        lock.lock().map_err(file_error(&lock_path, "lock"))?;
        let mut users = self.read()?;
        let out = change(&mut users)?;
        let text = yaml_serde::to_string(&users).map_err(file_error(&self.path, "serialise"))?;
        write_atomic(&self.path, text.as_bytes()).map_err(file_error(&self.path, "write"))?;
        Ok(out)
    }

    /// Adds a user. Without `permissions` a user gets the user role's set.
    pub fn add(
        &self,
        name: &str,
        password: &str,
        admin: bool,
        permissions: Option<Vec<String>>,
    ) -> Result<(), UserError> {
        self.insert(name, password, admin, permissions, false)
    }

    /// Adds the first user, an administrator (the first-run wizard). Refused
    /// with [`UserError::UsersExist`] when any user exists, checked under the file lock.
    pub fn add_first_admin(&self, name: &str, password: &str) -> Result<(), UserError> {
        self.insert(name, password, true, None, true)
    }

    fn insert(
        &self,
        name: &str,
        password: &str,
        admin: bool,
        permissions: Option<Vec<String>>,
        first_only: bool,
    ) -> Result<(), UserError> {
        check_name(name)?;
        if password.is_empty() {
            return Err(UserError::EmptyPassword);
        }
        let permissions: BTreeSet<String> = match permissions {
            Some(list) => {
                if let Some(bad) = list.iter().find(|p| !is_known_permission(p)) {
                    return Err(UserError::UnknownPermission(bad.clone()));
                }
                list.into_iter().collect()
            }
            None if admin => BTreeSet::new(),
            None => USER_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect(),
        };
        let hash = hash_password(password)?;
        self.update(|users| {
            if first_only && !users.is_empty() {
                return Err(UserError::UsersExist);
            }
            if users.contains_key(name) {
                return Err(UserError::Exists(name.to_owned()));
            }
            users.insert(
                name.to_owned(),
                User {
                    password: hash,
                    identity: Some(random_key()),
                    active: true,
                    admin,
                    permissions,
                    api_key_sha256: None,
                    app_keys: Vec::new(),
                },
            );
            Ok(())
        })
    }

    /// Removes a user; refused for the last active administrator.
    pub fn remove(&self, name: &str) -> Result<(), UserError> {
        self.update(|users| {
            users
                .remove(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            check_admin_left(users)
        })
    }

    /// Makes a new API key for `name` (replacing the old one) and returns it.
    /// Only its hash is stored: it is shown this once.
    pub fn new_api_key(&self, name: &str) -> Result<String, UserError> {
        let key = random_key();
        let hashed = sha256_hex(&key);
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            user.api_key_sha256 = Some(hashed);
            Ok(())
        })?;
        Ok(key)
    }

    /// Revokes `name`'s own API key (application keys stay).
    pub fn remove_api_key(&self, name: &str) -> Result<(), UserError> {
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            user.api_key_sha256 = None;
            Ok(())
        })
    }

    /// The user with this name and password.
    /// An unknown name costs as much time as a wrong password, so answers do
    /// not tell which names exist.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<User> {
        let user = self.all().ok().and_then(|mut users| users.remove(name));
        let stored = match &user {
            Some(u) => u.password.clone(),
            None => dummy_hash().to_owned(),
        };
        let hash = PasswordHash::new(&stored).ok()?;
        let verified = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        user.filter(|u| verified && u.active)
    }

    /// The user an API key (the user's own or an application's) belongs
    /// to, with the user's name.
    pub fn by_api_key(&self, key: &str) -> Option<(String, User)> {
        Self::find_key(&*self.current().ok()?, key)
    }

    /// Like [`by_api_key`](Self::by_api_key) without reading the file:
    /// [`KeyLookup::FileChanged`] when it changed since it was last read
    /// (then ask `by_api_key` on a blocking thread).
    pub fn by_api_key_unchanged(&self, key: &str) -> KeyLookup {
        match self.unchanged() {
            None => KeyLookup::FileChanged,
            Some(read) => match Self::find_key(&read, key) {
                Some((name, user)) => KeyLookup::Found(name, user),
                None => KeyLookup::Unknown,
            },
        }
    }

    fn find_key(read: &Read, key: &str) -> Option<(String, User)> {
        let name = read.keys.get(&sha256_hex(key))?;
        let user = read.users.get(name)?;
        Some((name.clone(), user.clone()))
    }

    /// Changes user `name` with `change`; refused when no active
    /// administrator would be left (nobody could manage the users then).
    pub fn modify(&self, name: &str, change: impl FnOnce(&mut User)) -> Result<(), UserError> {
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            let before = user.permissions.clone();
            change(user);
            // Only what the change adds is checked: a permission stored by an
            // older version is kept until someone removes it.
            if let Some(bad) = user
                .permissions
                .iter()
                .find(|p| !before.contains(*p) && !is_known_permission(p))
            {
                return Err(UserError::UnknownPermission(bad.clone()));
            }
            check_admin_left(users)
        })
    }

    /// Sets user `name`'s password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        if password.is_empty() {
            return Err(UserError::EmptyPassword);
        }
        let hash = hash_password(password)?;
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            user.password = hash;
            Ok(())
        })
    }

    /// Makes a new key for application `app` and user `name` (replacing the
    /// application's old one) and returns it; only its hash is stored.
    pub fn new_app_key(&self, name: &str, app: &str) -> Result<String, UserError> {
        let key = random_key();
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let sha256 = sha256_hex(&key);
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            user.app_keys.retain(|k| k.app != app);
            user.app_keys.push(AppKey {
                app: app.to_owned(),
                sha256,
                created,
            });
            Ok(())
        })?;
        Ok(key)
    }

    /// Revokes application `app`'s key for user `name`; whether there was one.
    pub fn revoke_app_key(&self, name: &str, app: &str) -> Result<bool, UserError> {
        self.update(|users| {
            let user = users
                .get_mut(name)
                .ok_or_else(|| UserError::NoSuchUser(name.to_owned()))?;
            let before = user.app_keys.len();
            user.app_keys.retain(|k| k.app != app);
            Ok(user.app_keys.len() != before)
        })
    }
}

/// Refuses a change that leaves users but no active administrator.
fn check_admin_left(users: &BTreeMap<String, User>) -> Result<(), UserError> {
    match users.is_empty() || users.values().any(|u| u.admin && u.active) {
        true => Ok(()),
        false => Err(UserError::LastAdmin),
    }
}

/// A hash to verify against when the user does not exist (same cost as a real one).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").expect("hashing works"))
}

fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(UserError::Hash)
}

/// A new random key: 24 bytes from the OS, in hex.
pub(crate) fn random_key() -> String {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of `text`, in hex (how keys are kept).
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// User names: 1 to 64 characters, no white space or control characters.
pub fn check_name(name: &str) -> Result<(), UserError> {
    let bad = |why| Err(UserError::BadName(name.to_owned(), why));
    if name.is_empty() || name.chars().count() > 64 {
        return bad("use 1 to 64 characters");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("no spaces or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_looked_up_without_reading_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::new(dir.path());
        users.add("ada", "s3cret", true, None).unwrap();
        let key = users.new_api_key("ada").unwrap();
        // Never read since it was written: nothing to look up in.
        assert!(matches!(
            users.by_api_key_unchanged(&key),
            KeyLookup::FileChanged
        ));
        assert_eq!(users.by_api_key(&key).unwrap().0, "ada");
        assert!(matches!(users.by_api_key_unchanged(&key), KeyLookup::Found(n, _) if n == "ada"));
        assert!(matches!(
            users.by_api_key_unchanged("not a key"),
            KeyLookup::Unknown
        ));
        // Another process deactivates ada: the next lookup sees the change.
        let text = fs::read_to_string(users.path()).unwrap();
        let other = Users::new(dir.path());
        other.modify("ada", |u| u.active = false).unwrap_err();
        other.add("bob", "pw", true, None).unwrap();
        other.modify("ada", |u| u.active = false).unwrap();
        assert_ne!(fs::read_to_string(users.path()).unwrap(), text);
        assert!(matches!(
            users.by_api_key_unchanged(&key),
            KeyLookup::FileChanged
        ));
        assert!(users.by_api_key(&key).is_none(), "a deactivated user's key");
        assert!(matches!(
            users.by_api_key_unchanged(&key),
            KeyLookup::Unknown
        ));
    }

    #[test]
    fn add_authenticate_keys_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::new(dir.path());
        users.add("ada", "s3cret", true, None).unwrap();
        users
            .add("bob", "hunter2", false, Some(vec!["status".into()]))
            .unwrap();
        assert!(users
            .add("ada", "x", false, None)
            .unwrap_err()
            .to_string()
            .contains("already"));
        assert!(users
            .add("eve", "x", false, Some(vec!["fly".into()]))
            .unwrap_err()
            .to_string()
            .contains("unknown permission \"fly\""));
        assert!(users
            .add("a b", "x", false, None)
            .unwrap_err()
            .to_string()
            .contains("invalid user name"));
        assert!(users
            .add("carl", "", false, None)
            .unwrap_err()
            .to_string()
            .contains("empty"));

        let ada = users.authenticate("ada", "s3cret").unwrap();
        assert!(ada.admin && ada.has("settings") && ada.has("webcam"));
        assert!(users.authenticate("ada", "wrong").is_none());
        assert!(users.authenticate("nobody", "s3cret").is_none());
        let bob = users.authenticate("bob", "hunter2").unwrap();
        assert!(bob.has("status") && !bob.has("webcam") && !bob.has("settings"));

        let text = fs::read_to_string(users.path()).unwrap();
        assert!(
            !text.contains("s3cret") && text.contains("$argon2"),
            "{text}"
        );

        let key = users.new_api_key("bob").unwrap();
        assert_eq!(users.by_api_key(&key).unwrap().0, "bob");
        let newer = users.new_api_key("bob").unwrap();
        assert!(
            users.by_api_key(&key).is_none(),
            "a new key replaces the old one"
        );
        assert!(users.by_api_key(&newer).is_some());
        assert!(!fs::read_to_string(users.path()).unwrap().contains(&newer));

        users.remove("bob").unwrap();
        assert!(users
            .remove("bob")
            .unwrap_err()
            .to_string()
            .contains("no user `bob`"));
        assert_eq!(users.all().unwrap().keys().collect::<Vec<_>>(), ["ada"]);
    }

    #[test]
    fn deactivation_permissions_passwords_and_the_last_administrator() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::new(dir.path());
        users.add("ada", "pw", true, None).unwrap();
        users.add("bob", "pw", false, None).unwrap();
        let key = users.new_api_key("bob").unwrap();
        users.modify("bob", |u| u.active = false).unwrap();
        assert!(users.authenticate("bob", "pw").is_none());
        assert!(users.by_api_key(&key).is_none());
        assert!(fs::read_to_string(users.path())
            .unwrap()
            .contains("active: false"));
        users.modify("bob", |u| u.active = true).unwrap();
        assert!(users.by_api_key(&key).is_some());

        let e = users.modify("ada", |u| u.admin = false).unwrap_err();
        assert!(matches!(e, UserError::LastAdmin), "{e}");
        assert!(matches!(
            users.modify("ada", |u| u.active = false),
            Err(UserError::LastAdmin)
        ));
        assert!(matches!(users.remove("ada"), Err(UserError::LastAdmin)));
        assert!(
            users.authenticate("ada", "pw").unwrap().admin,
            "nothing changed"
        );
        let e = users
            .modify("bob", |u| {
                u.permissions.insert("fly".into());
            })
            .unwrap_err();
        assert!(e.to_string().contains("unknown permission \"fly\""), "{e}");

        users.modify("bob", |u| u.admin = true).unwrap();
        users.remove("ada").unwrap();
        users.set_password("bob", "new").unwrap();
        assert!(users.authenticate("bob", "pw").is_none());
        assert!(users.authenticate("bob", "new").is_some());
        assert!(matches!(
            users.set_password("bob", ""),
            Err(UserError::EmptyPassword)
        ));
        assert!(matches!(
            users.set_password("nobody", "x"),
            Err(UserError::NoSuchUser(_))
        ));
    }

    #[test]
    fn every_permission_is_described() {
        for p in ADMIN_PERMISSIONS.iter().chain(USER_PERMISSIONS) {
            assert!(
                PERMISSION_DESCRIPTIONS.iter().any(|(k, _, _)| k == p),
                "{p}"
            );
        }
        assert_eq!(
            PERMISSION_DESCRIPTIONS.len(),
            ADMIN_PERMISSIONS.len() + USER_PERMISSIONS.len()
        );
    }

    #[test]
    fn the_user_role_includes_webcam() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::new(dir.path());
        users.add("u", "pw", false, None).unwrap();
        let u = users.authenticate("u", "pw").unwrap();
        assert!(
            u.has("webcam")
                && u.has("settings_read")
                && !u.has("settings")
                && !u.has("plugin_manager")
        );
    }
}
