//! The one module that names rsipstack types. It runs the endpoint (UDP and TCP transports, transactions),
//! turns every message into Parley's own `parley_core::sip` values, and carries out sends. Upgrading the
//! SIP stack touches this file only. It also holds the transport's bounds: TCP connections are accepted
//! here (at most so many per source address, and in all), idle ones are closed by the stack after a
//! while, and a request larger than [`MAX_REQUEST`] is answered 513 without being parsed further.
//!
//! Every UDP datagram is screened by `parley_core::sip::screen` before the stack sees it: the UDP
//! socket the stack reads is a [`Gate`], which answers what the screen refuses (400, 505, 416, 420,
//! 501, 415, 406, 513) itself and gives the stack only the canonical text of what passes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::sip::screen::{screen, strip_compat_tags, too_large, Verdict};
use parley_core::sip::{Message, Request, Response};
use parley_core::target::{Target, Transport};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent};
use rsipstack::transaction::Endpoint;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Identifies a transaction between the adapter and the shell (the core's type).
pub use parley_core::call::TxId;

/// What the adapter hands to the shell.
#[derive(Debug)]
pub enum Inbound {
    /// A new server transaction.
    Request {
        /// Its id (respond with [`Adapter::respond`]).
        tx: TxId,
        /// The request.
        request: Request,
        /// Where it came from.
        source: Target,
    },
    /// A request arriving on an existing server transaction (CANCEL or ACK of an INVITE).
    InTransaction {
        /// The transaction.
        tx: TxId,
        /// The request.
        request: Request,
    },
    /// A server transaction ended.
    ServerDone {
        /// The transaction.
        tx: TxId,
    },
    /// A response on a client transaction.
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        response: Response,
    },
    /// A client transaction ended; `final_seen` is false on timeout or transport failure.
    ClientDone {
        /// The transaction.
        tx: TxId,
        /// Whether a final response had arrived.
        final_seen: bool,
    },
}

/// The largest request accepted (bytes of the whole message); larger ones get 513.
pub use parley_core::sip::screen::MAX_REQUEST;

/// The UDP socket the stack reads through: every datagram is screened first (see the module
/// documentation); sends go straight out.
struct Gate {
    socket: tokio::net::UdpSocket,
    /// Whole datagrams land here (the stack's own buffer is 8 KiB), so that a larger request is
    /// answered 513 rather than cut.
    buf: tokio::sync::Mutex<Vec<u8>>,
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for Gate {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        let mut whole = self.buf.lock().await;
        loop {
            let (n, from) = self.socket.recv_from(&mut whole).await?;
            let verdict = match screen(&whole[..n]) {
                // Too long for the stack once spelt out (a request near the stack's limit).
                Verdict::Pass(bytes) if bytes.len() > buf.len() => too_large(&whole[..n]),
                v => v,
            };
            match verdict {
                Verdict::Pass(bytes) => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), from));
                }
                Verdict::Answer(response) => {
                    debug!(%from, status = response.status.as_u16(), "request refused at the edge");
                    // Never waited for: a full send buffer drops the answer, not the next request.
                    let _ = self.socket.try_send_to(&response.to_bytes(), from);
                }
                Verdict::Drop(why) => debug!(%from, why, "datagram dropped at the edge"),
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        // An RFC 2543 peer never sees the From tag its requests were given.
        match strip_compat_tags(buf) {
            Some(out) => {
                self.socket.send_to(&out, addr).await?;
                Ok(buf.len())
            }
            None => Ok(self.socket.send_to(buf, addr).await?),
        }
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

/// Bounds of the transports.
#[derive(Debug, Clone)]
pub struct TransportLimits {
    /// TCP connections one source address may hold open at once (an office behind NAT holds many).
    pub tcp_per_address: usize,
    /// TCP connections in all.
    pub tcp_total: usize,
    /// A TCP connection that carries nothing for this long is closed.
    pub tcp_idle: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            tcp_per_address: 128,
            tcp_total: 2048,
            tcp_idle: Duration::from_secs(300),
        }
    }
}

/// Adapter errors.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A transport could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, String),
    /// The media relay's event loops could not start.
    #[error("cannot start the media relay: {0}")]
    Relay(String),
}

/// The running SIP endpoint.
#[derive(Clone)]
pub struct Adapter {
    inner: EndpointInnerRef,
    responders: Arc<
        std::sync::Mutex<std::collections::HashMap<TxId, mpsc::UnboundedSender<TransactionEvent>>>,
    >,
    next_id: Arc<AtomicU64>,
    events: mpsc::UnboundedSender<Inbound>,
}

fn to_core(msg: &rsipstack::sip::SipMessage) -> Option<Message> {
    match Message::parse(msg.to_string().as_bytes()) {
        Ok(m) => Some(m),
        Err(e) => {
            debug!(error = %e, "message refused by Parley's parser");
            None
        }
    }
}

fn to_stack_request(req: &Request) -> Option<rsipstack::sip::Request> {
    rsipstack::sip::Request::try_from(req.to_bytes().as_slice())
        .map_err(|e| warn!(error = %e, "cannot hand request to SIP stack"))
        .ok()
}

fn sip_addr(t: Target) -> SipAddr {
    let transport = match t.transport {
        Transport::Udp => rsipstack::sip::Transport::Udp,
        Transport::Tcp => rsipstack::sip::Transport::Tcp,
        Transport::Tls => rsipstack::sip::Transport::Tls,
    };
    SipAddr {
        r#type: Some(transport),
        addr: t.addr.into(),
    }
}

/// Where a request really came from: the datagram's source address for UDP, the connection's peer for
/// TCP and TLS. Nothing the sender wrote (a `received=` or `rport` in its own Via) is believed.
fn source_of(connection: Option<&SipConnection>) -> Option<Target> {
    let c = connection?;
    let addr = c.get_remote_addr()?.get_socketaddr().ok()?;
    let transport = match (c.is_reliable(), c.transport()) {
        (false, _) => Transport::Udp,
        (true, rsipstack::sip::Transport::Tls) => Transport::Tls,
        (true, _) => Transport::Tcp,
    };
    Some(Target { transport, addr })
}

/// TCP connections open, per source address; each entry is the stack's connection, whose last other
/// holder dropping it means the stack has closed it.
#[derive(Default)]
struct TcpFlows(HashMap<IpAddr, Vec<TcpConnection>>);

impl TcpFlows {
    /// Forget connections the stack has closed (nobody but us holds them any more).
    fn prune(&mut self) {
        self.0.retain(|_, list| {
            list.retain(|c| Arc::strong_count(&c.inner) > 1);
            !list.is_empty()
        });
    }

    fn total(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
}

/// Accept TCP connections within the bounds and hand them to the stack.
async fn accept_tcp(
    listener: tokio::net::TcpListener,
    listen: SocketAddr,
    inner: EndpointInnerRef,
    limits: TransportLimits,
    cancel: CancellationToken,
) {
    let local = SipAddr {
        r#type: Some(rsipstack::sip::Transport::Tcp),
        addr: listen.into(),
    };
    let flows = Arc::new(Mutex::new(TcpFlows::default()));
    let mut tidy = tokio::time::interval(Duration::from_secs(5));
    loop {
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tidy.tick() => {
                if let Ok(mut f) = flows.lock() { f.prune(); }
                continue;
            }
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(mut f) = flows.lock() else { return };
        f.prune();
        // An IPv6 source counts by its /64, like the lockouts.
        let ip = parley_core::guard::address_key(remote.ip());
        let from_ip = f.0.get(&ip).map_or(0, Vec::len);
        if from_ip >= limits.tcp_per_address || f.total() >= limits.tcp_total {
            debug!(%remote, from_ip, total = f.total(), "TCP connection refused: too many open");
            drop(stream);
            continue;
        }
        let conn =
            match TcpConnection::from_stream(stream, local.clone(), Some(cancel.child_token())) {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, %remote, "TCP connection could not be set up");
                    continue;
                }
            };
        f.0.entry(ip).or_default().push(conn.clone());
        drop(f);
        inner
            .transport_layer
            .add_connection(SipConnection::Tcp(conn));
    }
}

impl Adapter {
    /// Bind UDP and TCP on `listen` and start the endpoint. Inbound traffic arrives on the returned receiver.
    pub async fn start(
        listen: SocketAddr,
        limits: TransportLimits,
        cancel: CancellationToken,
    ) -> Result<(Adapter, mpsc::UnboundedReceiver<Inbound>), AdapterError> {
        let layer = TransportLayer::new(cancel.child_token());
        layer.set_stream_idle_timeout(limits.tcp_idle);
        let socket = tokio::net::UdpSocket::bind(listen)
            .await
            .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        let udp = UdpConnection::from_socket(
            Arc::new(Gate {
                socket,
                buf: tokio::sync::Mutex::new(vec![0; 65_536]),
            }),
            None,
            Some(cancel.child_token()),
        )
        .await
        .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        layer.add_transport(udp.into());
        let tcp = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        let endpoint = rsipstack::EndpointBuilder::new()
            .with_cancel_token(cancel.child_token())
            .with_transport_layer(layer)
            .with_user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        let (events, rx) = mpsc::unbounded_channel();
        let adapter = Adapter {
            inner: endpoint.inner.clone(),
            responders: Default::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            events,
        };
        let endpoint: Arc<Endpoint> = Arc::new(endpoint);
        let ep = endpoint.clone();
        tokio::spawn(async move { ep.serve().await });
        let a = adapter.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                a.serve_transaction(tx);
            }
            drop(endpoint);
        });
        tokio::spawn(accept_tcp(
            tcp,
            listen,
            adapter.inner.clone(),
            limits,
            cancel.child_token(),
        ));
        Ok((adapter, rx))
    }

    fn serve_transaction(&self, mut tx: Transaction) {
        let id = TxId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let text = tx.original.to_string();
        if text.len() > MAX_REQUEST {
            debug!(bytes = text.len(), "request too large: 513");
            tokio::spawn(async move {
                if tx.original.method != rsipstack::sip::Method::Ack {
                    let _ = tx.reply(rsipstack::sip::StatusCode::MessageTooLarge).await;
                }
            });
            return;
        }
        // A datagram was screened before the stack saw it; a message off a stream is screened
        // here, once the stack has framed it.
        let reliable = tx
            .connection
            .as_ref()
            .is_some_and(SipConnection::is_reliable);
        let screened = if reliable {
            match screen(text.as_bytes()) {
                Verdict::Pass(bytes) => bytes,
                Verdict::Answer(response) => {
                    debug!(
                        status = response.status.as_u16(),
                        "request refused at the edge"
                    );
                    let response =
                        rsipstack::sip::Response::try_from(response.to_bytes().as_slice());
                    tokio::spawn(async move {
                        if let Ok(r) = response {
                            let _ = tx.respond(r).await;
                        }
                    });
                    return;
                }
                Verdict::Drop(why) => {
                    debug!(why, "message dropped at the edge");
                    return;
                }
            }
        } else {
            text.into_bytes()
        };
        let parsed = match Message::parse(&screened) {
            Ok(m) => Some(m),
            Err(e) => {
                debug!(error = %e, "message refused by Parley's parser");
                None
            }
        };
        let Some(Message::Request(mut request)) = parsed else {
            // Refused by our stricter parser: answer 400 when possible, then forget it.
            tokio::spawn(async move {
                if tx.original.method != rsipstack::sip::Method::Ack {
                    let _ = tx.reply(rsipstack::sip::StatusCode::BadRequest).await;
                }
            });
            return;
        };
        let Some(source) = source_of(tx.connection.as_ref()) else {
            return;
        };
        // Responses follow the top Via: make it name the real source.
        request.headers.stamp_top_via(source.addr);
        self.responders
            .lock()
            .expect("responders lock")
            .insert(id, tx.tu_sender.clone());
        let events = self.events.clone();
        let responders = self.responders.clone();
        let _ = events.send(Inbound::Request {
            tx: id,
            request,
            source,
        });
        tokio::spawn(async move {
            while let Some(msg) = tx.receive().await {
                if let Some(Message::Request(request)) = to_core(&msg) {
                    let _ = events.send(Inbound::InTransaction { tx: id, request });
                }
                if tx.is_terminated() {
                    break;
                }
            }
            responders.lock().expect("responders lock").remove(&id);
            let _ = events.send(Inbound::ServerDone { tx: id });
        });
    }

    /// Respond on a server transaction (ignored if it has ended).
    pub fn respond(&self, tx: TxId, response: &Response) {
        let Ok(resp) = rsipstack::sip::Response::try_from(response.to_bytes().as_slice()) else {
            warn!(
                status = response.status.as_u16(),
                "cannot hand response to SIP stack"
            );
            return;
        };
        if let Some(s) = self.responders.lock().expect("responders lock").get(&tx) {
            let _ = s.send(TransactionEvent::Respond(resp));
        }
    }

    /// Send a request in a new client transaction; returns its id (responses arrive as [`Inbound::Response`]).
    pub fn send_request(&self, request: &Request, target: Target) -> TxId {
        let id = TxId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let events = self.events.clone();
        let inner = self.inner.clone();
        let Some(req) = to_stack_request(request) else {
            let _ = events.send(Inbound::ClientDone {
                tx: id,
                final_seen: false,
            });
            return id;
        };
        tokio::spawn(async move {
            let Ok(key) = TransactionKey::from_request(&req, TransactionRole::Client) else {
                let _ = events.send(Inbound::ClientDone {
                    tx: id,
                    final_seen: false,
                });
                return;
            };
            let mut t = Transaction::new_client(key, req, inner, None);
            t.destination = Some(sip_addr(target));
            let mut final_seen = false;
            if let Err(e) = t.send().await {
                debug!(error = %e, %target, "send failed");
            } else {
                while let Some(msg) = t.receive().await {
                    if let Some(Message::Response(response)) = to_core(&msg) {
                        final_seen |= response.status >= 200;
                        let _ = events.send(Inbound::Response { tx: id, response });
                    }
                    if t.is_terminated() || final_seen {
                        break;
                    }
                }
            }
            let _ = events.send(Inbound::ClientDone { tx: id, final_seen });
            // Keep absorbing retransmitted finals until the transaction times out.
            if final_seen && !t.is_terminated() {
                while t.receive().await.is_some() {
                    if t.is_terminated() {
                        break;
                    }
                }
            }
        });
        id
    }
}
