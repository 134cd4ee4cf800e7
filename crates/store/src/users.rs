//! Accounts: add, list, change, remove; HA1 lookup for SIP digest. Input is validated before anything
//! is written, and each change is one statement, so a refused command leaves nothing half-written.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use parley_core::sip::digest::{ha1, Algorithm};
use parley_core::trunk::dialplan::DialClass;
use sqlx::Row;

use crate::{Store, StoreError, SIP_REALM};

/// What happens to a removed account's audio and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Deleted.
    Delete,
    /// Kept under `archive/` in the data directory, out of the mailbox's place.
    Archive,
}

/// An account as listed (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// The extension number.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: Option<String>,
    /// Mobile number (for SMS notifications).
    pub mobile: Option<String>,
    /// Whether a voicemail PIN is set.
    pub has_pin: bool,
    /// Privileges beyond managing one's own things.
    pub privileges: Vec<Privilege>,
    /// What the account may dial outside.
    pub dial_class: DialClass,
    /// The number callers outside see (E.164), if the account has its own.
    pub outside_number: Option<String>,
}

/// The columns of [`User`] (for [`user_of_row`]).
const USER_COLUMNS: &str = "extension, name, email, mobile, \
     CASE WHEN pin_hash IS NULL THEN 0 ELSE 1 END AS has_pin, privileges, dial_class, outside_number";

fn user_of_row(r: &sqlx::any::AnyRow) -> User {
    User {
        extension: r.get("extension"),
        name: r.get("name"),
        email: r.get("email"),
        mobile: r.get("mobile"),
        has_pin: crate::db::flag(r, "has_pin"),
        privileges: Privilege::split(&r.get::<String, _>("privileges")),
        dial_class: DialClass::parse(&r.get::<String, _>("dial_class"))
            .unwrap_or(DialClass::Internal),
        outside_number: r
            .try_get::<Option<String>, _>("outside_number")
            .ok()
            .flatten(),
    }
}

/// What an account may do beyond managing its own things (the seeds' privileges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    /// Everything.
    Admin,
    /// "REST Authentication": may call the Callisto-compatible API.
    Rest,
    /// "Groups": may manage ManagerAssistant groups.
    Groups,
    /// May send SMS: "Send SMS when receiving a message" is offered only to such accounts.
    Sms,
    /// May define the call routes of one's own extension (Allworx: "The Allworx Server
    /// Administrator must configure permissions for users to define the routing of their
    /// extensions"). Changing one's presence needs none.
    Routes,
    /// Not a permission but the administrator's requirement: Follow-Me and Mobile Connect calls are
    /// taken with the user's mailbox PIN instead of `1` (seed 000/003's option for shared or
    /// unlocked mobiles).
    FollowMePin,
    /// May create (schedule) conferences in the Conference Center (Allworx: "The System
    /// Administrator provides permission to create conferences"). Being a Creator or Moderator of
    /// one needs none.
    Conferences,
}

impl Privilege {
    /// Every privilege.
    pub const ALL: [Privilege; 7] = [
        Privilege::Admin,
        Privilege::Rest,
        Privilege::Groups,
        Privilege::Sms,
        Privilege::Routes,
        Privilege::FollowMePin,
        Privilege::Conferences,
    ];

    /// Stored and command-line name (`admin`, `rest`, `groups`).
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Admin => "admin",
            Privilege::Rest => "rest",
            Privilege::Groups => "groups",
            Privilege::Sms => "sms",
            Privilege::Routes => "routes",
            Privilege::FollowMePin => "follow-me-pin",
            Privilege::Conferences => "conferences",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Result<Privilege, StoreError> {
        Privilege::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown privilege {s:?} (admin, rest, groups, sms, routes, follow-me-pin or conferences)"
                ))
            })
    }

    fn join(list: &[Privilege]) -> String {
        let mut v: Vec<&str> = list.iter().map(|p| p.as_str()).collect();
        v.sort();
        v.dedup();
        v.join(",")
    }

    fn split(s: &str) -> Vec<Privilege> {
        split_privileges(s)
    }
}

/// Parse a stored privilege list (unknown names are ignored).
pub(crate) fn split_privileges(s: &str) -> Vec<Privilege> {
    s.split(',')
        .filter_map(|p| Privilege::parse(p).ok())
        .collect()
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Extension (digits).
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Password (SIP and portal).
    pub password: String,
    /// Voicemail PIN.
    pub pin: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Privileges.
    pub privileges: Vec<Privilege>,
}

/// Changes to an account (`None` = unchanged).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New name.
    pub name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// New PIN.
    pub pin: Option<String>,
    /// New email (empty string clears it).
    pub email: Option<String>,
    /// New mobile number (empty string clears it).
    pub mobile: Option<String>,
    /// New privileges (replacing the old ones).
    pub privileges: Option<Vec<Privilege>>,
    /// New dialling class.
    pub dial_class: Option<DialClass>,
    /// New outside number in E.164 (empty string clears it).
    pub outside_number: Option<String>,
}

/// Check an extension: 2 to 10 digits.
pub fn validate_extension(ext: &str) -> Result<(), StoreError> {
    parley_core::extension::Extension::parse(ext)
        .map(|_| ())
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn validate_password(p: &str) -> Result<(), StoreError> {
    if p.chars().count() < 4 {
        return Err(StoreError::Invalid(
            "password must have at least 4 characters".into(),
        ));
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(StoreError::Invalid(
            "password must not contain control characters".into(),
        ));
    }
    Ok(())
}

fn validate_pin(p: &str) -> Result<(), StoreError> {
    // Any number of digits (seed 000); the policy's minimum and the trivial-PIN refusal are applied
    // where a person chooses a PIN (`parley_core::vm::pin::check`).
    if (1..=32).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid("PIN must be 1 to 32 digits".into()))
    }
}

fn validate_name(n: &str) -> Result<(), StoreError> {
    if n.trim().is_empty() || n.len() > 100 || n.chars().any(|c| c.is_control() || c == '"') {
        return Err(StoreError::Invalid(
            "name must be 1 to 100 printable characters, without quotes".into(),
        ));
    }
    Ok(())
}

fn validate_email(e: &str) -> Result<(), StoreError> {
    let ok = e.len() <= 200
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("not an email address: {e:?}")))
    }
}

/// A mobile number as stored: digits with an optional leading `+`; spaces, dashes, dots and
/// parentheses that people type are dropped.
fn normalize_mobile(m: &str) -> String {
    m.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect()
}

fn validate_mobile(m: &str) -> Result<(), StoreError> {
    let n = normalize_mobile(m);
    let digits = n.strip_prefix('+').unwrap_or(&n);
    if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "not a phone number: {m:?} (digits, optionally with a leading +)"
        )))
    }
}

/// Hash a secret with argon2id and a random salt.
pub fn hash_secret(secret: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

/// Check a secret against an argon2 hash.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The wall clock in Unix seconds (for rows' timestamps; the logic crates take time as an argument).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Add an account.
    pub async fn add_user(&self, u: &NewUser) -> Result<(), StoreError> {
        validate_extension(&u.extension)?;
        validate_name(&u.name)?;
        validate_password(&u.password)?;
        if let Some(p) = &u.pin {
            validate_pin(p)?;
        }
        if let Some(e) = &u.email {
            validate_email(e)?;
        }
        let pin_hash = u.pin.as_deref().map(hash_secret).transpose()?;
        let res = sqlx::query(
            "INSERT INTO users (extension, name, email, password_hash, ha1_md5, ha1_sha256, pin_hash, created_at, privileges) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&u.extension)
        .bind(u.name.trim())
        .bind(&u.email)
        .bind(hash_secret(&u.password)?)
        .bind(ha1(Algorithm::Md5, &u.extension, SIP_REALM, &u.password))
        .bind(ha1(Algorithm::Sha256, &u.extension, SIP_REALM, &u.password))
        .bind(pin_hash)
        .bind(unix_now())
        .bind(Privilege::join(&u.privileges))
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Duplicate(u.extension.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All accounts, by extension.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY extension"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_of_row).collect())
    }

    /// One account.
    pub async fn get_user(&self, ext: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE extension = $1"
        ))
        .bind(ext)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_of_row))
    }

    /// Remove an account.
    pub async fn remove_user(&self, ext: &str) -> Result<(), StoreError> {
        self.remove_account(ext, Disposal::Delete).await.map(|_| ())
    }

    /// Remove an account with everything that was its own: messages, greetings, name and
    /// announcements, API tokens, and the call records it took part in, so that the next user of the
    /// extension inherits nothing. With [`Disposal::Archive`] the audio and a JSON list of the messages
    /// and call records go to `archive/<ext>-<unix time>/` under the data directory (returned).
    ///
    /// The audio is moved out of the mailbox's place first, then the rows go in one transaction; if that
    /// fails, the audio is put back.
    pub async fn remove_account(
        &self,
        ext: &str,
        disposal: Disposal,
    ) -> Result<Option<std::path::PathBuf>, StoreError> {
        if self.get_user(ext).await?.is_none() {
            return Err(StoreError::NotFound(ext.to_string()));
        }
        let now = crate::unix_now();
        let audio = self.mailbox_dir(ext);
        let parked = match disposal {
            Disposal::Delete => self
                .data_dir()
                .join("voicemail")
                .join(format!(".removed-{ext}-{now}")),
            Disposal::Archive => {
                let dir = self.data_dir().join("archive").join(format!("{ext}-{now}"));
                std::fs::create_dir_all(&dir)?;
                let messages = self.list_messages(ext).await?;
                let calls = self.call_records(Some(ext), u32::MAX).await?;
                let list = serde_json::json!({ "extension": ext, "removed_at": now, "messages": messages, "calls": calls });
                std::fs::write(
                    dir.join("account.json"),
                    serde_json::to_vec_pretty(&list).unwrap_or_default(),
                )?;
                dir.join("voicemail")
            }
        };
        let moved = match std::fs::rename(&audio, &parked) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        // Audio in the database goes with the rows; archived, it is written out beside them first.
        let in_db = self.audio_place() == crate::AudioPlace::Database;
        if in_db && disposal == Disposal::Archive {
            let greetings = parked.join("greetings");
            std::fs::create_dir_all(&greetings)?;
            for m in self.list_messages(ext).await? {
                if let Some(wav) = self.audio_wav(&crate::AudioKey::message(ext, m.id)).await {
                    std::fs::write(parked.join(format!("{}.wav", m.id)), wav)?;
                }
            }
            for kind in parley_core::vm::GreetingKind::ALL {
                if let Some(wav) = self.audio_wav(&crate::AudioKey::greeting(ext, kind)).await {
                    std::fs::write(greetings.join(format!("{}.wav", kind.as_str())), wav)?;
                }
            }
        }
        let rows = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM call_records WHERE caller = $1 OR callee = $1")
                .bind(ext)
                .execute(&mut *tx)
                .await?;
            // Emails and texts still due about its messages go with it (they carry its address).
            let sql = format!(
                "DELETE FROM outbox WHERE state = 'pending' AND channel IN ('email', 'sms')
                 AND {} = $1",
                self.backend.payload_mailbox()
            );
            sqlx::query(&sql).bind(ext).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM routing WHERE extension = $1")
                .bind(ext)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM users WHERE extension = $1")
                .bind(ext)
                .execute(&mut *tx)
                .await?;
            if in_db {
                for pattern in crate::audio::mailbox_patterns(ext) {
                    for table in ["audio_chunks", "audio"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE name LIKE $1"))
                            .bind(&pattern)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = rows {
            if moved {
                let _ = std::fs::rename(&parked, &audio);
            }
            return Err(e.into());
        }
        match disposal {
            Disposal::Delete => {
                // The account is gone and its audio out of the mailbox's place already: a file
                // that cannot be deleted now is only left in the parked directory.
                if moved {
                    if let Err(e) = std::fs::remove_dir_all(&parked) {
                        tracing::warn!(error = %e, dir = %parked.display(), "removed account's audio not deleted");
                    }
                }
                Ok(None)
            }
            Disposal::Archive => Ok(parked.parent().map(|p| p.to_path_buf())),
        }
    }

    /// Change an account; all fields are validated before one UPDATE writes them.
    pub async fn update_user(&self, ext: &str, c: &UserChanges) -> Result<(), StoreError> {
        if let Some(n) = &c.name {
            validate_name(n)?;
        }
        if let Some(p) = &c.password {
            validate_password(p)?;
        }
        if let Some(p) = &c.pin {
            validate_pin(p)?;
        }
        if let Some(e) = c.email.as_deref().filter(|e| !e.is_empty()) {
            validate_email(e)?;
        }
        if let Some(m) = c.mobile.as_deref().filter(|m| !m.is_empty()) {
            validate_mobile(m)?;
        }
        if let Some(n) = c.outside_number.as_deref().filter(|n| !n.is_empty()) {
            crate::check_e164(n)?;
        }
        let password = c
            .password
            .as_deref()
            .map(|p| -> Result<_, StoreError> {
                Ok((
                    hash_secret(p)?,
                    ha1(Algorithm::Md5, ext, SIP_REALM, p),
                    ha1(Algorithm::Sha256, ext, SIP_REALM, p),
                ))
            })
            .transpose()?;
        let pin = c.pin.as_deref().map(hash_secret).transpose()?;
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(ext.to_string()));
        }
        if let Some(n) = &c.name {
            sqlx::query("UPDATE users SET name = $1 WHERE extension = $2")
                .bind(n.trim())
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((h, md5, sha)) = password {
            sqlx::query("UPDATE users SET password_hash = $1, ha1_md5 = $2, ha1_sha256 = $3 WHERE extension = $4")
                .bind(h)
                .bind(md5)
                .bind(sha)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(p) = pin {
            sqlx::query("UPDATE users SET pin_hash = $1 WHERE extension = $2")
                .bind(p)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(list) = &c.privileges {
            sqlx::query("UPDATE users SET privileges = $1 WHERE extension = $2")
                .bind(Privilege::join(list))
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(e) = &c.email {
            let e = (!e.is_empty()).then_some(e);
            sqlx::query("UPDATE users SET email = $1 WHERE extension = $2")
                .bind(e)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(m) = &c.mobile {
            let m = (!m.is_empty()).then(|| normalize_mobile(m));
            sqlx::query("UPDATE users SET mobile = $1 WHERE extension = $2")
                .bind(m)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(class) = c.dial_class {
            sqlx::query("UPDATE users SET dial_class = $1 WHERE extension = $2")
                .bind(class.as_str())
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(n) = &c.outside_number {
            let n = (!n.is_empty()).then_some(n);
            sqlx::query("UPDATE users SET outside_number = $1 WHERE extension = $2")
                .bind(n)
                .bind(ext)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The digest HA1 of an account for an algorithm (`None` for an unknown extension).
    pub async fn ha1(&self, ext: &str, alg: Algorithm) -> Result<Option<String>, StoreError> {
        let col = match alg {
            Algorithm::Md5 => "ha1_md5",
            Algorithm::Sha256 => "ha1_sha256",
        };
        let row = sqlx::query(&format!(
            "SELECT {col} AS h FROM users WHERE extension = $1"
        ))
        .bind(ext)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get("h")))
    }

    /// The argon2 hash of an account's password and its privileges (`None` for an unknown account).
    /// Verify the hash off the async runtime ([`verify_secret`] is slow on purpose).
    pub async fn login_record(
        &self,
        ext: &str,
    ) -> Result<Option<(String, Vec<Privilege>)>, StoreError> {
        let row = sqlx::query("SELECT password_hash, privileges FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            (
                r.get("password_hash"),
                Privilege::split(&r.get::<String, _>("privileges")),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ext: &str) -> NewUser {
        NewUser {
            extension: ext.into(),
            name: "Alice".into(),
            password: "secret1".into(),
            pin: Some("4321".into()),
            email: Some("alice@example.com".into()),
            privileges: vec![Privilege::Rest],
        }
    }

    #[tokio::test]
    async fn user_lifecycle_keeps_secrets_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        s.add_user(&user("100")).await.unwrap();
        assert!(matches!(
            s.add_user(&user("100")).await,
            Err(StoreError::Duplicate(_))
        ));
        assert_eq!(s.list_users().await.unwrap().len(), 1);
        assert_eq!(
            s.ha1("100", Algorithm::Md5).await.unwrap(),
            Some(ha1(Algorithm::Md5, "100", SIP_REALM, "secret1"))
        );
        let pin_hash = s.pin_hash("100").await.unwrap().unwrap();
        assert!(verify_secret("4321", &pin_hash));
        assert!(!verify_secret("1111", &pin_hash));
        let raw: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert!(raw.starts_with("$argon2id$") && !raw.contains("secret1"));
        s.update_user(
            "100",
            &UserChanges {
                password: Some("other12".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            s.ha1("100", Algorithm::Sha256).await.unwrap(),
            Some(ha1(Algorithm::Sha256, "100", SIP_REALM, "other12"))
        );
        s.remove_user("100").await.unwrap();
        assert!(matches!(
            s.remove_user("100").await,
            Err(StoreError::NotFound(_))
        ));
    }

    async fn account_with_data(s: &Store) {
        s.add_user(&NewUser {
            extension: "101".into(),
            name: "Bob".into(),
            password: "secret1".into(),
            pin: None,
            email: None,
            privileges: vec![],
        })
        .await
        .unwrap();
        let id = s.start_message("101", Some("100"), None, 1).await.unwrap();
        let wav =
            parley_media::wav::encode(&[500i16; 8000], parley_media::wav::SampleFormat::Pcm16);
        s.put_audio(&crate::AudioKey::message("101", id), &wav)
            .await
            .unwrap();
        s.put_audio(&busy(), &wav).await.unwrap();
        s.finish_message(id, 1500, "new").await.unwrap();
        s.add_call_record(&crate::CallRecord {
            id: 0,
            started_at: 1,
            caller: "100".into(),
            caller_name: None,
            callee: "101".into(),
            outcome: crate::Outcome::Voicemail,
            talk_ms: 1500,
            total_ms: 2000,
            direction: crate::Direction::Internal,
            trunk: None,
            routed_by: None,
            answered_by: None,
        })
        .await
        .unwrap();
    }

    fn busy() -> crate::AudioKey {
        crate::AudioKey::greeting("101", parley_core::vm::GreetingKind::Busy)
    }

    #[tokio::test]
    async fn the_next_user_of_a_removed_extension_inherits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        account_with_data(&s).await;
        s.remove_account("101", Disposal::Delete).await.unwrap();
        account_with_data(&s).await;
        assert_eq!(s.list_messages("101").await.unwrap().len(), 1);
        assert_eq!(s.call_records(Some("101"), 10).await.unwrap().len(), 1);
        s.remove_account("101", Disposal::Delete).await.unwrap();
        s.add_user(&NewUser {
            extension: "101".into(),
            name: "Carol".into(),
            password: "secret2".into(),
            pin: None,
            email: None,
            privileges: vec![],
        })
        .await
        .unwrap();
        assert!(s.list_messages("101").await.unwrap().is_empty());
        assert!(s.call_records(Some("101"), 10).await.unwrap().is_empty());
        assert!(!s.audio_exists(&busy()).await);
        assert!(s.recorded_greetings("101").await.is_empty());
        assert!(!s.mailbox_dir("101").exists());
    }

    #[tokio::test]
    async fn an_archived_account_keeps_its_audio_and_lists_outside_the_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        account_with_data(&s).await;
        let archive = s
            .remove_account("101", Disposal::Archive)
            .await
            .unwrap()
            .unwrap();
        assert!(archive.join("voicemail/greetings/busy.wav").is_file());
        let list = std::fs::read_dir(archive.join("voicemail"))
            .unwrap()
            .count();
        assert_eq!(list, 2, "the message and the greetings directory");
        assert!(!s.audio_exists(&busy()).await);
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(archive.join("account.json")).unwrap()).unwrap();
        assert_eq!(list["messages"].as_array().unwrap().len(), 1);
        assert_eq!(list["calls"].as_array().unwrap().len(), 1);
        assert!(!s.mailbox_dir("101").exists());
        assert!(s.get_user("101").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn bad_input_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        for bad in [
            NewUser {
                extension: "10a".into(),
                ..user("1")
            },
            NewUser {
                password: "".into(),
                ..user("100")
            },
            NewUser {
                pin: Some("12a".into()),
                ..user("100")
            },
            NewUser {
                pin: Some("1".repeat(33)),
                ..user("100")
            },
            NewUser {
                email: Some("nope".into()),
                ..user("100")
            },
        ] {
            assert!(matches!(
                s.add_user(&bad).await,
                Err(StoreError::Invalid(_))
            ));
        }
        assert!(s.list_users().await.unwrap().is_empty());
        s.add_user(&user("100")).await.unwrap();
        let bad = UserChanges {
            name: Some("Bob".into()),
            pin: Some("x".into()),
            ..Default::default()
        };
        assert!(s.update_user("100", &bad).await.is_err());
        assert_eq!(s.get_user("100").await.unwrap().unwrap().name, "Alice");
    }
}
