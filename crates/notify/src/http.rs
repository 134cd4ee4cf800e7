//! HTTP deliveries: the SMS gateway request built from the administrator's templates, and webhooks:
//! a JSON event POSTed with an HMAC-SHA256 signature over the timestamp and body
//! (`X-Parley-Signature: t=<unix>,v1=<hex>`, signed text `<t>.<body>`), so receivers can check both
//! origin and freshness. Redirects are not followed. 2xx is delivered; 408, 425, 429 and 5xx (and
//! network errors) are retried; other answers are permanent failures.

use std::time::Duration;

use hmac::{Hmac, Mac};
use parley_store::{unix_now, OutboxItem, Webhook};
use reqwest::{Method, StatusCode};
use sha2::Sha256;

use crate::{Failure, Filter, NotifyError, OutboxConfig, SmsConfig, Template, Vars, MESSAGE_VARS};

struct Sms {
    url: Template,
    method: Method,
    content_type: String,
    headers: Vec<(String, Template)>,
    body: Template,
    body_filter: Filter,
    text: Template,
    timeout: Duration,
}

/// Sends SMS and webhooks.
pub struct Sender {
    client: reqwest::Client,
    sms: Option<Sms>,
    webhook_timeout: Duration,
}

/// The SMS gateway templates may also use these.
const SMS_VARS: &[&str] = &["to", "text"];

fn sms_template(what: &'static str, src: &str, extra: bool) -> Result<Template, NotifyError> {
    let mut known = MESSAGE_VARS.to_vec();
    if extra {
        known.extend_from_slice(SMS_VARS);
    }
    Template::parse(src, &known).map_err(|err| NotifyError::Template { what, err })
}

impl Sender {
    /// Check the SMS templates and build the HTTP client.
    pub fn new(sms: Option<&SmsConfig>, outbox: &OutboxConfig) -> Result<Sender, NotifyError> {
        let sms = match sms.filter(|s| !s.url.trim().is_empty()) {
            None => None,
            Some(s) => {
                let method = Method::from_bytes(s.method.trim().to_ascii_uppercase().as_bytes())
                    .map_err(|_| NotifyError::Invalid(format!("sms.method {:?}", s.method)))?;
                let ct = s.content_type.to_ascii_lowercase();
                let body_filter = if ct.contains("json") {
                    Filter::Json
                } else if ct.contains("x-www-form-urlencoded") {
                    Filter::Url
                } else {
                    Filter::Raw
                };
                let mut headers = Vec::new();
                for (k, v) in &s.headers {
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                        NotifyError::Invalid(format!("sms.headers: bad name {k:?}"))
                    })?;
                    headers.push((k.clone(), sms_template("sms.headers", v, true)?));
                }
                Some(Sms {
                    url: sms_template("sms.url", s.url.trim(), true)?,
                    method,
                    content_type: s.content_type.clone(),
                    headers,
                    body: sms_template("sms.body", &s.body, true)?,
                    body_filter,
                    text: sms_template("sms.text", &s.text, false)?,
                    timeout: Duration::from_secs(s.timeout_secs.max(1)),
                })
            }
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Sender {
            client,
            sms,
            webhook_timeout: Duration::from_secs(outbox.webhook_timeout_secs.max(1)),
        })
    }

    /// Send the SMS of a message to `to`.
    pub async fn sms(&self, to: &str, vars: &Vars) -> Result<(), Failure> {
        let Some(s) = &self.sms else {
            return Err(Failure::permanent(
                "no SMS gateway is configured ([sms] url)",
            ));
        };
        let mut vars = vars.clone();
        vars.insert("to", to.to_string());
        vars.insert("text", s.text.render(&vars, Filter::Raw));
        let url = s.url.render(&vars, Filter::Url);
        let mut req = self
            .client
            .request(s.method.clone(), &url)
            .timeout(s.timeout);
        for (k, v) in &s.headers {
            req = req.header(k.as_str(), v.render(&vars, Filter::Raw));
        }
        let body = s.body.render(&vars, s.body_filter);
        if !body.is_empty() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, &s.content_type)
                .body(body);
        }
        outcome("SMS gateway", req.send().await).await
    }

    /// POST a signed event to a webhook.
    pub async fn webhook(&self, hook: &Webhook, item: &OutboxItem) -> Result<(), Failure> {
        let payload: serde_json::Value =
            serde_json::from_str(&item.payload).unwrap_or(serde_json::Value::Null);
        // A message's event carries the message; an alert the alert; a presence change the change.
        let key = item.payload_name();
        let mut body = serde_json::json!({
            "id": item.id,
            "event": item.event,
            "created_at": item.created_at,
        });
        body[key] = payload;
        let body = body.to_string();
        let t = unix_now();
        let req = self
            .client
            .post(&hook.url)
            .timeout(self.webhook_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Parley-Event", &item.event)
            .header("X-Parley-Delivery", item.id.to_string())
            .header(
                "X-Parley-Signature",
                format!("t={t},v1={}", sign(&hook.secret, t, &body)),
            )
            .body(body);
        outcome("webhook", req.send().await).await
    }
}

/// The hex HMAC-SHA256 of `<t>.<body>` with `secret`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether an answer (or its absence) is a delivery, worth retrying, or final.
async fn outcome(what: &str, r: Result<reqwest::Response, reqwest::Error>) -> Result<(), Failure> {
    let resp = match r {
        Ok(r) => r,
        Err(e) if e.is_builder() => return Err(Failure::permanent(format!("{what}: {e}"))),
        Err(e) => return Err(Failure::transient(format!("{what}: {e}"))),
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let excerpt: String = text.chars().take(200).collect();
    let reason = format!("{what} answered {status}: {}", excerpt.trim());
    if retryable(status) {
        Err(Failure::transient(reason))
    } else {
        Err(Failure::permanent(reason))
    }
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || matches!(s.as_u16(), 408 | 425 | 429)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // Golden value from Python: hmac.new(b"Jefe", b'1700000000.{"a":1}', sha256).hexdigest()
        assert_eq!(
            sign("Jefe", 1_700_000_000, "{\"a\":1}"),
            "fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }

    #[test]
    fn server_errors_and_throttling_are_retried_client_errors_are_final() {
        for s in [500, 502, 503, 408, 429] {
            assert!(retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 301] {
            assert!(!retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn sms_templates_are_checked_at_start() {
        let bad = SmsConfig {
            url: "http://gw/{{nobody}}".into(),
            ..Default::default()
        };
        assert!(Sender::new(Some(&bad), &OutboxConfig::default()).is_err());
        let bad = SmsConfig {
            url: "http://gw/".into(),
            text: "{{to}}".into(),
            ..Default::default()
        };
        assert!(
            Sender::new(Some(&bad), &OutboxConfig::default()).is_err(),
            "the text cannot use the number it is sent to"
        );
        let ok = SmsConfig {
            url: "http://gw/send?to={{to}}".into(),
            ..Default::default()
        };
        assert!(Sender::new(Some(&ok), &OutboxConfig::default()).is_ok());
    }
}
