//! Voicemail to email: a multipart message (plain text and HTML from the administrator's templates,
//! the recording attached as WAV or µ-law WAV) sent through the configured SMTP server with lettre
//! (STARTTLS, TLS or plain; optional login).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use parley_media::wav::{SampleFormat, WavPlayer};

use crate::{
    Attach, EmailConfig, Failure, Filter, NotifyError, Security, SmtpConfig, Template, Vars,
    MESSAGE_VARS,
};

/// Builds and sends voicemail emails.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
    from: Mailbox,
    subject: Template,
    text: Template,
    html: Template,
    attach: Attach,
}

fn template(what: &'static str, src: &str) -> Result<Template, NotifyError> {
    Template::parse(src, MESSAGE_VARS).map_err(|err| NotifyError::Template { what, err })
}

impl Mailer {
    /// Check the templates and sender and prepare the SMTP transport; `None` without an SMTP host.
    pub fn new(
        smtp: Option<&SmtpConfig>,
        cfg: &EmailConfig,
    ) -> Result<Option<Mailer>, NotifyError> {
        let subject = template("email.subject", &cfg.subject)?;
        let text = template("email.text", &cfg.text)?;
        let html = template("email.html", &cfg.html)?;
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| NotifyError::Invalid(format!("email.from {:?}: {e}", cfg.from)))?;
        let Some(smtp) = smtp.filter(|s| !s.host.trim().is_empty()) else {
            return Ok(None);
        };
        let host = smtp.host.trim();
        let bad = |e: lettre::transport::smtp::Error| {
            NotifyError::Invalid(format!("smtp.host {host:?}: {e}"))
        };
        let tls = || -> Result<TlsParameters, NotifyError> {
            let mut b = TlsParameters::builder(host.to_string());
            if let Some(path) = &smtp.ca_file {
                let bad_ca = |e: String| {
                    NotifyError::Invalid(format!("smtp.ca_file {}: {e}", path.display()))
                };
                let pem = std::fs::read(path).map_err(|e| bad_ca(e.to_string()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| bad_ca(e.to_string()))?;
                b = b.add_root_certificate(cert);
            }
            b.build().map_err(bad)
        };
        let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
        let builder = match smtp.security {
            Security::None => plain.port(25),
            Security::Starttls => plain.port(587).tls(Tls::Required(tls()?)),
            Security::Tls => plain.port(465).tls(Tls::Wrapper(tls()?)),
        };
        let timeout = Duration::from_secs(smtp.timeout_secs.max(1));
        let mut builder = builder.timeout(Some(timeout));
        if let Some(port) = smtp.port {
            builder = builder.port(port);
        }
        if let Some(user) = smtp.username.as_deref().filter(|u| !u.is_empty()) {
            builder = builder.credentials(Credentials::new(
                user.to_string(),
                smtp.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            timeout,
            from,
            subject,
            text,
            html,
            attach: cfg.attach,
        }))
    }

    /// Whether the emails carry the message's audio (when not, it need not be read).
    pub fn attaches(&self) -> bool {
        self.attach != Attach::None
    }

    /// Send the email of a message to `to`, attaching `audio` (left out, with a
    /// note in the log, if the message was deleted before the email went).
    pub async fn send(&self, to: &str, vars: &Vars, audio: Option<Vec<u8>>) -> Result<(), Failure> {
        let attachment = match (self.attach, audio) {
            (Attach::None, _) => None,
            (format, Some(bytes)) => Some(attachment_bytes(bytes, format)?),
            (_, None) => {
                tracing::info!("message audio gone before its email was sent; sending without it");
                None
            }
        };
        let msg = self.build(to, vars, attachment)?;
        self.deliver(msg).await
    }

    /// Send a plain-text email (an alert to an administrator) to `to`.
    pub async fn send_text(&self, to: &str, subject: &str, text: &str) -> Result<(), Failure> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| Failure::permanent(format!("address {to:?}: {e}")))?;
        let msg = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(subject.replace(['\r', '\n'], " "))
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| Failure::permanent(format!("cannot build the email: {e}")))?;
        self.deliver(msg).await
    }

    async fn deliver(&self, msg: Message) -> Result<(), Failure> {
        match tokio::time::timeout(self.timeout * 2, self.transport.send(msg)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(Failure::permanent(format!("SMTP: {e}"))),
            Ok(Err(e)) => Err(Failure::transient(format!("SMTP: {e}"))),
            Err(_) => Err(Failure::transient("SMTP: timed out")),
        }
    }

    /// The email itself.
    pub fn build(
        &self,
        to: &str,
        vars: &Vars,
        attachment: Option<(String, Vec<u8>)>,
    ) -> Result<Message, Failure> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| Failure::permanent(format!("address {to:?}: {e}")))?;
        let body = MultiPart::alternative_plain_html(
            self.text.render(vars, Filter::Raw),
            self.html.render(vars, Filter::Html),
        );
        let subject = self
            .subject
            .render(vars, Filter::Raw)
            .replace(['\r', '\n'], " ");
        let b = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        let res = match attachment {
            Some((name, bytes)) => {
                let ct = ContentType::parse("audio/wav").expect("static content type");
                b.multipart(
                    MultiPart::mixed()
                        .multipart(body)
                        .singlepart(Attachment::new(name).body(bytes, ct)),
                )
            }
            None => b.multipart(body),
        };
        res.map_err(|e| Failure::permanent(format!("cannot build the email: {e}")))
    }
}

/// The attachment's file name and bytes: the stored WAV, or re-encoded to µ-law.
fn attachment_bytes(bytes: Vec<u8>, format: Attach) -> Result<(String, Vec<u8>), Failure> {
    let bytes = match format {
        Attach::Ulaw => {
            let p = WavPlayer::from_wav_bytes(&bytes)
                .map_err(|e| Failure::permanent(format!("message audio unreadable: {e}")))?;
            parley_media::wav::encode(p.samples(), SampleFormat::Ulaw)
        }
        _ => bytes,
    };
    Ok(("voicemail.wav".into(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_store::StoredMessage;

    fn vars() -> Vars {
        let m = StoredMessage {
            id: 12,
            mailbox: "101".into(),
            folder: "new".into(),
            caller: Some("100".into()),
            caller_name: Some("Tom <&> Jerry".into()),
            received_at: 1_800_000_000,
            duration_ms: 4_200,
            forwarded_by: None,
            note: None,
        };
        crate::message_vars(&m, "Bob", "http://pbx:8080")
    }

    fn mailer(attach: Attach) -> Mailer {
        let smtp = SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(2525),
            security: Security::None,
            ..Default::default()
        };
        let cfg = EmailConfig {
            attach,
            ..Default::default()
        };
        Mailer::new(Some(&smtp), &cfg).unwrap().unwrap()
    }

    #[test]
    fn the_email_has_text_html_and_the_audio_attached() {
        let audio = parley_media::wav::encode(&[1000; 8000], SampleFormat::Pcm16);
        let m = mailer(Attach::Wav);
        let (name, bytes) = attachment_bytes(audio.clone(), Attach::Wav).unwrap();
        let msg = m
            .build("bob@example.com", &vars(), Some((name, bytes)))
            .unwrap();
        let text = String::from_utf8(msg.formatted()).unwrap();
        assert!(
            text.contains("Subject: New voicemail from Tom <&> Jerry (100) (0:04)"),
            "{text}"
        );
        assert!(text.contains("To: bob@example.com"));
        assert!(text.contains("multipart/mixed"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("Content-Type: audio/wav"));
        assert!(text.contains("filename=\"voicemail.wav\""));
        assert!(
            text.contains("Tom &lt;&amp;&gt; Jerry (100)"),
            "HTML escaped"
        );
        assert!(text.contains("http://pbx:8080/messages/12"));
    }

    #[test]
    fn ulaw_attachment_is_half_the_size_and_bad_addresses_are_permanent() {
        let audio = parley_media::wav::encode(&[1000; 8000], SampleFormat::Pcm16);
        let (_, small) = attachment_bytes(audio.clone(), Attach::Ulaw).unwrap();
        assert!(small.len() < audio.len() / 2 + 64);
        let f = mailer(Attach::Wav)
            .build("not an address", &vars(), None)
            .unwrap_err();
        assert!(f.permanent);
    }

    #[test]
    fn a_bad_template_or_sender_is_refused_at_start() {
        let cfg = EmailConfig {
            subject: "{{calller}}".into(),
            ..Default::default()
        };
        let e = Mailer::new(None, &cfg).err().unwrap().to_string();
        assert!(
            e.starts_with("email.subject: unknown variable \"calller\""),
            "{e}"
        );
        let cfg = EmailConfig {
            from: "nobody".into(),
            ..Default::default()
        };
        assert!(Mailer::new(None, &cfg).is_err());
        assert!(Mailer::new(None, &EmailConfig::default())
            .unwrap()
            .is_none());
    }
}
