"""Generate the Python gRPC stubs for proto/clipsearch/v1/*.proto into proto/v1/ (package clipsearch.proto.v1).

protoc writes imports as `from clipsearch.v1 import x_pb2`; we rewrite them to the installed namespace.
`--check` regenerates into a temporary folder and fails when the committed stubs differ (CI runs this).
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
SOURCES = PROTO_ROOT / "clipsearch" / "v1"
TARGET = PROTO_ROOT / "v1"
IMPORT = re.compile(r"^from clipsearch\.v1 import", re.MULTILINE)


def generate(out: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(SOURCES.glob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    if not protos:
        (out / "__init__.py").write_text(
            '"""Generated gRPC stubs for clipsearch.v1 (see tools/gen_proto.py)."""\n'
        )
        return []
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(p.relative_to(PROTO_ROOT)) for p in protos],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        produced = Path(tmp) / "clipsearch" / "v1"
        for path in sorted(produced.iterdir()):
            text = IMPORT.sub("from clipsearch.proto.v1 import", path.read_text())
            (out / path.name).write_text(text)
    (out / "__init__.py").write_text(
        '"""Generated gRPC stubs for clipsearch.v1 (see tools/gen_proto.py)."""\n'
    )
    return sorted(out.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    if not args.check:
        if TARGET.exists():
            shutil.rmtree(TARGET)
        generate(TARGET)
        print(f"stubs written to {TARGET.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "v1"
        generate(fresh)
        names = {p.name for p in fresh.iterdir()}
        committed = {p.name for p in TARGET.iterdir() if p.is_file()} if TARGET.exists() else set()
        committed.discard("__pycache__")
        stale = sorted(names ^ committed) + sorted(
            n for n in names & committed if not filecmp.cmp(fresh / n, TARGET / n, shallow=False)
        )
        if stale:
            print(
                f"generated stubs are stale ({', '.join(stale)}); run `make proto` and commit",
                file=sys.stderr,
            )
            return 1
    print("generated stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
