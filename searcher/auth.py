"""Bearer-token authentication for the gRPC server (a grpc.aio server interceptor).

Callers send `authorization: Bearer <token>` metadata. Tokens come from `AuthSettings` (config file or
`CLIPSEARCH_AUTH__READ_TOKENS` / `CLIPSEARCH_AUTH__ADMIN_TOKENS`); empty lists mean auth is off.

- a *read* token may call every method except the admin service;
- an *admin* token may call everything (admin implies read);
- no token or an unknown token → UNAUTHENTICATED; a read token on an admin method → PERMISSION_DENIED;
- health checking and server reflection stay open: load balancers and orchestrator probes cannot send
  tokens, and reflection only reveals the public API schema that ships with the client anyway.

Tokens are compared in constant time: each presented token is hashed (SHA-256, so lengths do not leak)
and compared with `hmac.compare_digest` against *every* configured digest without stopping early.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import grpc
import grpc.aio

from clipsearch.config import AuthSettings

log = logging.getLogger(__name__)

Role = Literal["read", "admin"]

#: methods under these prefixes need an admin token.
ADMIN_METHOD_PREFIXES: tuple[str, ...] = ("/clipsearch.v1.AdminService/",)
#: methods under these prefixes need no token at all (see the module docstring for why).
OPEN_METHOD_PREFIXES: tuple[str, ...] = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
AUTHORIZATION_HEADER = "authorization"
_SCHEME = "bearer"


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a call is refused: the status code and a message that says what to send instead."""

    code: grpc.StatusCode
    message: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may call what. Pure (no gRPC objects) so the decision is easy to test on its own."""

    read_digests: tuple[bytes, ...] = ()
    admin_digests: tuple[bytes, ...] = ()
    admin_prefixes: tuple[str, ...] = ADMIN_METHOD_PREFIXES
    open_prefixes: tuple[str, ...] = OPEN_METHOD_PREFIXES

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> AccessPolicy:
        for token in (*auth.read_tokens, *auth.admin_tokens):
            if not token or token != token.strip():
                raise ValueError("auth tokens must be non-empty and have no surrounding whitespace")
        return cls(
            read_digests=tuple(_digest(t) for t in auth.read_tokens),
            admin_digests=tuple(_digest(t) for t in auth.admin_tokens),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.read_digests or self.admin_digests)

    def role_of(self, token: str) -> Role | None:
        """The role a token grants, compared in constant time against every configured token."""
        presented = _digest(token)
        is_admin = False
        is_read = False
        # No early exit: the time taken does not depend on which (or whether a) token matched.
        for digest in self.admin_digests:
            is_admin |= hmac.compare_digest(presented, digest)
        for digest in self.read_digests:
            is_read |= hmac.compare_digest(presented, digest)
        if is_admin:
            return "admin"
        return "read" if is_read else None

    def check(self, method: str, authorization: str | None) -> Denial | None:
        """None when `method` may be called with this `authorization` header value, else the denial."""
        if not self.enabled or method.startswith(self.open_prefixes):
            return None
        token = parse_bearer(authorization)
        if token is None:
            return Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing credentials: send metadata 'authorization: Bearer <token>'",
            )
        role = self.role_of(token)
        if role is None:
            return Denial(grpc.StatusCode.UNAUTHENTICATED, "unknown bearer token")
        if role != "admin" and method.startswith(self.admin_prefixes):
            return Denial(grpc.StatusCode.PERMISSION_DENIED, f"{method} needs an admin token")
        return None


def parse_bearer(value: str | None) -> str | None:
    """The token of an `authorization: Bearer <token>` value; None when absent or malformed."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != _SCHEME or not token:
        return None
    return token


def _metadata_value(metadata: Sequence[tuple[str, str | bytes]] | None, key: str) -> str | None:
    values = [v for k, v in (metadata or ()) if k == key]
    # Exactly one header: several `authorization` values are ambiguous and refused.
    if len(values) != 1:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _denying_handler(handler: grpc.RpcMethodHandler, denial: Denial) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as `handler` that only aborts with `denial`."""

    async def abort(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(denial.code, denial.message)

    async def abort_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(denial.code, denial.message)
        yield  # pragma: no cover - makes this an async generator, as streaming handlers must be

    # Requests of a refused call are never looked at, so they are not deserialised either.
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort_stream)
    return grpc.unary_unary_rpc_method_handler(abort)


class BearerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls that `AccessPolicy.check` denies before any handler code runs."""

    def __init__(self, policy: AccessPolicy) -> None:
        self._policy = policy

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: let gRPC answer UNIMPLEMENTED
            return handler
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        metadata = handler_call_details.invocation_metadata  # type: ignore[attr-defined]
        denial = self._policy.check(method, _metadata_value(metadata, AUTHORIZATION_HEADER))
        if denial is None:
            return handler
        log.info("refused %s: %s", method, denial.code.name)
        return _denying_handler(handler, denial)


def auth_interceptors(auth: AuthSettings) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors to pass to `grpc.aio.server(interceptors=...)`; empty when auth is off."""
    policy = AccessPolicy.from_settings(auth)
    if not policy.enabled:
        return []
    if not policy.admin_digests:
        log.warning("auth: read tokens but no admin tokens configured; admin methods are refused to everyone")
    if not (auth.tls_cert and auth.tls_key):
        log.warning("auth: bearer tokens without TLS travel in clear text; configure auth.tls_cert/tls_key")
    return [BearerAuthInterceptor(policy)]


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata a client sends to authenticate with `token` ("" = none)."""
    return ((AUTHORIZATION_HEADER, f"Bearer {token}"),) if token else ()
