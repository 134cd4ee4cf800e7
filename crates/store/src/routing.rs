//! Where calls to a user go: the current presence and the call routes per presence
//! ([`parley_core::routing`]), one row per user that set either (no row: In Office, the default
//! routes). Routes are checked, and the extensions they name must exist, before they are stored.

use std::collections::BTreeMap;

use parley_core::routing::{CallRoute, CallerRoute, Presence, Routing};
use sqlx::Row;

use crate::outbox::{queue_webhooks, Event, PresenceChange};
use crate::{unix_now, Store, StoreError};

impl Store {
    /// A user's presence and routes (the defaults when the user set none).
    pub async fn routing(&self, ext: &str) -> Result<Routing, StoreError> {
        let row = sqlx::query("SELECT presence, routes FROM routing WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(routing_of).unwrap_or_default())
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
        self.change_routing(ext, |r| set_or_remove(&mut r.routes, presence, route))
            .await
    }

    /// Set the On-Busy route of one presence (`None`: none, a busy user's calls follow the
    /// ordinary routes). Checked as [`Store::set_route`].
    pub async fn set_busy_route(
        &self,
        ext: &str,
        presence: Presence,
        route: Option<CallRoute>,
    ) -> Result<bool, StoreError> {
        self.change_routing(ext, |r| set_or_remove(&mut r.on_busy, presence, route))
            .await
    }

    /// Replace the Caller-ID routes of one presence (tried in order). Checked as
    /// [`Store::set_route`].
    pub async fn set_caller_routes(
        &self,
        ext: &str,
        presence: Presence,
        routes: Vec<CallerRoute>,
    ) -> Result<bool, StoreError> {
        let list = (!routes.is_empty()).then_some(routes);
        self.change_routing(ext, |r| set_or_remove(&mut r.callers, presence, list))
            .await
    }

    /// Apply Callisto's forwarding settings to the current presence's routes. Checked as
    /// [`Store::set_route`].
    pub async fn set_forwarding(
        &self,
        ext: &str,
        forwarding: &parley_core::routing::Forwarding,
    ) -> Result<bool, StoreError> {
        self.change_routing(ext, |r| r.set_forwarding(forwarding))
            .await
    }

    /// Read, change and write a user's routing in one transaction; the result is checked, and
    /// every extension it names must exist.
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
        let mut routing = row.as_ref().map(routing_of).unwrap_or_default();
        let before = routing.presence;
        change(&mut routing);
        routing
            .check()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        for e in routing.extensions() {
            let found = sqlx::query("SELECT 1 FROM users WHERE extension = $1")
                .bind(e)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::Invalid(format!("extension {e} does not exist")));
            }
        }
        let routes =
            serde_json::to_string(&routing).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = unix_now();
        let mut queued = 0;
        if routing.presence != before {
            // Subscribers hear of the change in the transaction that makes it.
            let change = PresenceChange {
                extension: ext.to_string(),
                presence: routing.presence.as_str().to_string(),
                label: routing.presence.label().to_string(),
                previous: before.as_str().to_string(),
                at: now,
            };
            let payload =
                serde_json::to_string(&change).map_err(|e| StoreError::Invalid(e.to_string()))?;
            queued = queue_webhooks(&mut tx, Event::PresenceChanged, &payload, now).await?;
        }
        sqlx::query(
            "INSERT INTO routing (extension, presence, routes, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (extension) DO UPDATE SET presence = excluded.presence, \
             routes = excluded.routes, updated_at = excluded.updated_at",
        )
        .bind(ext)
        .bind(routing.presence.as_str())
        .bind(routes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.outbox_queued(queued);
        Ok(true)
    }
}

/// A stored row as a routing: the presence from its column, the routes from the JSON (a row
/// written by hand or by an older build is read as far as it can be: a route that breaks a rule is
/// left out).
fn routing_of(r: &sqlx::any::AnyRow) -> Routing {
    let mut routing: Routing =
        serde_json::from_str(&r.get::<String, _>("routes")).unwrap_or_default();
    routing.presence = Presence::parse(&r.get::<String, _>("presence")).unwrap_or_default();
    routing.routes.retain(|_, c| c.check().is_ok());
    routing.on_busy.retain(|_, c| c.check().is_ok());
    routing.callers.retain(|p, list| {
        let one = Routing {
            callers: BTreeMap::from([(*p, list.clone())]),
            ..Routing::default()
        };
        one.check().is_ok()
    });
    routing
}

fn set_or_remove<T>(map: &mut BTreeMap<Presence, T>, presence: Presence, value: Option<T>) {
    match value {
        Some(v) => {
            map.insert(presence, v);
        }
        None => {
            map.remove(&presence);
        }
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
        // On-Busy and Caller-ID routes, kept beside; an internal caller must exist too.
        use parley_core::routing::CallerMatch;
        assert!(s
            .set_busy_route("101", Presence::AtAMeeting, Some(meeting.clone()))
            .await
            .unwrap());
        let callers = vec![CallerRoute {
            caller: CallerMatch::External("585*".into()),
            route: meeting.clone(),
        }];
        assert!(s
            .set_caller_routes("101", Presence::AtAMeeting, callers.clone())
            .await
            .unwrap());
        let r = s.routing("101").await.unwrap();
        assert_eq!(r.on_busy.get(&Presence::AtAMeeting), Some(&meeting));
        assert_eq!(r.callers.get(&Presence::AtAMeeting), Some(&callers));
        let nobody = vec![CallerRoute {
            caller: CallerMatch::Internal("999".into()),
            route: meeting.clone(),
        }];
        let e = s
            .set_caller_routes("101", Presence::AtAMeeting, nobody)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("999"), "{e}");
        assert!(s
            .set_caller_routes("101", Presence::AtAMeeting, Vec::new())
            .await
            .unwrap());
        assert!(s.routing("101").await.unwrap().callers.is_empty());
        // The next user of the extension inherits nothing.
        s.remove_user("101").await.unwrap();
        assert!(!s.presences().await.unwrap().contains_key("101"));
    }

    #[tokio::test]
    async fn a_presence_change_queues_its_webhook_in_the_same_transaction_and_no_change_none() {
        let (s, _dir) = crate::test_store(None).await;
        s.add_webhook("http://hooks.test/p", None, &[Event::PresenceChanged])
            .await
            .unwrap();
        s.add_webhook("http://hooks.test/m", None, &[Event::New])
            .await
            .unwrap();
        assert!(s.set_presence("101", Presence::Away).await.unwrap());
        // The same presence again, and a route change: no presence change.
        assert!(s.set_presence("101", Presence::Away).await.unwrap());
        assert!(s.set_route("101", Presence::Away, None).await.unwrap());
        let rows = s.outbox_list(None, 10).await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].event, "presence.changed");
        assert_eq!(rows[0].payload_name(), "presence");
        let change: PresenceChange = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(
            (
                change.extension.as_str(),
                change.presence.as_str(),
                change.previous.as_str()
            ),
            ("101", "away", "in-office")
        );
        assert_eq!(change.label, "Away");
    }
}
