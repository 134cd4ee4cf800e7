//! Builders for the requests a B2BUA leg sends (INVITE, ACK, CANCEL, BYE, re-INVITE) from dialog state.
//! Pure functions over headers; no state machine logic here.

use crate::sip::{Headers, Method, Request, SipUri};
use crate::target::Transport;

/// Dialog state of one side of a call, from Parley's point of view as a UA.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our From/To header value including our tag (`<sip:..>;tag=x`).
    pub local: String,
    /// The peer's From/To header value, including its tag once known.
    pub remote: String,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: SipUri,
    /// Route set (Record-Route of the dialog, in sending order).
    pub route: Vec<String>,
    /// Our next CSeq.
    pub local_cseq: u32,
    /// Transport for requests in this dialog.
    pub transport: Transport,
}

/// Whether an in-dialog request belongs to a dialog: its From tag is the peer's and, once the dialog
/// has our tag, its To tag is ours (a CANCEL carries no To tag, and is matched by the peer's alone).
pub fn belongs_to(dialog: &Dialog, req: &Request) -> bool {
    use crate::sip::header::param;
    let tag_of = |v: &str| param(v, "tag").map(str::to_string);
    let from = req.headers.get("From").and_then(tag_of);
    let to = req.headers.get("To").and_then(tag_of);
    let (peer, ours) = (tag_of(&dialog.remote), tag_of(&dialog.local));
    let from_ok = peer.is_some() && from == peer;
    let to_ok = match (&to, &ours) {
        (None, _) => req.method == crate::sip::Method::Cancel,
        (Some(t), Some(o)) => t == o,
        (Some(_), None) => false,
    };
    from_ok && to_ok
}

impl Dialog {
    /// The dialog created by a request Parley answers (an INVITE or SUBSCRIBE): our side is its To with
    /// `tag`, the peer its From, the remote target its Contact (else its Request-URI), the route set its
    /// Record-Route.
    pub fn answering(req: &Request, tag: &str, transport: Transport) -> Dialog {
        let to = req.headers.get("To").unwrap_or_default();
        Dialog {
            call_id: req.call_id().to_string(),
            local: format!("{to};tag={tag}"),
            remote: req.headers.get("From").unwrap_or_default().to_string(),
            remote_target: remote_target(req),
            route: req
                .headers
                .get_all("Record-Route")
                .iter()
                .map(|s| s.to_string())
                .collect(),
            local_cseq: 0,
            transport,
        }
    }
}

/// Where in-dialog requests to the sender of `req` go: its Contact, else its Request-URI.
pub fn remote_target(req: &Request) -> SipUri {
    req.headers
        .get("Contact")
        .and_then(crate::sip::header::NameAddr::parse)
        .map(|n| n.uri)
        .unwrap_or_else(|| req.uri.clone())
}

/// Parley's own address as written into Via and Contact.
#[derive(Debug, Clone)]
pub struct LocalAddr {
    /// Host (IP) written into Via/Contact/SDP.
    pub host: String,
    /// Port written into Via/Contact.
    pub port: u16,
}

impl LocalAddr {
    /// A Via header value with a fresh branch.
    pub fn via(&self, transport: Transport, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={branch};rport",
            transport.token(),
            self.host,
            self.port
        )
    }

    /// A Contact header value for `user`.
    pub fn contact(&self, user: &str, transport: Transport) -> String {
        let t = match transport {
            Transport::Udp => String::new(),
            other => format!(";transport={}", other.token().to_ascii_lowercase()),
        };
        format!("<sip:{user}@{}:{}{t}>", self.host, self.port)
    }
}

/// The headers every request in `dialog` carries (Via with a fresh branch, Route set, From, To, Call-ID, CSeq).
fn dialog_headers(
    dialog: &Dialog,
    local: &LocalAddr,
    branch: &str,
    cseq: u32,
    method: &Method,
) -> Headers {
    let mut headers = Headers::default();
    headers.push("Via", &local.via(dialog.transport, branch));
    headers.push("Max-Forwards", "70");
    for r in &dialog.route {
        headers.push("Route", r);
    }
    headers.push("From", &dialog.local);
    headers.push("To", &dialog.remote);
    headers.push("Call-ID", &dialog.call_id);
    headers.push("CSeq", &format!("{cseq} {method}"));
    headers
}

/// Build a request within `dialog`, consuming a CSeq unless it is ACK or CANCEL.
pub fn in_dialog(
    dialog: &mut Dialog,
    method: Method,
    local: &LocalAddr,
    contact_user: &str,
    branch: &str,
    body: Option<Vec<u8>>,
) -> Request {
    let cseq = match method {
        Method::Ack | Method::Cancel => dialog.local_cseq,
        _ => {
            dialog.local_cseq += 1;
            dialog.local_cseq
        }
    };
    let mut headers = dialog_headers(dialog, local, branch, cseq, &method);
    if matches!(method, Method::Invite) {
        headers.push("Contact", &local.contact(contact_user, dialog.transport));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        headers.push("Content-Type", "application/sdp");
    }
    Request {
        method,
        uri: dialog.remote_target.clone(),
        headers,
        body,
    }
}

/// The ACK for a 2xx to an INVITE sent with CSeq `cseq` in `dialog` (RFC 3261 §13.2.2.4).
pub fn ack_2xx(dialog: &Dialog, cseq: u32, local: &LocalAddr, branch: &str) -> Request {
    Request {
        method: Method::Ack,
        uri: dialog.remote_target.clone(),
        headers: dialog_headers(dialog, local, branch, cseq, &Method::Ack),
        body: Vec::new(),
    }
}

/// The CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, Via, Call-ID, From, To, CSeq number.
pub fn cancel_for(invite: &Request) -> Request {
    let mut headers = Headers::default();
    for name in ["Via", "Route"] {
        for v in invite
            .headers
            .get_all(name)
            .into_iter()
            .take(if name == "Via" { 1 } else { usize::MAX })
        {
            headers.push(name, v);
        }
    }
    headers.push("Max-Forwards", "70");
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = invite.headers.get(name) {
            headers.push(name, v);
        }
    }
    headers.push("CSeq", &format!("{} CANCEL", invite.cseq()));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}
