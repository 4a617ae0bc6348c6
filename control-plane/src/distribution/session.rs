//! One node's session: a [`ControlSession`] driven by the connection's control stream, the desired
//! state and its timer; bundles sent on streams of their own; what happens published in the status.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use outpost_protocol::{
    BundleHeader, CloseReason, Codec, ControlEvent, ControlSession, DecodeError, DesiredState, Message, RefuseReason,
};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::status::{AckReport, NodeStatus};
use super::{Shared, close};

/// Serves the session of `node_id` (already authenticated by its certificate) until it ends.
pub(super) async fn serve(
    conn: quinn::Connection,
    node_id: String,
    shared: Arc<Shared>,
    desired: watch::Receiver<Arc<DesiredState>>,
    stop: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("node", node = %node_id);
    let (conn_id, replaced) = shared.register(&node_id);
    let remote = conn.remote_address();
    shared.status.send_modify(|s| {
        let node = s
            .nodes
            .entry(node_id.clone())
            .or_insert_with(|| NodeStatus::new(&node_id, remote));
        node.address = remote;
        node.connected_at = SystemTime::now();
    });
    let (code, reason) = run(&conn, &node_id, &shared, desired, stop, replaced)
        .instrument(span.clone())
        .await;
    conn.close(quinn::VarInt::from_u32(code), reason.as_bytes());
    if shared.unregister(&node_id, conn_id) {
        shared.update_node(&node_id, |n| {
            n.connected = false;
            n.in_sync = false;
            n.last_close = Some(reason.clone());
        });
    }
    span.in_scope(|| tracing::info!(reason = %reason, "node session ended"));
}

/// The session loop; returns the close code and reason.
async fn run(
    conn: &quinn::Connection,
    node_id: &str,
    shared: &Arc<Shared>,
    mut desired: watch::Receiver<Arc<DesiredState>>,
    mut stop: watch::Receiver<bool>,
    mut replaced: watch::Receiver<bool>,
) -> (u32, String) {
    let config = shared.config.session.clone();
    let accepted = tokio::time::timeout(config.handshake_timeout, conn.accept_bi()).await;
    let (send, mut recv) = match accepted {
        Ok(Ok(streams)) => streams,
        Ok(Err(e)) => return (close::DONE, format!("connection lost before the control stream: {e}")),
        Err(_) => return (close::REFUSED, "no control stream within the handshake timeout".into()),
    };
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Bytes>();
    let writer = tokio::spawn(write_loop(send, out_rx));

    let codec = Codec::new(config.max_frame);
    let mut session = ControlSession::new(Instant::now(), config);
    session.set_desired(Instant::now(), desired.borrow_and_update().clone());
    let mut inbuf = BytesMut::new();
    let mut code = close::DONE;
    let mut reason = String::from("the session ended");
    let mut welcomed = false;
    let mut desired_open = true;
    loop {
        drain(
            &mut session,
            conn,
            node_id,
            shared,
            &codec,
            &out_tx,
            &mut welcomed,
            &mut reason,
        );
        if session.is_closed() {
            if code == close::DONE {
                code = close::REFUSED;
            }
            break;
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            chunk = recv.read_chunk(64 * 1024, true) => match chunk {
                Ok(Some(chunk)) => {
                    inbuf.extend_from_slice(&chunk.bytes);
                    feed(&mut session, &codec, &mut inbuf, node_id);
                }
                Ok(None) => {
                    session.handle_eof();
                    if !session.is_closed() {
                        reason = "the node closed its control stream".into();
                        break;
                    }
                }
                Err(e) => {
                    reason = format!("connection lost: {e}");
                    break;
                }
            },
            changed = desired.changed(), if desired_open => {
                if changed.is_ok() {
                    session.set_desired(Instant::now(), desired.borrow_and_update().clone());
                } else {
                    // The desired state will not change any more; keep serving the last one.
                    desired_open = false;
                }
            }
            _ = timer => session.handle_timeout(Instant::now()),
            _ = stop.changed() => {
                code = close::SHUTTING_DOWN;
                session.refuse(RefuseReason::ShuttingDown, "the control plane is shutting down; reconnect later");
            }
            _ = replaced.changed() => {
                session.refuse(RefuseReason::Duplicate, "replaced by a newer connection of the same node");
            }
        }
    }
    // Flush what is queued (a Refuse, say) before the connection closes.
    drop(out_tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    (code, reason)
}

/// Decodes frames and hands them to the session; a `Hello` naming another node than the
/// certificate is refused.
fn feed(session: &mut ControlSession, codec: &Codec, inbuf: &mut BytesMut, node_id: &str) {
    loop {
        let now = Instant::now();
        match codec.decode(inbuf) {
            Ok(Some(Message::Hello(hello))) if hello.node_id != node_id => {
                session.refuse(
                    RefuseReason::Unauthorized,
                    format!(
                        "the certificate is for node '{node_id}' but the Hello says '{}'",
                        hello.node_id.escape_debug()
                    ),
                );
            }
            Ok(Some(message)) => session.handle_message(now, message),
            Ok(None) => return,
            Err(err) => {
                let reason = match err {
                    DecodeError::UnsupportedVersion { supported, .. } => RefuseReason::UnsupportedVersion { supported },
                    _ => RefuseReason::Protocol,
                };
                session.refuse(reason, err.to_string());
            }
        }
        if session.is_closed() {
            return;
        }
    }
}

/// Drains the session's outputs: frames to the writer, bundles to streams, events to the status.
#[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one session loop")]
fn drain(
    session: &mut ControlSession,
    conn: &quinn::Connection,
    node_id: &str,
    shared: &Arc<Shared>,
    codec: &Codec,
    out: &mpsc::UnboundedSender<Bytes>,
    welcomed: &mut bool,
    reason: &mut String,
) {
    let mut frames = BytesMut::new();
    while let Some(message) = session.poll_transmit() {
        if let Err(e) = codec.encode(&message, &mut frames) {
            tracing::error!(error = %e, "cannot encode a control message");
        }
    }
    if !frames.is_empty() {
        let _ = out.send(frames.freeze());
    }
    while let Some(header) = session.poll_bundle() {
        let conn = conn.clone();
        let shared_for_task = shared.clone();
        let node = node_id.to_string();
        tokio::spawn(async move { send_bundle(conn, header, &shared_for_task, &node).await }.in_current_span());
    }
    let now = SystemTime::now();
    while let Some(event) = session.poll_event() {
        match event {
            ControlEvent::Joined { region, revision, .. } => {
                *welcomed = true;
                tracing::info!(%region, revision, "node connected");
                shared.update_node(node_id, |n| {
                    n.region = region;
                    n.revision = revision;
                    n.connected = true;
                    n.sessions += 1;
                    n.last_close = None;
                });
            }
            ControlEvent::Status { load, health } => shared.update_node(node_id, |n| {
                n.load = load;
                n.health = health;
                n.last_heartbeat = Some(now);
            }),
            ControlEvent::Acked { revision, results } => {
                for r in &results {
                    if let outpost_protocol::Outcome::Failed { stage, reason, .. } = &r.outcome {
                        tracing::warn!(deployment = %r.key, revision, %stage, "deployment failed on the node: {reason}");
                    }
                }
                // What the node runs changes with the same update as its
                // revision, so no reader sees one without the other.
                let running = session.node_running().clone();
                shared.update_node(node_id, |n| {
                    n.revision = n.revision.max(revision);
                    n.running = running;
                    for r in &results {
                        n.results.insert(r.key.clone(), (revision, r.clone()));
                    }
                    n.last_ack = Some(AckReport {
                        revision,
                        at: now,
                        results,
                    });
                });
            }
            ControlEvent::InSync { revision } => {
                tracing::debug!(revision, "node in sync");
            }
            ControlEvent::NodeAhead {
                node_revision,
                desired_revision,
            } => tracing::warn!(
                node_revision,
                desired_revision,
                "the node has completed a newer revision than the desired state; issue a revision above it"
            ),
            ControlEvent::UnknownBundle { hash } => {
                tracing::warn!(bundle = %hash, "the node asked for a bundle none of its assignments names")
            }
            ControlEvent::Closed { reason: why } => *reason = describe(&why),
        }
    }
    let in_sync = session.in_sync();
    let revision = session.node_revision();
    if *welcomed {
        let running = session.node_running();
        shared.status.send_if_modified(|s| {
            let Some(n) = s.nodes.get_mut(node_id) else {
                return false;
            };
            let changed = n.in_sync != in_sync || n.revision < revision || n.running != *running;
            n.in_sync = in_sync;
            n.revision = n.revision.max(revision);
            if n.running != *running {
                n.running = running.clone();
            }
            changed
        });
    }
}

/// Why a session closed, for the status and logs.
fn describe(reason: &CloseReason) -> String {
    match reason {
        CloseReason::HandshakeTimeout => "no Hello within the handshake timeout".into(),
        CloseReason::PeerDead { silent_for } => format!("the node has been silent for {silent_for:?}"),
        CloseReason::UnsupportedVersion { got } => format!("the node speaks protocol version {got}"),
        CloseReason::Protocol(e) => format!("protocol error: {e}"),
        CloseReason::Refused(RefuseReason::ShuttingDown) => "the control plane is shutting down".into(),
        CloseReason::Refused(RefuseReason::Duplicate) => "replaced by a newer connection of the node".into(),
        CloseReason::Refused(r) => format!("refused: {r:?}"),
    }
}

/// Writes queued frames to the control stream in order; finishes it when the queue closes.
async fn write_loop(mut send: quinn::SendStream, mut queue: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(bytes) = queue.recv().await {
        if send.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
    let _ = send.stopped().await;
}

/// Sends one bundle on a new unidirectional stream: the header, then the bytes from the source.
async fn send_bundle(conn: quinn::Connection, header: BundleHeader, shared: &Shared, node_id: &str) {
    let hash = header.hash;
    let source = shared.bundles.clone();
    let bytes = match tokio::task::spawn_blocking(move || source.bundle(&hash)).await {
        Ok(Ok(Some(bytes))) => bytes,
        Ok(Ok(None)) => {
            tracing::error!(bundle = %hash, "the node asked for a bundle the store does not have");
            return;
        }
        Ok(Err(e)) => {
            tracing::error!(bundle = %hash, error = %e, "cannot read a bundle");
            return;
        }
        Err(e) => {
            tracing::error!(bundle = %hash, error = %e, "reading a bundle failed");
            return;
        }
    };
    let mut stream = match conn.open_uni().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(bundle = %hash, error = %e, "cannot open a bundle stream");
            return;
        }
    };
    shared.status.send_modify(|s| {
        s.bundles_sent += 1;
        if let Some(n) = s.nodes.get_mut(node_id) {
            n.bundles_sent += 1;
        }
    });
    let started = Instant::now();
    let sent = async {
        stream.write_all(&header.to_bytes()).await?;
        stream.write_all(&bytes).await?;
        stream.finish()?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    };
    match sent.await {
        Ok(()) => tracing::debug!(bundle = %hash, bytes = bytes.len(), elapsed = ?started.elapsed(), "bundle sent"),
        Err(e) => tracing::debug!(bundle = %hash, error = %e, "bundle stream broke"),
    }
}
