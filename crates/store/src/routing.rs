//! Where calls to a user go: the current presence and the call routes per presence
//! ([`parley_core::routing`]), one row per user that set either (no row: In Office, the default
//! routes). Routes are checked, and the extensions they name must exist, before they are stored.

use std::collections::BTreeMap;

use parley_core::routing::{CallRoute, Presence, Routing};
use sqlx::Row;

use crate::{unix_now, Store, StoreError};

impl Store {
    /// A user's presence and routes (the defaults when the user set none).
    pub async fn routing(&self, ext: &str) -> Result<Routing, StoreError> {
        let row = sqlx::query("SELECT presence, routes FROM routing WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else {
            return Ok(Routing::default());
        };
        // A row written by hand or by an older build is read as far as it can be.
        let presence = Presence::parse(&r.get::<String, _>("presence")).unwrap_or_default();
        let routes: BTreeMap<Presence, CallRoute> =
            serde_json::from_str(&r.get::<String, _>("routes")).unwrap_or_default();
        let routes = routes
            .into_iter()
            .filter(|(_, c)| c.check().is_ok())
            .collect();
        Ok(Routing { presence, routes })
    }

    /// Every user's presence, by extension (those never set are In Office).
    pub async fn presences(&self) -> Result<BTreeMap<String, Presence>, StoreError> {
        let rows = sqlx::query("SELECT extension, presence FROM routing")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let p = Presence::parse(&r.get::<String, _>("presence"))?;
                Some((r.get("extension"), p))
            })
            .collect())
    }

    /// Set a user's presence (it takes effect for the next call). False if there is no such user.
    pub async fn set_presence(&self, ext: &str, presence: Presence) -> Result<bool, StoreError> {
        self.change_routing(ext, |r| r.presence = presence).await
    }

    /// Set the route of one presence (`None`: back to the default route). The route is checked, and
    /// every extension it names must exist. False if there is no such user.
    pub async fn set_route(
        &self,
        ext: &str,
        presence: Presence,
        route: Option<CallRoute>,
    ) -> Result<bool, StoreError> {
        if let Some(r) = &route {
            r.check().map_err(|e| StoreError::Invalid(e.to_string()))?;
            for e in r.extensions() {
                if self.get_user(e).await?.is_none() {
                    return Err(StoreError::Invalid(format!("extension {e} does not exist")));
                }
            }
        }
        self.change_routing(ext, |r| match route {
            Some(c) => {
                r.routes.insert(presence, c);
            }
            None => {
                r.routes.remove(&presence);
            }
        })
        .await
    }

    /// Read, change and write a user's routing in one transaction.
    async fn change_routing(
        &self,
        ext: &str,
        change: impl FnOnce(&mut Routing),
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        let row = sqlx::query("SELECT presence, routes FROM routing WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await?;
        let mut routing = match row {
            Some(r) => Routing {
                presence: Presence::parse(&r.get::<String, _>("presence")).unwrap_or_default(),
                routes: serde_json::from_str(&r.get::<String, _>("routes")).unwrap_or_default(),
            },
            None => Routing::default(),
        };
        change(&mut routing);
        let routes = serde_json::to_string(&routing.routes)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO routing (extension, presence, routes, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (extension) DO UPDATE SET presence = excluded.presence, \
             routes = excluded.routes, updated_at = excluded.updated_at",
        )
        .bind(ext)
        .bind(routing.presence.as_str())
        .bind(routes)
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::routing::{Attempt, Destination, Finally};

    #[tokio::test]
    async fn presence_and_routes_are_kept_checked_and_go_with_the_account() {
        let (s, _dir) = crate::test_store(None).await;
        s.add_user(&crate::NewUser {
            extension: "102".into(),
            name: "Carol".into(),
            password: "secret2".into(),
            pin: None,
            email: None,
            privileges: Vec::new(),
        })
        .await
        .unwrap();
        assert_eq!(s.routing("101").await.unwrap(), Routing::default());
        assert!(s.set_presence("101", Presence::AtAMeeting).await.unwrap());
        assert!(!s.set_presence("999", Presence::Away).await.unwrap());
        let meeting = CallRoute {
            attempts: vec![Attempt {
                destinations: vec![Destination::Extension("102".into())],
                ring_secs: Some(15),
            }],
            finally: Finally::HangUp,
        };
        assert!(s
            .set_route("101", Presence::AtAMeeting, Some(meeting.clone()))
            .await
            .unwrap());
        let r = s.routing("101").await.unwrap();
        assert_eq!(
            (r.presence, r.route()),
            (Presence::AtAMeeting, meeting.clone())
        );
        assert_eq!(
            s.presences().await.unwrap().get("101"),
            Some(&Presence::AtAMeeting)
        );
        // The account the switch reads carries it.
        let a = s.switch_account("101").await.unwrap().unwrap();
        assert_eq!(a.routing.route(), meeting);
        // Refused: a route to nobody, a bad ring time.
        let to_nobody = CallRoute {
            finally: Finally::Extension("999".into()),
            ..meeting.clone()
        };
        let e = s
            .set_route("101", Presence::Away, Some(to_nobody))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("extension 999 does not exist"),
            "{e}"
        );
        let mut short = meeting.clone();
        short.attempts[0].ring_secs = Some(1);
        assert!(s
            .set_route("101", Presence::Away, Some(short))
            .await
            .is_err());
        // Back to the default route; the presence stays.
        assert!(s
            .set_route("101", Presence::AtAMeeting, None)
            .await
            .unwrap());
        let r = s.routing("101").await.unwrap();
        assert_eq!(
            (r.presence, r.route()),
            (Presence::AtAMeeting, CallRoute::default())
        );
        // The next user of the extension inherits nothing.
        s.remove_user("101").await.unwrap();
        assert!(!s.presences().await.unwrap().contains_key("101"));
    }
}
