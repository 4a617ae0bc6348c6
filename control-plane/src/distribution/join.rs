//! Join connections: check the secret, sign the node's certificate, hand over the cluster's identity.

use std::time::Duration;

use outpost_protocol::PROTOCOL_VERSION;
use outpost_protocol::join::{
    self, JoinAccepted, JoinCodecError, JoinRefusal, JoinRequest, JoinResponse, MAX_JOIN_MESSAGE, valid_label,
};

use super::{Shared, close};

/// How long a joining node has to send its request.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one join connection: one request, one answer, then the connection closes.
pub(super) async fn serve(conn: quinn::Connection, shared: &Shared) {
    let remote = conn.remote_address();
    let exchange = async {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let bytes = recv
            .read_to_end(MAX_JOIN_MESSAGE)
            .await
            .map_err(|e| format!("reading the join request: {e}"))?;
        let response = answer(shared, &bytes);
        match &response {
            JoinResponse::Accepted(a) => {
                tracing::info!(node = %a.node_id, %remote, "node joined");
                shared.status.send_modify(|s| s.joins += 1);
            }
            JoinResponse::Refused { message, .. } => tracing::warn!(%remote, "join refused: {message}"),
        }
        let out = join::encode(&response).map_err(|e| e.to_string())?;
        send.write_all(&out).await.map_err(|e| e.to_string())?;
        let _ = send.finish();
        // Wait until the node has the answer before the connection closes.
        let _ = send.stopped().await;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(JOIN_TIMEOUT, exchange).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%remote, error = %e, "join connection failed"),
        Err(_) => tracing::debug!(%remote, "join connection timed out"),
    }
    conn.close(quinn::VarInt::from_u32(close::DONE), b"");
}

fn refused(reason: JoinRefusal, message: impl Into<String>) -> JoinResponse {
    JoinResponse::Refused {
        reason,
        message: message.into(),
    }
}

/// The answer to join request `bytes`.
fn answer(shared: &Shared, bytes: &[u8]) -> JoinResponse {
    let request: JoinRequest = match join::decode_request(bytes) {
        Ok(r) => r,
        Err(JoinCodecError::UnsupportedVersion { got, supported }) => {
            return refused(
                JoinRefusal::UnsupportedVersion { supported },
                format!("this control plane speaks protocol version {supported}, the node {got}"),
            );
        }
        Err(e) => return refused(JoinRefusal::BadRequest, e.to_string()),
    };
    debug_assert_eq!(request.protocol_version, PROTOCOL_VERSION);
    if !secret_matches(&request.secret, &shared.join_secret) {
        return refused(
            JoinRefusal::BadToken,
            "wrong join token: use the one the control plane prints (`join token: …`)",
        );
    }
    if !valid_label(&request.node_id) {
        return refused(
            JoinRefusal::BadRequest,
            format!(
                "invalid node id '{}': use 1-63 lowercase letters, digits and '-'",
                request.node_id.escape_debug()
            ),
        );
    }
    if !valid_label(&request.region) {
        return refused(
            JoinRefusal::BadRequest,
            format!(
                "invalid region '{}': use 1-63 lowercase letters, digits and '-'",
                request.region.escape_debug()
            ),
        );
    }
    let certificate =
        match shared
            .ca
            .issue_node_certificate(&request.node_id, &request.csr_der, shared.config.node_certificate_days)
        {
            Ok(c) => c,
            Err(e) => return refused(JoinRefusal::BadRequest, e),
        };
    JoinResponse::Accepted(JoinAccepted {
        node_id: request.node_id,
        certificate_der: certificate.to_vec(),
        ca_der: shared.ca.cert_der().to_vec(),
        signing_public_key: shared.signing_public_key,
        zone: shared.config.zone.clone(),
    })
}

/// Compares the secrets in time independent of where they differ: both are hashed, and the hashes
/// compared with no early exit.
fn secret_matches(given: &str, expected: &str) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, expected.as_bytes());
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_exactly() {
        assert!(super::secret_matches("op_join_abc", "op_join_abc"));
        assert!(!super::secret_matches("op_join_abd", "op_join_abc"));
        assert!(!super::secret_matches("op_join_ab", "op_join_abc"));
        assert!(!super::secret_matches("", "op_join_abc"));
    }
}
