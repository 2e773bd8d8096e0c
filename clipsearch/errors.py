"""One error hierarchy for every layer.

Library code raises these; the gRPC layer maps them to status codes in one place and the CLI maps
them to exit codes, so neither needs to know where an error came from.
"""

from __future__ import annotations


class ClipsearchError(Exception):
    """Base of every error clipsearch raises on purpose."""

    #: process exit code the CLI uses for this error class
    exit_code: int = 1


class ConfigError(ClipsearchError):
    """A configuration file or override is invalid; the message names the key."""

    exit_code = 78  # EX_CONFIG


class InvalidRequest(ClipsearchError):
    """The caller asked for something malformed (bad query, filter, vector, option)."""

    exit_code = 64  # EX_USAGE


class NotFound(ClipsearchError):
    """A named thing (collection, space, item, version) does not exist."""

    exit_code = 66  # EX_NOINPUT


class AlreadyExists(ClipsearchError):
    """Creating something that exists already."""

    exit_code = 73  # EX_CANTCREAT


class Conflict(ClipsearchError):
    """The operation conflicts with current state (lock held, version not activatable, ...)."""

    exit_code = 75  # EX_TEMPFAIL


class Unavailable(ClipsearchError):
    """A dependency (database, index, model) cannot be reached or loaded right now."""

    exit_code = 69  # EX_UNAVAILABLE


class ModelUnavailable(Unavailable):
    """Model weights are missing or cannot be loaded; the message says how to provide them."""


class ResourceExhausted(ClipsearchError):
    """A queue, size or rate limit was hit; retry later or ask for less."""

    exit_code = 75


class DeadlineExceeded(ClipsearchError):
    """The caller's deadline passed before the work finished."""

    exit_code = 75


class Unauthenticated(ClipsearchError):
    """No or unknown credentials."""

    exit_code = 77  # EX_NOPERM


class PermissionDenied(ClipsearchError):
    """Valid credentials without the right to do this."""

    exit_code = 77


class DataCorrupt(ClipsearchError):
    """Stored data failed an integrity check (checksum, manifest, fingerprint mismatch)."""

    exit_code = 65  # EX_DATAERR


class MissingDependency(ClipsearchError):
    """An optional dependency is not installed; the message carries the install hint."""

    exit_code = 69

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'clipsearch[{extra}]'" if extra else f"pip install {package}"
        why = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"optional dependency '{package}' is not installed{why}; install it with: {hint}")
        self.package = package
