"""docs/reliability.md's generated tables equal what tests/reliability/results/*.json say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "reliability_report", ROOT / "tools" / "reliability_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_report_matches_results() -> None:
    tool = _tool()
    current = tool.REPORT.read_text(encoding="utf-8")
    assert tool.BEGIN in current and tool.END in current, "the report lost its generated section"
    assert tool.render_report(current) == current, (
        "docs/reliability.md is stale: run .venv/bin/python tools/reliability_report.py"
    )


def test_every_result_file_is_rendered() -> None:
    tool = _tool()
    generated = tool.render_generated()
    for name in tool.result_names():
        title = __import__("json").loads((tool.RESULTS_DIR / f"{name}.json").read_text())["title"]
        assert f"### {title}" in generated


def test_render_flags_failures(tmp_path: Path) -> None:
    """A failing row shows up as not passing in the summary line (the report cannot hide failures)."""
    tool = _tool()
    (tmp_path / "x.json").write_text(
        '{"title": "T", "columns": ["input", "result"], "rows": [{"input": "a", "result": "pass"},'
        ' {"input": "b", "result": "FAIL"}]}'
    )
    text = tool.render_generated(tmp_path)
    assert "| b | FAIL |" in text and "1 of 2 rows pass." in text
