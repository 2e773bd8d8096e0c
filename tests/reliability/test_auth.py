"""Bearer-token auth and TLS / mutual TLS on a real grpc.aio server on port 0.

The services behind the interceptor are the generated clipsearch.v1 services with tiny async
handlers (they count calls, so a test can prove a refused call never reached the handler); the
full search server is exercised with auth in `test_server_security.py`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from clipsearch.config import AuthSettings
from clipsearch.errors import ConfigError
from clipsearch.proto.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
from clipsearch.searcher import auth as auth_module
from clipsearch.searcher.auth import AccessPolicy, auth_interceptors, bearer_metadata, parse_bearer
from clipsearch.searcher.tls import add_listening_port, client_credentials, server_credentials

from .certs import Pki, make_pki

READ = "read-token-0123456789"
ADMIN = "admin-token-9876543210"
SEARCH_METHOD = "/clipsearch.v1.SearchService/ListCollections"
ADMIN_METHOD = "/clipsearch.v1.AdminService/GetStatus"


@dataclass
class Calls:
    search: int = 0
    admin: int = 0
    seen: list[str] = field(default_factory=list)


class _Search(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def ListCollections(self, request: Any, context: Any) -> Any:
        self.calls.search += 1
        return search_pb2.ListCollectionsResponse()


class _Admin(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def GetStatus(self, request: Any, context: Any) -> Any:
        self.calls.admin += 1
        return admin_pb2.GetStatusResponse()


Scenario = Callable[[str, Calls], Awaitable[None]]


def serve(auth: AuthSettings, scenario: Scenario) -> Calls:
    """Start a server with `auth`, run `scenario(target, calls)` against it, stop it."""
    calls = Calls()

    async def main() -> None:
        server = grpc.aio.server(interceptors=auth_interceptors(auth))
        search_pb2_grpc.add_SearchServiceServicer_to_server(_Search(calls), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(_Admin(calls), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = add_listening_port(server, "127.0.0.1:0", auth)
        await server.start()
        try:
            await asyncio.wait_for(scenario(f"127.0.0.1:{port}", calls), timeout=30)
        finally:
            await server.stop(grace=None)

    asyncio.run(main())
    return calls


async def call_search(channel: grpc.aio.Channel, metadata: Any = ()) -> grpc.StatusCode:
    try:
        await search_pb2_grpc.SearchServiceStub(channel).ListCollections(
            search_pb2.ListCollectionsRequest(), metadata=metadata, timeout=10
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def call_admin(channel: grpc.aio.Channel, metadata: Any = ()) -> grpc.StatusCode:
    try:
        await admin_pb2_grpc.AdminServiceStub(channel).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=metadata, timeout=10
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# ---------------------------------------------------------------- the decision on its own


def test_policy_roles_and_decisions() -> None:
    policy = AccessPolicy.from_settings(AuthSettings(read_tokens=(READ,), admin_tokens=(ADMIN,)))
    assert policy.enabled
    assert policy.role_of(READ) == "read"
    assert policy.role_of(ADMIN) == "admin"
    assert policy.role_of(READ + "x") is None
    assert policy.role_of(READ[:-1]) is None
    assert policy.role_of("") is None
    bearer = f"Bearer {READ}"
    assert policy.check(SEARCH_METHOD, bearer) is None
    denied = policy.check(ADMIN_METHOD, bearer)
    assert denied is not None and denied.code == grpc.StatusCode.PERMISSION_DENIED
    assert policy.check(ADMIN_METHOD, f"bearer {ADMIN}") is None  # scheme is case-insensitive
    for header in (None, "", "Bearer", "Bearer ", f"Basic {READ}", READ, "Bearer nope"):
        denial = policy.check(SEARCH_METHOD, header)
        assert denial is not None and denial.code == grpc.StatusCode.UNAUTHENTICATED, header
    assert policy.check("/grpc.health.v1.Health/Check", None) is None
    assert policy.check("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None) is None
    # Auth off: everything passes.
    assert AccessPolicy.from_settings(AuthSettings()).check(ADMIN_METHOD, None) is None


def test_parse_bearer() -> None:
    assert parse_bearer("Bearer abc") == "abc"
    assert parse_bearer("  BEARER   abc ") == "abc"
    assert parse_bearer("Token abc") is None
    assert parse_bearer(None) is None


def test_tokens_compared_against_all_configured_tokens_without_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Constant time: the number of comparisons does not depend on which token (if any) matched."""
    reads = tuple(f"read-{i}" for i in range(5))
    admins = tuple(f"admin-{i}" for i in range(3))
    policy = AccessPolicy.from_settings(AuthSettings(read_tokens=reads, admin_tokens=admins))
    comparisons: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        comparisons.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    for token in (reads[0], reads[-1], admins[0], "unknown", "x" * 1000):
        comparisons.clear()
        policy.role_of(token)
        assert len(comparisons) == len(reads) + len(admins), token
        # Fixed-length digests are compared, so token length does not leak either.
        assert all(len(a) == len(b) == 32 for a, b in comparisons)


def test_blank_or_padded_tokens_rejected_at_configuration() -> None:
    with pytest.raises(ValueError):
        AccessPolicy.from_settings(AuthSettings(read_tokens=("",)))
    with pytest.raises(ValueError):
        AccessPolicy.from_settings(AuthSettings(admin_tokens=(" padded",)))


def test_tokens_from_environment() -> None:
    from clipsearch.config import load_settings

    settings = load_settings(
        environ={
            "CLIPSEARCH_AUTH__READ_TOKENS": '["r1", "r2"]',
            "CLIPSEARCH_AUTH__ADMIN_TOKENS": '["a1"]',
        }
    )
    policy = AccessPolicy.from_settings(settings.auth)
    assert (policy.role_of("r2"), policy.role_of("a1"), policy.role_of("a2")) == ("read", "admin", None)


# ---------------------------------------------------------------- over a real gRPC connection


def test_auth_off_everything_passes() -> None:
    async def scenario(target: str, calls: Calls) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            assert await call_search(channel) == grpc.StatusCode.OK
            assert await call_admin(channel) == grpc.StatusCode.OK

    calls = serve(AuthSettings(), scenario)
    assert (calls.search, calls.admin) == (1, 1)


def test_auth_matrix_over_grpc() -> None:
    auth = AuthSettings(read_tokens=(READ, "another-read"), admin_tokens=(ADMIN,))

    async def scenario(target: str, calls: Calls) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            unauth = grpc.StatusCode.UNAUTHENTICATED
            assert await call_search(channel) == unauth
            assert await call_admin(channel) == unauth
            assert await call_search(channel, bearer_metadata("wrong")) == unauth
            assert await call_search(channel, (("authorization", f"Basic {READ}"),)) == unauth
            # Two authorization headers are ambiguous: refused even when one is valid.
            both = (("authorization", f"Bearer {READ}"), ("authorization", "Bearer wrong"))
            assert await call_search(channel, both) == unauth
            assert calls.search == 0 and calls.admin == 0, "a refused call reached a handler"

            assert await call_search(channel, bearer_metadata(READ)) == grpc.StatusCode.OK
            assert await call_search(channel, bearer_metadata("another-read")) == grpc.StatusCode.OK
            assert await call_admin(channel, bearer_metadata(READ)) == grpc.StatusCode.PERMISSION_DENIED
            assert calls.admin == 0
            assert await call_admin(channel, bearer_metadata(ADMIN)) == grpc.StatusCode.OK
            assert await call_search(channel, bearer_metadata(ADMIN)) == grpc.StatusCode.OK

            # Health stays open for probes that cannot send tokens.
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    calls = serve(auth, scenario)
    assert (calls.search, calls.admin) == (3, 1)


def test_unauthenticated_message_says_what_to_send() -> None:
    async def scenario(target: str, calls: Calls) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await search_pb2_grpc.SearchServiceStub(channel).ListCollections(
                    search_pb2.ListCollectionsRequest(), timeout=10
                )
            assert "authorization: Bearer" in (info.value.details() or "")

    serve(AuthSettings(read_tokens=(READ,)), scenario)


# ---------------------------------------------------------------- TLS and mutual TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls(pki: Pki, mutual: bool = False, **tokens: Any) -> AuthSettings:
    return AuthSettings(
        tls_cert=str(pki.server_cert_path),
        tls_key=str(pki.server_key_path),
        tls_client_ca=str(pki.ca_path) if mutual else "",
        **tokens,
    )


def _secure(target: str, credentials: grpc.ChannelCredentials) -> grpc.aio.Channel:
    # The certificate names localhost and 127.0.0.1; ask for localhost explicitly anyway.
    return grpc.aio.secure_channel(
        target, credentials, options=(("grpc.ssl_target_name_override", "localhost"),)
    )


def test_tls_server_accepts_trusting_client_and_refuses_plaintext_and_strangers(pki: Pki) -> None:
    async def scenario(target: str, calls: Calls) -> None:
        async with _secure(target, client_credentials(pki.ca.cert)) as channel:
            assert await call_search(channel) == grpc.StatusCode.OK
        async with grpc.aio.insecure_channel(target) as channel:
            assert await call_search(channel) == grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the server's CA refuses the handshake.
        other_ca = make_pki(Path(pki.ca_path).parent / "other").ca.cert
        async with _secure(target, client_credentials(other_ca)) as channel:
            assert await call_search(channel) == grpc.StatusCode.UNAVAILABLE

    calls = serve(_tls(pki), scenario)
    assert calls.search == 1


def test_mutual_tls_requires_a_client_certificate_from_the_configured_ca(pki: Pki) -> None:
    async def scenario(target: str, calls: Calls) -> None:
        async with _secure(target, client_credentials(pki.ca.cert)) as channel:
            assert await call_search(channel) == grpc.StatusCode.UNAVAILABLE
        stranger = client_credentials(pki.ca.cert, pki.stranger.cert, pki.stranger.key)
        async with _secure(target, stranger) as channel:
            assert await call_search(channel) == grpc.StatusCode.UNAVAILABLE
        assert calls.search == 0
        member = client_credentials(pki.ca.cert, pki.client.cert, pki.client.key)
        async with _secure(target, member) as channel:
            assert await call_search(channel) == grpc.StatusCode.OK

    calls = serve(_tls(pki, mutual=True), scenario)
    assert calls.search == 1


def test_mutual_tls_and_tokens_both_apply(pki: Pki) -> None:
    async def scenario(target: str, calls: Calls) -> None:
        member = client_credentials(pki.ca.cert, pki.client.cert, pki.client.key)
        async with _secure(target, member) as channel:
            assert await call_search(channel) == grpc.StatusCode.UNAUTHENTICATED
            assert await call_admin(channel, bearer_metadata(READ)) == grpc.StatusCode.PERMISSION_DENIED
            assert await call_admin(channel, bearer_metadata(ADMIN)) == grpc.StatusCode.OK

    calls = serve(_tls(pki, mutual=True, read_tokens=(READ,), admin_tokens=(ADMIN,)), scenario)
    assert (calls.search, calls.admin) == (0, 1)


def test_tls_configuration_errors_are_clear(pki: Pki, tmp_path: Path) -> None:
    assert server_credentials(AuthSettings()) is None
    with pytest.raises(ConfigError, match="together"):
        server_credentials(AuthSettings(tls_cert=str(pki.server_cert_path)))
    with pytest.raises(ConfigError, match="tls_client_ca"):
        server_credentials(AuthSettings(tls_client_ca=str(pki.ca_path)))
    with pytest.raises(ConfigError, match="cannot read"):
        server_credentials(
            AuthSettings(tls_cert=str(tmp_path / "missing.pem"), tls_key=str(pki.server_key_path))
        )
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ConfigError, match="not a PEM"):
        server_credentials(AuthSettings(tls_cert=str(not_pem), tls_key=str(pki.server_key_path)))
    with pytest.raises(ConfigError, match="together"):
        client_credentials(pki.ca.cert, client_cert=pki.client.cert)
