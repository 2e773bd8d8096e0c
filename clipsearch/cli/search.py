"""`clipsearch search QUERY --collection C`: query a running server through the client SDK."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from clipsearch.cli.context import print_json, settings
from clipsearch.errors import InvalidRequest


def search(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help="Query text (omit with --image/--video/--item/--vector).")
    ] = None,
    collection: Annotated[str, typer.Option("--collection", "-C", help="Collection to search.")] = "",
    image: Annotated[Path | None, typer.Option(help="Query by this image file.")] = None,
    video: Annotated[
        Path | None, typer.Option(help="Query by this video clip (mean of sampled frames).")
    ] = None,
    item: Annotated[str | None, typer.Option(help="More like this item (id or uri).")] = None,
    vector: Annotated[str | None, typer.Option(help="Raw vector as comma-separated floats.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Hits per page (0 = server default).")] = 0,
    offset: Annotated[int, typer.Option(help="Skip this many hits.")] = 0,
    page_token: Annotated[str, typer.Option(help="Continue from a previous page's token.")] = "",
    media: Annotated[
        list[str] | None, typer.Option("--media", help="image, video or text (repeatable).")
    ] = None,
    language: Annotated[
        str, typer.Option(help="Language of the query text (ISO 639-1); default: detect.")
    ] = "",
    space: Annotated[str, typer.Option(help="Space to search in (default: routed).")] = "",
    filter: Annotated[
        str, typer.Option("--filter", help='Metadata filter JSON, e.g. \'{"field":"meta.tag","eq":"x"}\'.')
    ] = "",
    min_score: Annotated[float | None, typer.Option(help="Drop hits scoring below this.")] = None,
    rerank: Annotated[
        bool | None, typer.Option("--rerank/--no-rerank", help="Stage-2 rerank (default: server).")
    ] = None,
    rerank_depth: Annotated[
        int, typer.Option(help="First-stage candidates to rerank (0 = server default).")
    ] = 0,
    rerank_space: Annotated[
        str, typer.Option(help="Space to rerank in (default: the collection's rerank space, else exact).")
    ] = "",
    frames: Annotated[
        bool | None, typer.Option("--frames/--no-frames", help="Video frame scoring (default: server).")
    ] = None,
    alpha: Annotated[
        float | None, typer.Option(help="Frame scoring: S = alpha*S_initial + (1-alpha)*S_frame.")
    ] = None,
    top_frames: Annotated[int | None, typer.Option(help="Best frames returned per video hit.")] = None,
    delta: Annotated[
        float | None, typer.Option(help="Segment: contiguous frames within delta of the best frame.")
    ] = None,
    server: Annotated[
        str, typer.Option(help="host:port of the server (default: server.host:server.port).")
    ] = "",
    token: Annotated[str, typer.Option(envvar="CLIPSEARCH_TOKEN", help="Bearer token when auth is on.")] = "",
    tls_ca: Annotated[
        Path | None, typer.Option("--tls-ca", help="CA certificate (PEM) to trust; turns TLS on.")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Client certificate (PEM) for mutual TLS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Key (PEM) of --tls-cert.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Search a collection on a running server and print the hits."""
    from clipsearch.client import SearchClient

    cfg = settings(ctx)
    if not collection:
        raise InvalidRequest("--collection is required")
    target = server or f"{cfg.server.host}:{cfg.server.port}"
    values = None
    if vector is not None:
        try:
            values = [float(x) for x in vector.split(",") if x.strip()]
        except ValueError:
            raise InvalidRequest("--vector must be comma-separated numbers") from None
    with SearchClient(
        target,
        token=token or None,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        timeout=timeout,
        max_message_mb=cfg.server.max_message_mb,
    ) as client:
        result = client.search(
            query,
            collection=collection,
            image=_read(image),
            video=_read(video),
            item_id=item,
            vector=values,
            top_k=top_k,
            offset=offset,
            page_token=page_token,
            media_types=media or (),
            language=language,
            space=space,
            filter=filter,
            min_score=min_score,
            rerank=rerank,
            rerank_depth=rerank_depth,
            rerank_space=rerank_space,
            frame_scoring=frames,
            frame_alpha=alpha,
            top_frames=top_frames,
            frame_delta=delta,
        )
    if as_json:
        print_json(asdict(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{collection}: {len(result.hits)} hits (space {result.space}, {result.route_reason})"
    )
    for column in ("#", "score", "type", "id", "uri", "moment", "text"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        moment = ""
        if hit.moment is not None:
            moment = f"{hit.moment.t_sec:.1f}s [{hit.moment.segment_start_sec:.1f}–{hit.moment.segment_end_sec:.1f}]"
        table.add_row(
            str(hit.rank + 1), f"{hit.score:.4f}", hit.media_type, hit.id, hit.uri, moment, hit.text[:80]
        )
    console = Console()
    console.print(table)
    notes = [f"language {result.language}"] if result.language else []
    if result.query_truncated:
        notes.append("query text truncated to the model's context")
    notes.append("timings " + ", ".join(f"{k} {v:.1f} ms" for k, v in result.timings_ms.items()))
    if result.next_page_token:
        notes.append(f"next page: --page-token {result.next_page_token}")
    console.print("; ".join(notes), style="dim")


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    app.command("search")(search)
