"""TLS and mutual TLS for the gRPC server and its clients.

Server: `auth.tls_cert` + `auth.tls_key` (PEM files) turn TLS on; `auth.tls_client_ca` additionally
requires every client to present a certificate signed by that CA (mutual TLS). Without a certificate
the server listens in plain text (fine on loopback, not across a network).
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import grpc.aio

from clipsearch.config import AuthSettings
from clipsearch.errors import ConfigError

log = logging.getLogger(__name__)


def _read_pem(path: str, key: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"auth.{key}: cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"auth.{key}: {path} is not a PEM file")
    return data


def server_credentials(auth: AuthSettings) -> grpc.ServerCredentials | None:
    """Credentials for `add_secure_port`, or None when TLS is not configured."""
    if not auth.tls_cert and not auth.tls_key:
        if auth.tls_client_ca:
            raise ConfigError("auth.tls_client_ca needs auth.tls_cert and auth.tls_key (mutual TLS is TLS)")
        return None
    if not (auth.tls_cert and auth.tls_key):
        raise ConfigError("auth.tls_cert and auth.tls_key must be set together")
    cert = _read_pem(auth.tls_cert, "tls_cert")
    key = _read_pem(auth.tls_key, "tls_key")
    client_ca = _read_pem(auth.tls_client_ca, "tls_client_ca") if auth.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def add_listening_port(server: grpc.aio.Server, address: str, auth: AuthSettings) -> int:
    """Bind `address` with TLS when configured (plain otherwise); returns the bound port."""
    credentials = server_credentials(auth)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
        log.info("TLS on %s (mutual TLS: %s)", address, bool(auth.tls_client_ca))
    if port == 0:
        raise ConfigError(f"cannot bind {address}")
    return port


def client_credentials(
    ca_cert: bytes | None = None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
) -> grpc.ChannelCredentials:
    """Channel credentials for a TLS server; `ca_cert` None = the system roots; cert+key for mutual TLS."""
    if (client_cert is None) != (client_key is None):
        raise ConfigError("a client certificate and its key must be given together")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_cert, private_key=client_key, certificate_chain=client_cert
    )
