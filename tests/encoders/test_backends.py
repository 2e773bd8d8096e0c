"""bf16 and ONNX Runtime backends: parity with fp32 PyTorch, graph cache, auto choice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError
from clipsearch.indexer.encoders import load_encoder
from clipsearch.indexer.encoders import select as select_module
from clipsearch.indexer.encoders.hardware import cpu_flags, cpu_has_fast_bf16
from clipsearch.indexer.encoders.parity import measure_parity
from clipsearch.indexer.encoders.select import Candidate, candidates_for

pytestmark = pytest.mark.xdist_group("encoders-onnx")


def _space(model_dir: Path, **kw: Any) -> SpaceSettings:
    return SpaceSettings(model=f"local-dir:{model_dir}", device="cpu", **kw)


@pytest.mark.parametrize("fixture", ["tiny_base", "tiny_multilingual"])
def test_onnx_matches_torch(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    ref = load_encoder("s", _space(model_dir, backend="torch", precision="fp32"))
    onnx = load_encoder("s", _space(model_dir, backend="onnx", precision="fp32"), cache_dir=tmp_path)
    assert (onnx.info.backend, onnx.info.precision) == ("onnx", "fp32")
    parity = measure_parity(ref, onnx)
    assert parity.worst >= 0.9999
    texts = ["ein roter Kreis", "a long " + "very " * 100 + "long text"]
    assert np.abs(onnx.encode_texts(texts) - ref.encode_texts(texts)).max() < 1e-4
    graphs = tmp_path / "graphs" / ref.info.fingerprint
    assert (graphs / "image.onnx").is_file() and (graphs / "text.onnx").is_file()
    # Short batches run on the shortest graph that holds them (each exported with a dynamic batch).
    assert (graphs / "text.16.onnx").is_file() and (graphs / "text.32.onnx").is_file()
    seen: list[int] = []
    short = onnx._short_text  # type: ignore[attr-defined]
    short[:] = [(length, _Recording(session.run, seen)) for length, session in short]
    tokenizer = onnx._tokenizer  # type: ignore[attr-defined]
    for batch in (["a red circle"], ["two blue squares", "a star"], ["a red circle " * 3, "a star"]):
        assert np.abs(onnx.encode_texts(batch) - ref.encode_texts(batch)).max() < 1e-4
        needed = max(tokenizer.count(text) for text in batch)  # each batch fits in 32 tokens
        assert seen[-1] == min(n for n in (16, 32) if n >= needed)
    assert len(seen) == 3 and min(seen) == 16


class _Recording:
    """An ONNX Runtime session stand-in that notes the token length of each run."""

    def __init__(self, run: Any, seen: list[int]) -> None:
        self._run, self._seen = run, seen

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self._seen.append(feeds["tokens"].shape[1])
        return self._run(names, feeds)


def test_int8_parity_and_graph_cache_reuse(tiny_base: Path, tmp_path: Path) -> None:
    ref = load_encoder("s", _space(tiny_base, backend="torch", precision="fp32"))
    auto = load_encoder("s", _space(tiny_base, backend="onnx", precision="auto"), cache_dir=tmp_path)
    assert auto.info.backend == "onnx" and auto.info.precision in ("fp32", "int8")
    graphs = tmp_path / "graphs" / ref.info.fingerprint
    int8 = graphs / "image.int8.onnx"
    assert int8.is_file()
    from clipsearch.indexer.encoders.loader import load_model
    from clipsearch.indexer.encoders.onnx_encoder import OnnxEncoder, ensure_graphs

    loaded = load_model("s", _space(tiny_base))
    stamp = int8.stat().st_mtime_ns
    paths = ensure_graphs(loaded, graphs, int8=True)  # cached: nothing is exported again
    assert int8.stat().st_mtime_ns == stamp and paths.image == int8
    quantised = OnnxEncoder(loaded, ref.info, 8, paths, threads=1)
    assert measure_parity(ref, quantised).worst >= 0.99


def test_bf16_parity(tiny_base: Path) -> None:
    ref = load_encoder("s", _space(tiny_base, backend="torch", precision="fp32"))
    bf16 = load_encoder("s", _space(tiny_base, backend="torch", precision="bf16"))
    assert bf16.info.precision == "bf16"
    assert measure_parity(ref, bf16).worst >= 0.999


def test_auto_measures_once_then_uses_cached_decision(
    tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_encoder("s", _space(tiny_base), cache_dir=tmp_path)
    decisions = list((tmp_path / "graphs" / first.info.fingerprint).glob("decision-*.json"))
    assert len(decisions) == 1
    record = json.loads(decisions[0].read_text())
    trials = record["trials"]
    assert {(t["backend"], t["precision"]) for t in trials} >= {
        ("torch", "fp32"),
        ("onnx", "fp32"),
        ("onnx", "int8"),
    }
    chosen, text_chosen = record["choice"], record["text_choice"]
    assert (first.info.backend, first.info.precision) == (chosen["backend"], chosen["precision"])
    passing = [t for t in trials if t["passed"]]
    # Each tower takes its own fastest passing path.
    for key, choice in (("image_seconds", chosen), ("text_seconds", text_chosen)):
        fastest = min(passing, key=lambda t, key=key: t[key])
        assert (fastest["backend"], fastest["precision"]) == (choice["backend"], choice["precision"])
    if text_chosen != chosen:
        assert (first.info.text_backend, first.info.text_precision) == (
            text_chosen["backend"],
            text_chosen["precision"],
        )

    def no_measuring(*args: object) -> float:
        raise AssertionError("a cached decision must not be measured again")

    monkeypatch.setattr(select_module, "_time", no_measuring)
    second = load_encoder("s", _space(tiny_base), cache_dir=tmp_path)
    assert second.info.path == first.info.path


def test_each_tower_takes_its_fastest_path(
    tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clipsearch.indexer.encoders.split import SplitEncoder

    def timed(encoder: Any, repeats: int = 2) -> tuple[float, float]:
        # Made-up timings: images fastest on ONNX int8, texts on PyTorch fp32.
        path = (encoder.info.backend, encoder.info.precision)
        return {("onnx", "int8"): (1.0, 9.0), ("torch", "fp32"): (5.0, 2.0)}.get(path, (6.0, 6.0))

    monkeypatch.setattr(select_module, "_time", timed)
    split = load_encoder("s", _space(tiny_base), cache_dir=tmp_path)
    assert isinstance(split, SplitEncoder)
    assert split.info.path == "onnx/int8 (texts torch/fp32)"
    ref = load_encoder("s", _space(tiny_base, backend="torch", precision="fp32"))
    texts = ["a red circle", "two blue squares above a green triangle"]
    np.testing.assert_allclose(split.encode_texts(texts), ref.encode_texts(texts), atol=1e-6)  # texts: torch
    assert measure_parity(ref, split).image_cosine >= 0.99  # images: int8
    assert split.info.fingerprint == ref.info.fingerprint  # the same vectors, only faster
    # The split is cached too: the next load measures nothing and splits the same way.
    monkeypatch.setattr(select_module, "_time", lambda *a: pytest.fail("measured again"))
    again = load_encoder("s", _space(tiny_base), cache_dir=tmp_path)
    assert isinstance(again, SplitEncoder) and again.info.path == split.info.path


def test_candidates_follow_settings() -> None:
    space = SpaceSettings(model="x")
    assert candidates_for(space, fast_bf16=True) == [
        Candidate("torch", "fp32"),
        Candidate("torch", "bf16"),
        Candidate("onnx", "fp32"),
        Candidate("onnx", "int8"),
    ]
    assert Candidate("torch", "bf16") not in candidates_for(space, fast_bf16=False)
    fp32 = SpaceSettings(model="x", precision="fp32")
    assert {c.precision for c in candidates_for(fp32, fast_bf16=True)} == {"fp32"}
    assert candidates_for(SpaceSettings(model="x", precision="bf16"), True) == [Candidate("torch", "bf16")]
    assert candidates_for(SpaceSettings(model="x", backend="onnx", precision="fp32"), True) == [
        Candidate("onnx", "fp32")
    ]
    with pytest.raises(ConfigError, match="bf16"):
        candidates_for(SpaceSettings(model="x", backend="onnx", precision="bf16"), True)


def test_cpu_feature_detection(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512f avx512_bf16\n")
    assert cpu_has_fast_bf16(cpu_flags(info), onednn_bf16=True)
    # The CPU has it but this PyTorch build's oneDNN does not use it: bf16 is emulated (slow).
    assert not cpu_has_fast_bf16(cpu_flags(info), onednn_bf16=False)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512f\n")
    assert not cpu_has_fast_bf16(cpu_flags(info), onednn_bf16=True)
    # No /proc/cpuinfo: oneDNN alone decides.
    assert cpu_has_fast_bf16(frozenset(), onednn_bf16=True)
    assert not cpu_has_fast_bf16(frozenset(), onednn_bf16=False)
    assert cpu_flags(tmp_path / "missing") == frozenset()
