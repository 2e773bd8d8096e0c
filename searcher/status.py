"""Exceptions → gRPC status codes, in one place (DESIGN §5)."""

from __future__ import annotations

import grpc

from clipsearch import errors

_CODES: tuple[tuple[type[errors.ClipsearchError], grpc.StatusCode], ...] = (
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Conflict, grpc.StatusCode.ABORTED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DataCorrupt, grpc.StatusCode.DATA_LOSS),
    (errors.MissingDependency, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_for(exc: BaseException, request_id: str) -> tuple[grpc.StatusCode, str]:
    """The code and the message a caller sees; unknown errors say only INTERNAL and the request id."""
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the work finished"
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id}); the server log has details"


# The client maps status codes back to the same hierarchy.
ERRORS_BY_CODE: dict[grpc.StatusCode, type[errors.ClipsearchError]] = {
    code: kind for kind, code in reversed(_CODES)
}
