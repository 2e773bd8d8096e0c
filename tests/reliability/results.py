"""Results of the reliability tests, kept in `tests/reliability/results/*.json` and rendered into
`docs/reliability.md` by `tools/reliability_report.py`.

A test computes its rows (deterministic: no timings) and calls `check_rows(name, rows)`:
- normally it asserts that the committed JSON equals what the run observed, so neither the results
  nor the report (checked against the results by `test_report.py`) can drift from the truth;
- with `CLIPSEARCH_RELIABILITY_UPDATE=1` it rewrites the JSON instead (then run the report tool).

Measured figures (latencies) are not deterministic: `record_figures` writes them only in update mode
and the checks look at their deterministic fields only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
UPDATE_ENV = "CLIPSEARCH_RELIABILITY_UPDATE"

Row = dict[str, Any]


def update_mode() -> bool:
    return os.environ.get(UPDATE_ENV, "") == "1"


def _write(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_rows(name: str) -> list[Row]:
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["rows"])


def check_rows(name: str, rows: list[Row], *, title: str, columns: list[str]) -> None:
    """Assert the committed results equal `rows` (or rewrite them in update mode)."""
    payload = {"title": title, "columns": columns, "rows": rows}
    path = RESULTS_DIR / f"{name}.json"
    if update_mode():
        _write(path, payload)
        return
    hint = f"run `{UPDATE_ENV}=1 .venv/bin/pytest tests/reliability` then `.venv/bin/python tools/reliability_report.py`"
    assert path.is_file(), f"{path} is missing; {hint}"
    committed = json.loads(path.read_text(encoding="utf-8"))
    if committed != json.loads(json.dumps(payload, sort_keys=True)):
        old = {json.dumps(r, sort_keys=True) for r in committed.get("rows", [])}
        new = {json.dumps(r, sort_keys=True) for r in rows}
        raise AssertionError(
            f"results for '{name}' differ from {path.name}:\n  only committed: {sorted(old - new)}\n"
            f"  only observed:  {sorted(new - old)}\n{hint}"
        )


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Measured, non-deterministic figures (latency percentiles); written only in update mode."""
    if update_mode():
        _write(RESULTS_DIR / f"{name}.figures.json", figures)
