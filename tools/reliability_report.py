"""Render the generated part of docs/reliability.md from tests/reliability/results/*.json.

    .venv/bin/python tools/reliability_report.py           # rewrite the generated section
    .venv/bin/python tools/reliability_report.py --check   # exit 1 if the committed report is stale

The results are written by the reliability tests in update mode (`CLIPSEARCH_RELIABILITY_UPDATE=1`)
and checked by them otherwise; `tests/reliability/test_report.py` checks this rendering, so the report
cannot drift from what the tests observe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "tests" / "reliability" / "results"
REPORT = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- BEGIN GENERATED: tools/reliability_report.py (do not edit by hand) -->"
END = "<!-- END GENERATED -->"
#: tables appear in this order; result files not named here follow alphabetically.
ORDER = (
    "auth",
    "client_security",
    "badmedia",
    "indexer_badmedia",
    "fuzz",
    "limits",
    "injection",
    "fault_kill_indexer",
    "fault_kill_rebuild",
    "fault_kill_server",
    "fault_torn_tail",
    "fault_full_disk",
    "fault_sqlite_locked",
    "fault_postgres_unreachable",
    "load",
)


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(payload: dict[str, Any]) -> str:
    columns: list[str] = payload["columns"]
    lines = [f"### {payload['title']}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in payload["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    passed = sum(1 for row in payload["rows"] if str(row.get("result", "")).startswith("pass"))
    lines += ["", f"{passed} of {len(payload['rows'])} rows pass."]
    return "\n".join(lines)


def render_figures(name: str, figures: dict[str, Any]) -> str:
    lines = [f"Measured figures ({name}, last update run):", ""]
    lines += [f"- {key}: {_cell(value)}" for key, value in sorted(figures.items())]
    return "\n".join(lines)


def result_names(results_dir: Path = RESULTS_DIR) -> list[str]:
    names = {
        p.name[: -len(".json")] for p in results_dir.glob("*.json") if not p.name.endswith(".figures.json")
    }
    return [n for n in ORDER if n in names] + sorted(names - set(ORDER))


def render_generated(results_dir: Path = RESULTS_DIR) -> str:
    parts = [BEGIN, ""]
    for name in result_names(results_dir):
        payload = json.loads((results_dir / f"{name}.json").read_text(encoding="utf-8"))
        parts += [render_table(payload), ""]
        figures_path = results_dir / f"{name}.figures.json"
        if figures_path.is_file():
            parts += [render_figures(name, json.loads(figures_path.read_text(encoding="utf-8"))), ""]
    parts.append(END)
    return "\n".join(parts)


def render_report(current: str, results_dir: Path = RESULTS_DIR) -> str:
    """`current` with its generated section replaced (appended when it has none)."""
    generated = render_generated(results_dir)
    if BEGIN in current and END in current:
        head, _, rest = current.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + generated + tail
    return current.rstrip("\n") + "\n\n" + generated + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/reliability.md is stale")
    args = parser.parse_args(argv)
    current = REPORT.read_text(encoding="utf-8") if REPORT.is_file() else "# Reliability report\n"
    wanted = render_report(current)
    if args.check:
        if wanted != current:
            print(f"{REPORT} is stale: run .venv/bin/python tools/reliability_report.py", file=sys.stderr)
            return 1
        return 0
    REPORT.write_text(wanted, encoding="utf-8")
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
