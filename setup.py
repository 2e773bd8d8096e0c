"""Package mapping: the top-level folders install under one namespace (DESIGN.md §3).

`indexer/` → `clipsearch.indexer`, `searcher/` → `clipsearch.searcher`, `storage/` → `clipsearch.storage`,
`proto/` → `clipsearch.proto`; `clipsearch/` is the composition root. Subpackages are found
automatically so that adding one needs no edit here.
"""

from setuptools import find_packages, setup

ROOTS = {
    "clipsearch": "clipsearch",
    "clipsearch.indexer": "indexer",
    "clipsearch.searcher": "searcher",
    "clipsearch.storage": "storage",
    "clipsearch.proto": "proto",
}

packages: list[str] = []
for package, folder in ROOTS.items():
    packages.append(package)
    packages.extend(f"{package}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=ROOTS)
