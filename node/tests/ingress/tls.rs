//! Certificates chosen by SNI from a folder, and the ClientHello hook.

use std::sync::{Arc, Mutex};

use outpost_node::ingress::{IngressConfig, IngressError, TlsSetup};

use crate::support::{Client, H3Client, Pki, Server, TempDir, tls_connect};

#[tokio::test]
async fn sni_picks_the_certificate_of_each_hostname() {
    let pki = Pki::new();
    let dir = TempDir::new("sni");
    let alpha = pki.leaf(&["alpha.test"]);
    let beta = pki.leaf(&["beta.test"]);
    let wild = pki.leaf(&["*.apps.test"]);
    // chain + key in one .pem; cert and key apart; a wildcard.
    std::fs::write(
        dir.path().join("alpha.test.pem"),
        format!("{}{}", alpha.cert_pem, alpha.key_pem),
    )
    .unwrap();
    std::fs::write(dir.path().join("beta.test.crt"), &beta.cert_pem).unwrap();
    std::fs::write(dir.path().join("beta.test.key"), &beta.key_pem).unwrap();
    std::fs::write(
        dir.path().join("_wildcard.apps.test.pem"),
        format!("{}{}", wild.cert_pem, wild.key_pem),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a certificate").unwrap();

    let setup = TlsSetup::from_dir(dir.path()).unwrap();
    assert_eq!(setup.hostnames(), ["*.apps.test", "alpha.test", "beta.test"]);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let hook_seen = seen.clone();
    setup.set_on_client_hello(Some(Arc::new(move |name: &str| {
        hook_seen.lock().unwrap().push(name.to_string())
    })));
    let server = Server::tls(IngressConfig::default(), setup).await;
    let port = server.addr.port();

    // The client verifies the chain against the test CA and the name
    // against the certificate (webpki); the DER must be that host's leaf.
    for (name, leaf) in [
        ("alpha.test", &alpha),
        ("beta.test", &beta),
        ("x.apps.test", &wild),
        ("ALPHA.test", &alpha),
    ] {
        let tls = tls_connect(server.addr, name, pki.client_config(&[b"h2"]))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        assert!(presented == leaf.der, "{name} got another host's certificate");
        let reply = Client::h2(tls).await.get(&format!("https://{name}:{port}/sni")).await;
        assert_eq!(reply.status, 200, "{name}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        ["alpha.test", "beta.test", "x.apps.test", "alpha.test"]
    );

    // QUIC resolves from the same folder and calls the same hook.
    let mut h3 = H3Client::connect(server.h3_addr.unwrap(), "beta.test", pki.client_config(&[b"h3"])).await;
    let reply = h3.get(&format!("https://beta.test:{port}/sni")).await;
    assert_eq!(reply.body, format!("https://beta.test:{port}/sni"));
    assert_eq!(seen.lock().unwrap().last().unwrap(), "beta.test");

    // A name no file serves: the handshake fails (no _default here).
    assert!(
        tls_connect(server.addr, "nope.test", pki.client_config(&[b"h2"]))
            .await
            .is_err()
    );
    assert!(
        tls_connect(server.addr, "a.b.apps.test", pki.client_config(&[b"h2"]))
            .await
            .is_err()
    );
    server.stop().await;
}

#[tokio::test]
async fn reload_picks_up_new_files_and_default_serves_unknown_names() {
    let pki = Pki::new();
    let dir = TempDir::new("reload");
    let alpha = pki.leaf(&["alpha.test"]);
    std::fs::write(
        dir.path().join("alpha.test.pem"),
        format!("{}{}", alpha.cert_pem, alpha.key_pem),
    )
    .unwrap();
    let setup = TlsSetup::from_dir(dir.path()).unwrap();
    let server = Server::tls(
        IngressConfig {
            http3: false,
            ..Default::default()
        },
        setup.clone(),
    )
    .await;
    assert!(
        tls_connect(server.addr, "gamma.test", pki.client_config(&[b"h2"]))
            .await
            .is_err()
    );

    let gamma = pki.leaf(&["gamma.test"]);
    std::fs::write(
        dir.path().join("gamma.test.pem"),
        format!("{}{}", gamma.cert_pem, gamma.key_pem),
    )
    .unwrap();
    let fallback = pki.leaf(&["fallback.test", "other.test"]);
    std::fs::write(
        dir.path().join("_default.pem"),
        format!("{}{}", fallback.cert_pem, fallback.key_pem),
    )
    .unwrap();
    assert_eq!(setup.reload().unwrap(), 3);
    let tls = tls_connect(server.addr, "gamma.test", pki.client_config(&[b"h2"]))
        .await
        .unwrap();
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0] == gamma.der);
    let tls = tls_connect(server.addr, "other.test", pki.client_config(&[b"h2"]))
        .await
        .unwrap();
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0] == fallback.der);

    // A broken file fails the reload and keeps what was served.
    std::fs::write(
        dir.path().join("broken.test.pem"),
        "-----BEGIN CERTIFICATE-----\nnope\n",
    )
    .unwrap();
    assert!(matches!(setup.reload(), Err(IngressError::CertFile { .. })));
    assert!(
        tls_connect(server.addr, "gamma.test", pki.client_config(&[b"h2"]))
            .await
            .is_ok()
    );
    server.stop().await;
}

#[test]
fn folder_errors_are_clear() {
    let pki = Pki::new();
    let empty = TempDir::new("empty");
    let err = TlsSetup::from_dir(empty.path()).unwrap_err();
    assert!(matches!(err, IngressError::NoCertificates { .. }), "{err}");

    let dir = TempDir::new("mismatch");
    let a = pki.leaf(&["a.test"]);
    let b = pki.leaf(&["b.test"]);
    std::fs::write(dir.path().join("a.test.pem"), format!("{}{}", a.cert_pem, b.key_pem)).unwrap();
    let err = TlsSetup::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("a.test.pem"), "{err}");

    let dir = TempDir::new("nokey");
    std::fs::write(dir.path().join("c.test.crt"), &a.cert_pem).unwrap();
    let err = TlsSetup::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("c.test.key") && err.contains("missing"), "{err}");
}
