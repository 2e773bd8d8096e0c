"""`clipsearch models list|info|pull|verify`: the configured embedding spaces and their weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipsearch.cli.context import print_json, settings

if TYPE_CHECKING:
    from clipsearch.config import Settings, SpaceSettings

models_app = typer.Typer(
    name="models",
    help="Embedding spaces: list them, inspect one, pull weights, verify parity.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SpaceArg = Annotated[str, typer.Argument(help="Space name (a key of [spaces]).")]


def encoder_cache_dir(config: Settings) -> Path:
    """Where exported graphs and backend decisions live (the indexer uses the same folder)."""
    return config.data_dir / "model-cache"


def _space_summary(name: str, space: SpaceSettings) -> dict[str, Any]:
    from clipsearch.errors import ClipsearchError
    from clipsearch.indexer.encoders.resolve import resolve_model

    row: dict[str, Any] = {
        "space": name,
        "role": space.role,
        "model": space.model,
        "pretrained": space.pretrained,
        "precision": space.precision,
        "backend": space.backend,
        "device": space.device,
        "context_length": space.context_length or None,
        "long_text": space.long_text,
        "languages": list(space.languages),
    }
    try:
        resolved = resolve_model(space, space_name=name)
    except ClipsearchError as exc:
        row.update(present=False, weights=None, problem=str(exc))
        return row
    text_cfg = resolved.model_cfg.get("text_cfg") or {}
    row.update(
        present=True,
        weights=resolved.weights_source,
        dim=resolved.model_cfg.get("embed_dim"),
        context_length=space.context_length or text_cfg.get("context_length", 77),
        problem=None,
    )
    return row


@models_app.command("list")
def list_spaces(
    ctx: typer.Context,
    as_json: JsonOption = False,
    zoo: Annotated[
        bool, typer.Option("--zoo", help="List open_clip's model zoo (names and tags) instead.")
    ] = False,
) -> None:
    """Configured spaces: model, dims, context length, where weights come from, whether present."""
    if zoo:
        import open_clip

        pairs = open_clip.list_pretrained()
        tags: dict[str, list[str]] = {name: [] for name in open_clip.list_models()}
        for model, tag in pairs:
            tags.setdefault(model, []).append(tag)
        if as_json:
            print_json([{"model": m, "tags": t} for m, t in sorted(tags.items())])
        else:
            for model, model_tags in sorted(tags.items()):
                typer.echo(f"{model}: {', '.join(model_tags) or '(no pretrained tags)'}")
        return
    config = settings(ctx)
    rows = [_space_summary(name, space) for name, space in config.spaces.items()]
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="embedding spaces")
    for column in ("space", "role", "model", "dim", "context", "weights", "present"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["space"],
            row["role"],
            row["model"],
            str(row.get("dim") or "?"),
            str(row.get("context_length") or "?"),
            row["weights"] or row["problem"],
            "[green]yes[/]" if row["present"] else "[red]no[/]",
        )
    Console().print(table)


@models_app.command("info")
def info(ctx: typer.Context, space: SpaceArg, as_json: JsonOption = False) -> None:
    """Load a space's model and describe it: dims, context, parameters, fingerprint, chosen backend."""
    from clipsearch.indexer.encoders.fingerprint import model_fingerprint
    from clipsearch.indexer.encoders.hardware import cpu_has_fast_bf16, resolve_device
    from clipsearch.indexer.encoders.loader import load_model
    from clipsearch.indexer.encoders.select import read_trials

    config = settings(ctx)
    space_cfg = config.space(space)
    loaded = load_model(space, space_cfg)
    fingerprint = model_fingerprint(loaded, space_cfg.long_text)
    payload = {
        "space": space,
        "model": space_cfg.model,
        "weights": loaded.resolved.weights_source,
        "checkpoint_format": loaded.checkpoint_format,
        "dim": loaded.dim,
        "context_length": loaded.context_length,
        "image_size": list(loaded.image_size),
        "parameters": loaded.param_count,
        "tokenizer": loaded.resolved.hf_tokenizer or "open_clip CLIP BPE",
        "fingerprint": fingerprint,
        "device": resolve_device(space_cfg.device),
        "cpu_native_bf16": cpu_has_fast_bf16(),
        "backend_setting": f"{space_cfg.backend}/{space_cfg.precision}",
        "measured": read_trials(encoder_cache_dir(config), fingerprint),
    }
    if as_json:
        print_json(payload)
        return
    for key, value in payload.items():
        if key == "measured":
            for trial in value:
                towers = (
                    f" (images {float(trial['image_seconds']):.3f}s, texts {float(trial['text_seconds']):.3f}s)"
                    if trial.get("image_seconds")
                    else ""
                )
                typer.echo(
                    f"  measured {trial['backend']}/{trial['precision']}: {float(trial['seconds']):.3f}s{towers}, "
                    f"cosine {float(trial['cosine']):.5f}{'' if trial['passed'] else ' (failed parity)'}"
                )
        else:
            typer.echo(f"{key}: {value}")


@models_app.command("pull")
def pull(
    ctx: typer.Context,
    space: Annotated[str | None, typer.Argument(help="Space name; all spaces when omitted.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Download a space's weights through open_clip's / Hugging Face's cache (needs network access)."""
    from clipsearch.indexer.encoders.loader import load_model

    config = settings(ctx)
    names = [space] if space else list(config.spaces)
    results = []
    for name in names:
        loaded = load_model(name, config.space(name), allow_download=True)
        results.append({"space": name, "weights": loaded.resolved.weights_source})
        if not as_json:
            typer.echo(f"{name}: {loaded.resolved.weights_source}")
    if as_json:
        print_json(results)


@models_app.command("verify")
def verify(ctx: typer.Context, space: SpaceArg, as_json: JsonOption = False) -> None:
    """Load a space as configured and check it: normalised finite vectors, parity with fp32 PyTorch."""
    import numpy as np

    from clipsearch.indexer.encoders.loader import encoder_for, load_model
    from clipsearch.indexer.encoders.parity import MIN_COSINE, PROBE_TEXTS, measure_parity, probe_pixels

    config = settings(ctx)
    space_cfg = config.space(space)
    loaded = load_model(space, space_cfg)
    reference = encoder_for(
        space, space_cfg.model_copy(update={"backend": "torch", "precision": "fp32", "device": "cpu"}), loaded
    )
    encoder = encoder_for(space, space_cfg, loaded, cache_dir=encoder_cache_dir(config))
    images = encoder.encode_preprocessed(probe_pixels(encoder.image_shape))
    texts = encoder.encode_texts(PROBE_TEXTS)
    parity = measure_parity(reference, encoder)
    # A split space (images one path, texts another) is held to the looser of its floors.
    threshold = min(MIN_COSINE[precision] for precision in encoder.info.parity_precisions)
    checks = {
        "finite": bool(np.isfinite(images).all() and np.isfinite(texts).all()),
        "normalised": bool(np.allclose(np.linalg.norm(np.vstack([images, texts]), axis=1), 1.0, atol=1e-3)),
        "dim": images.shape[1] == texts.shape[1] == loaded.dim,
        # Distinct inputs must not collapse to one vector (a sign of broken weights or tokenizer).
        "distinct": bool(float((texts @ texts.T)[np.triu_indices(len(texts), 1)].max()) < 0.9999),
        "parity": parity.worst >= threshold,
    }
    payload = {
        "space": space,
        "backend": encoder.info.backend,
        "precision": encoder.info.precision,
        "path": encoder.info.path,
        "fingerprint": encoder.info.fingerprint,
        "image_cosine_to_fp32": parity.image_cosine,
        "text_cosine_to_fp32": parity.text_cosine,
        "threshold": threshold,
        "checks": checks,
        "ok": all(checks.values()),
    }
    if as_json:
        print_json(payload)
    else:
        typer.echo(
            f"{space}: {encoder.info.path} cosine to fp32 image "
            f"{parity.image_cosine:.5f} text {parity.text_cosine:.5f} (>= {threshold})"
        )
        for name, ok in checks.items():
            typer.echo(f"  {name}: {'ok' if ok else 'FAILED'}")
    raise typer.Exit(0 if payload["ok"] else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app)
