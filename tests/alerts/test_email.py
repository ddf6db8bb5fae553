"""SMTP delivery against aiosmtpd on 127.0.0.1: plain, STARTTLS with login, implicit TLS."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult

from alerts.email import envelope, send_email, write_eml
from alerts.message import build_email
from silkwatch.config import EmailSettings
from silkwatch.errors import AlertDeliveryError

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (cert file, key file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def trust(certificate, monkeypatch):
    """Make the system trust store (as OpenSSL reads it) trust our test certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


def server_context(certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx


def check_password(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"analyst" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def message(to: str = "analyst@example.org") -> bytes:
    return build_email(
        subject="Test alert",
        text="hello",
        html="<p>hello</p>",
        sender="sw@alerts.example",
        recipients=[to],
        message_id="<abc@alerts.example>",
        created_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
    ).as_bytes()


def test_plain_smtp_delivers_the_exact_bytes(smtp_server):
    data = message()
    send_email(EmailSettings(host="127.0.0.1", port=smtp_server.port), data)
    assert smtp_server.raw == [data]
    assert smtp_server.envelopes == [("sw@alerts.example", ["analyst@example.org"])]


@pytest.mark.usefixtures("trust")
def test_starttls_with_login(make_smtp_server, certificate):
    server = make_smtp_server(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=check_password,
        auth_require_tls=True,
    )
    settings = EmailSettings(
        host="localhost",
        port=server.port,
        security="starttls",
        username="analyst",
        password_env="SMTP_PW",
    )
    send_email(settings, message(), environ={"SMTP_PW": PASSWORD})
    assert len(server.messages) == 1

    with pytest.raises(AlertDeliveryError) as refused:
        send_email(settings, message(), environ={"SMTP_PW": "wrong " + PASSWORD})
    assert "login refused" in str(refused.value) and not refused.value.transient
    assert PASSWORD not in str(refused.value)
    assert refused.value.target == f"localhost:{server.port}"


@pytest.mark.usefixtures("trust")
def test_implicit_tls(make_smtp_server, certificate):
    server = make_smtp_server(ssl_context=server_context(certificate))
    settings = EmailSettings(host="127.0.0.1", port=server.port, security="ssl")
    send_email(settings, message())
    assert len(server.messages) == 1


def test_an_untrusted_certificate_is_refused(make_smtp_server, certificate):
    server = make_smtp_server(tls_context=server_context(certificate), require_starttls=True)
    settings = EmailSettings(host="127.0.0.1", port=server.port, security="starttls")
    with pytest.raises(AlertDeliveryError, match="TLS failed") as info:
        send_email(settings, message())
    assert not info.value.transient
    assert server.messages == []


def test_a_closed_port_is_a_transient_error_naming_the_server(unused_port):
    with pytest.raises(AlertDeliveryError) as info:
        send_email(EmailSettings(host="127.0.0.1", port=unused_port, timeout_seconds=5), message())
    assert info.value.transient and info.value.channel == "email"
    assert f"127.0.0.1:{unused_port}" in str(info.value)


def test_envelope_comes_from_the_stored_headers():
    assert envelope(message("a@x.org")) == ("sw@alerts.example", ["a@x.org"])


def test_outbox_file_is_named_after_the_message_and_rewritten_not_duplicated(tmp_path):
    data = message()
    first = write_eml(tmp_path / "outbox", "<abc@alerts.example>", data)
    again = write_eml(tmp_path / "outbox", "<abc@alerts.example>", data)
    assert first == again and first.name == "abc_alerts.example.eml"
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [first.name]
    assert first.read_bytes() == data
