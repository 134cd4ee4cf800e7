"""The portal and the APIs over HTTPS (`https_listen`), with a real TLS client: a self-signed
certificate made at the first start and kept; a configured one used; an expired one, or one whose key
is another's, refused at start with a clear message."""
import datetime
import hashlib
import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def https(port, path, cafile, token=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def printed_fingerprint(p):
    found = re.findall(r"HTTPS on \S+: certificate (.*) \(SHA-256 ([0-9A-F:]+)\)", p.log.read_text())
    assert found, p.log.read_text()
    return found[-1]


def der_fingerprint(pem_path):
    der = ssl.PEM_cert_to_DER_cert(pem_path.read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def start_https(parley_factory, user=True, **config):
    p = parley_factory(**config)
    if user:
        p.add_user("100", "secret100")
    port = p.sip_port + 19
    p.start("--https-listen", f"127.0.0.1:{port}")
    return p, port


def test_a_self_signed_certificate_is_made_once_kept_and_serves_the_portal_and_the_apis(parley_factory, tmp_path):
    p, port = start_https(parley_factory)
    cert, key = p.data / "tls" / "cert.pem", p.data / "tls" / "key.pem"
    assert cert.exists() and key.stat().st_mode & 0o777 == 0o600, "the key is its owner's alone"
    where, fp = printed_fingerprint(p)
    assert "self-signed, made now" in where
    assert fp == der_fingerprint(cert), "the fingerprint printed is the certificate's"
    # A client that trusts this certificate gets the health check, the portal and the API.
    assert https(port, "/health", cert)[0] == 200
    status, ctype, body = https(port, "/login", cert)
    assert status == 200 and ctype.startswith("text/html") and b"<form" in body
    token = (p.data / "control.token").read_text().strip()
    status, _, body = https(port, "/api/v1/status", cert, token=token)
    assert status == 200 and "registrations" in json.loads(body)
    # One that trusts only the system's roots refuses it: it really is TLS with this certificate.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=ssl.create_default_context(), timeout=5)
    # Strangers (another address) who connect and say nothing, or garbage, hold up nobody: their
    # handshakes wait in tasks of their own, at most 8 from one address.
    import socket
    idle = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) for _ in range(20)]
    junk = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
    junk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    assert https(port, "/health", cert)[0] == 200
    for s_ in idle + [junk]:
        s_.close()
    # Plain HTTP stays where it was.
    p.http("/health")
    # Started again, the same certificate: kept, not made anew.
    before = cert.read_bytes()
    p.stop()
    p.start("--https-listen", f"127.0.0.1:{port}")
    where, again = printed_fingerprint(p)
    assert "made now" not in where and again == fp and cert.read_bytes() == before
    assert https(port, "/health", cert)[0] == 200


def make_cert(tmp_path, name, not_before, not_after, key=None, signing_key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbx.example.test")])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(signing_key or key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_configured_certificate_is_used_and_an_expired_or_mismatched_one_is_refused_at_start(parley_factory, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    good_cert, good_key = make_cert(tmp_path, "good", now - day, now + 30 * day)
    p, port = start_https(parley_factory, tls_cert=str(good_cert), tls_key=str(good_key))
    where, fp = printed_fingerprint(p)
    assert where == str(good_cert) and fp == der_fingerprint(good_cert)
    assert https(port, "/health", good_cert)[0] == 200
    assert not (p.data / "tls").exists(), "nothing generated when a certificate is configured"
    p.stop()

    old_cert, old_key = make_cert(tmp_path, "old", now - 60 * day, now - day)
    with pytest.raises(AssertionError, match="has expired"):
        start_https(parley_factory, user=False, tls_cert=str(old_cert), tls_key=str(old_key))

    other = ec.generate_private_key(ec.SECP256R1())
    other_key = tmp_path / "other.key"
    other_key.write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    with pytest.raises(AssertionError, match="does not belong to the key"):
        start_https(parley_factory, user=False, tls_cert=str(good_cert), tls_key=str(other_key))
