//! The one module that names rsipstack types. It runs the endpoint (UDP and TCP transports, transactions),
//! turns every message into Parley's own `parley_core::sip` values, and carries out sends. Upgrading the
//! SIP stack touches this file only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parley_core::sip::{Message, Request, Response};
use parley_core::target::{Target, Transport};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent};
use rsipstack::transaction::Endpoint;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TcpListenerConnection, TransportLayer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Identifies a transaction between the adapter and the shell.
pub type TxId = u64;

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

/// Adapter errors.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A transport could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, String),
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

impl Adapter {
    /// Bind UDP and TCP on `listen` and start the endpoint. Inbound traffic arrives on the returned receiver.
    pub async fn start(
        listen: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<(Adapter, mpsc::UnboundedReceiver<Inbound>), AdapterError> {
        let layer = TransportLayer::new(cancel.child_token());
        let udp = UdpConnection::create_connection(listen, None, Some(cancel.child_token()))
            .await
            .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        layer.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(listen, None)
            .await
            .map_err(|e| AdapterError::Listen(listen, e.to_string()))?;
        layer.add_transport(tcp.into());
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
        Ok((adapter, rx))
    }

    fn serve_transaction(&self, mut tx: Transaction) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Some(Message::Request(mut request)) = to_core(&tx.original.clone().into()) else {
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
                status = response.status,
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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
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
