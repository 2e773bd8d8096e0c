"""The client SDK and `clipsearch search` against the real search server with TLS (and mutual TLS)
and bearer tokens: the right credentials get answers; missing or wrong ones get clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clipsearch import errors
from clipsearch.cli import app
from clipsearch.client import AsyncSearchClient, SearchClient
from clipsearch.config import AuthSettings
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread

from .certs import Pki, make_pki
from .conftest import COLLECTION, DIM, reliability_settings
from .live import write_config
from .results import check_rows

READ = "client-read-token-0123456789"
ADMIN = "client-admin-token-9876543210"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _client_files(pki: Pki, directory: Path) -> dict[str, Path]:
    paths = {"cert": directory / "client.pem", "key": directory / "client.key"}
    paths["cert"].write_bytes(pki.client.cert)
    paths["key"].write_bytes(pki.client.key)
    return paths


class SecureServer:
    def __init__(self, root: Path, pki: Pki, *, mutual: bool) -> None:
        settings = reliability_settings(root, root / "no-model")  # vector queries: no model needed
        auth = AuthSettings(
            read_tokens=(READ,),
            admin_tokens=(ADMIN,),
            tls_cert=str(pki.server_cert_path),
            tls_key=str(pki.server_key_path),
            tls_client_ca=str(pki.ca_path) if mutual else "",
        )
        self.settings = settings.model_copy(update={"auth": auth})
        db = Database(self.settings.database_url)
        db.create_all()
        self.corpus = write_corpus(db, self.settings.data_dir, collection=COLLECTION, n_items=40, dim=DIM)
        db.dispose()
        self.thread = ServerThread(self.settings)
        self.target = self.thread.target

    @property
    def vector(self) -> list[float]:
        return [float(x) for x in self.corpus.centres[0]]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureServer]:
    server = SecureServer(tmp_path_factory.mktemp("tls-server"), pki, mutual=False)
    yield server
    server.thread.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureServer]:
    server = SecureServer(tmp_path_factory.mktemp("mtls-server"), pki, mutual=True)
    yield server
    server.thread.stop()


def _outcome(action: Any) -> str:
    """'OK (n hits)' or the clipsearch error class the call raised."""
    try:
        result = action()
    except errors.ClipsearchError as exc:
        return type(exc).__name__
    return f"OK ({len(result.hits)} hits)"


def test_client_tls_and_token_against_the_search_server(
    tls_server: SecureServer, mtls_server: SecureServer, pki: Pki, tmp_path: Path
) -> None:
    files = _client_files(pki, tmp_path)

    def search(server: SecureServer, **kwargs: Any) -> str:
        def action() -> Any:
            with SearchClient(server.target, timeout=10, **kwargs) as client:
                return client.search(collection=COLLECTION, vector=server.vector, top_k=5)

        return _outcome(action)

    cases: list[tuple[str, str, str]] = [
        ("TLS: trusted CA (path) + read token", search(tls_server, token=READ, tls_ca=pki.ca_path), "OK"),
        ("TLS: trusted CA (bytes) + admin token", search(tls_server, token=ADMIN, tls_ca=pki.ca.cert), "OK"),
        ("TLS: trusted CA, no token", search(tls_server, tls_ca=pki.ca_path), "Unauthenticated"),
        (
            "TLS: trusted CA, wrong token",
            search(tls_server, token="nope", tls_ca=pki.ca_path),
            "Unauthenticated",
        ),
        ("plaintext client + read token", search(tls_server, token=READ), "Unavailable"),
        (
            "TLS: trusts another CA's certificate + read token",
            search(tls_server, token=READ, tls_ca=pki.stranger.cert),
            "Unavailable",
        ),
        (
            "mutual TLS: client certificate + read token",
            search(mtls_server, token=READ, tls_ca=pki.ca_path, tls_cert=files["cert"], tls_key=files["key"]),
            "OK",
        ),
        (
            "mutual TLS: no client certificate",
            search(mtls_server, token=READ, tls_ca=pki.ca_path),
            "Unavailable",
        ),
    ]

    async def async_search() -> Any:
        async with AsyncSearchClient(tls_server.target, token=READ, tls_ca=pki.ca_path, timeout=10) as client:
            return await client.search(collection=COLLECTION, vector=tls_server.vector, top_k=5)

    cases.append(("async client: TLS + read token", _outcome(lambda: asyncio.run(async_search())), "OK"))

    rows = []
    for name, observed, expected in cases:
        ok = observed.startswith(expected)
        rows.append(
            {"client": name, "expected": expected, "observed": observed, "result": "pass" if ok else "FAIL"}
        )
    assert all(row["result"] == "pass" for row in rows), rows
    check_rows(
        "client_security",
        rows,
        title="Client SDK with TLS, mutual TLS and bearer tokens against the search server",
        columns=["client", "expected", "observed", "result"],
    )


def test_client_option_errors_are_clear(pki: Pki, tmp_path: Path) -> None:
    files = _client_files(pki, tmp_path)
    with pytest.raises(errors.InvalidRequest, match="together"):
        SearchClient("127.0.0.1:1", tls_ca=pki.ca_path, tls_cert=files["cert"])
    with pytest.raises(errors.InvalidRequest, match="cannot read"):
        SearchClient("127.0.0.1:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(errors.InvalidRequest, match="not PEM"):
        SearchClient("127.0.0.1:1", tls_ca=b"garbage")
    with pytest.raises(errors.InvalidRequest, match="authorization"):
        SearchClient("127.0.0.1:1", token=READ, metadata=(("authorization", "Bearer x"),))


def test_search_cli_with_token_and_tls_ca(tls_server: SecureServer, pki: Pki, tmp_path: Path) -> None:
    config = write_config(tmp_path / "client.toml", tls_server.settings)
    vector = ",".join(f"{x:.6f}" for x in tls_server.vector)
    base = ["--config", str(config), "search", "--collection", COLLECTION, "--server", tls_server.target]
    base += ["--vector", vector, "--top-k", "3", "--json"]
    runner = CliRunner()
    ok = runner.invoke(app, [*base, "--token", READ, "--tls-ca", str(pki.ca_path)])
    assert ok.exit_code == 0, ok.output
    assert '"hits"' in ok.stdout
    from_env = runner.invoke(app, [*base, "--tls-ca", str(pki.ca_path)], env={"CLIPSEARCH_TOKEN": READ})
    assert from_env.exit_code == 0, from_env.output
    no_token = runner.invoke(app, [*base, "--tls-ca", str(pki.ca_path)], env={"CLIPSEARCH_TOKEN": ""})
    assert no_token.exit_code == errors.Unauthenticated.exit_code and "error:" in no_token.output
    no_tls = runner.invoke(app, [*base, "--token", READ, "--timeout", "5"])
    assert no_tls.exit_code == errors.Unavailable.exit_code, no_tls.output
