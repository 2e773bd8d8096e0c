"""Vector store: the durable vectors of one space, keyed by stable int64 row ids (numpy only).

Layout of a store directory:

    store.json            {"format": 1, "dim": D, "dtype": "float16"|"float32"}   (written once)
    chunks.json           {"chunks": ["c00000001.vec", …], "next_id": N}           (atomic replace)
    c00000001.vec         sealed chunk: header, ids int64[n] (ascending), vectors dtype[n, D]
    tail.log              append-only records: id int64 | vector dtype[D] | crc32 uint32
    tombstones.log        append-only int64 ids of deleted rows
    LOCK                  flock'd by the one writer

Writes: `append` assigns ids next_id…, writes records to the tail and fsyncs before returning, so
a caller that records those ids in SQL afterwards never points at a vector that is not on disk.
When the tail holds `chunk_rows` records it is sealed: the chunk file is written to a temp name,
fsynced, renamed into place, then `chunks.json` is replaced the same way (the commit point), then the
tail is emptied. Open repairs every crash window: a torn or corrupt tail record (short or bad CRC)
and everything after it is truncated; tail records already present in a sealed chunk are dropped;
chunk files not named by `chunks.json` are removed.

Ids stay stable forever: compaction rewrites chunks without deleted rows but keeps the ids of the
rest, so SQL rows and FAISS labels need no remapping, and a deleted id is never reused.

Reads are memory-mapped; a reader process sees rows appended later after `refresh()`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from clipsearch.errors import Conflict, DataCorrupt, InvalidRequest, NotFound
from clipsearch.storage.durable import fsync_dir, write_atomic

log = logging.getLogger(__name__)

VectorDtype = Literal["float16", "float32"]
FORMAT = 1
CHUNK_MAGIC = b"CSVCHNK1"
# magic(8) + dim(u32) + dtype code(u32) + count(u64) + reserved(8) = 32 bytes; data stays 8-aligned.
_HEADER = np.dtype([("magic", "S8"), ("dim", "<u4"), ("dtype", "<u4"), ("count", "<u8"), ("reserved", "<u8")])
_DTYPE_CODES: dict[str, int] = {"float16": 1, "float32": 2}


class _Chunk:
    """A sealed chunk, memory-mapped read-only."""

    __slots__ = ("count", "ids", "name", "vectors")

    def __init__(self, path: Path, dim: int, dtype: np.dtype[Any]) -> None:
        self.name = path.name
        header = np.fromfile(path, dtype=_HEADER, count=1)
        if header.size != 1 or header["magic"][0] != CHUNK_MAGIC:
            raise DataCorrupt(f"vector chunk {path} has no valid header")
        count = int(header["count"][0])
        if int(header["dim"][0]) != dim or int(header["dtype"][0]) != _DTYPE_CODES[dtype.name]:
            raise DataCorrupt(f"vector chunk {path} does not match the store's dim/dtype")
        expected = _HEADER.itemsize + count * 8 + count * dim * dtype.itemsize
        if path.stat().st_size != expected:
            raise DataCorrupt(f"vector chunk {path} has size {path.stat().st_size}, expected {expected}")
        self.count = count
        self.ids: np.ndarray
        self.vectors: np.ndarray
        if count:
            self.ids = np.memmap(path, dtype="<i8", mode="r", offset=_HEADER.itemsize, shape=(count,))
            self.vectors = np.memmap(
                path, dtype=dtype, mode="r", offset=_HEADER.itemsize + count * 8, shape=(count, dim)
            )
        else:
            self.ids = np.zeros(0, dtype="<i8")
            self.vectors = np.zeros((0, dim), dtype=dtype)


class VectorStore:
    """Append-only, chunked, memory-mapped vectors of one space. One writer, any number of readers."""

    def __init__(self, path: Path, *, writable: bool, chunk_rows: int) -> None:
        self.path = path
        self.writable = writable
        self.chunk_rows = chunk_rows
        meta = json.loads((path / "store.json").read_text())
        if meta.get("format") != FORMAT or meta.get("dtype") not in _DTYPE_CODES:
            raise DataCorrupt(f"{path / 'store.json'}: unknown vector store format {meta!r}")
        self.dim = int(meta["dim"])
        self.dtype: np.dtype[Any] = np.dtype(meta["dtype"])
        self._record = np.dtype([("id", "<i8"), ("vec", self.dtype, (self.dim,)), ("crc", "<u4")])
        self._lock_fh: Any = None
        if writable:
            self._lock_fh = open(path / "LOCK", "a+b")  # noqa: SIM115 - held for the store's lifetime
            try:
                fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_fh.close()
                raise Conflict(f"vector store {path} is open for writing by another process") from None
        self._tail_fh: Any = None
        self._load()

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(
        cls, path: str | Path, dim: int, dtype: VectorDtype = "float16", *, chunk_rows: int = 65_536
    ) -> VectorStore:
        """Create an empty store (or open it if it exists with the same dim and dtype)."""
        path = Path(path)
        if dim <= 0 or dtype not in _DTYPE_CODES:
            raise InvalidRequest(f"vector store needs dim > 0 and dtype float16|float32 (got {dim}, {dtype})")
        if (path / "store.json").exists():
            store = cls.open(path, writable=True, chunk_rows=chunk_rows)
            if store.dim != dim or store.dtype.name != dtype:
                store.close()
                raise Conflict(
                    f"vector store {path} holds dim {store.dim} {store.dtype.name}, not {dim} {dtype}"
                )
            return store
        path.mkdir(parents=True, exist_ok=True)
        write_atomic(path / "chunks.json", json.dumps({"chunks": [], "next_id": 1}).encode())
        write_atomic(path / "store.json", json.dumps({"format": FORMAT, "dim": dim, "dtype": dtype}).encode())
        return cls(path, writable=True, chunk_rows=chunk_rows)

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False, chunk_rows: int = 65_536) -> VectorStore:
        path = Path(path)
        if not (path / "store.json").exists():
            raise NotFound(f"no vector store at {path}")
        if chunk_rows < 1:
            raise InvalidRequest("chunk_rows must be >= 1")
        return cls(path, writable=writable, chunk_rows=chunk_rows)

    def _load(self) -> None:
        manifest = json.loads((self.path / "chunks.json").read_text())
        self._chunks = [_Chunk(self.path / name, self.dim, self.dtype) for name in manifest["chunks"]]
        self._next_id = int(manifest["next_id"])
        sealed_max = max((int(c.ids[-1]) for c in self._chunks if c.count), default=0)
        if self.writable:
            self._remove_orphans(set(manifest["chunks"]))
        tail = self._read_tail(repair=self.writable)
        # Records already sealed (crash between the chunks.json commit and the tail reset) are dropped.
        tail = tail[tail["id"] > sealed_max]
        if self.writable and (self.path / "tail.log").exists():
            if tail.size != self._tail_rows_on_disk:
                self._rewrite_tail(tail)
            self._tail_fh = open(self.path / "tail.log", "ab")  # noqa: SIM115
        self._tail_parts = [tail]
        self._tail_rows = int(tail.size)
        if tail.size:
            self._next_id = max(self._next_id, int(tail["id"][-1]) + 1)
        self._next_id = max(self._next_id, sealed_max + 1)
        self._ids_cache: np.ndarray | None = None
        self._rebuild_lookup()
        # Tombstones of rows compacted away (crash before the tombstone file was reset) mean nothing.
        tombstones = np.fromiter(self._read_tombstones(repair=self.writable), dtype=np.int64)
        self._deleted = set(tombstones[self._locate(tombstones) >= 0].tolist())

    def _remove_orphans(self, listed: set[str]) -> None:
        for entry in self.path.iterdir():
            if (entry.suffix == ".vec" and entry.name not in listed) or entry.name.endswith(".tmp"):
                log.warning("vector store %s: removing unfinished file %s", self.path, entry.name)
                entry.unlink()

    def _read_tail(self, *, repair: bool) -> np.ndarray:
        path = self.path / "tail.log"
        if not path.exists():
            if repair:
                path.touch()
            self._tail_rows_on_disk = 0
            return np.zeros(0, dtype=self._record)
        raw = path.read_bytes()
        whole = len(raw) // self._record.itemsize
        records = np.frombuffer(raw, dtype=self._record, count=whole).copy()
        good = self._valid_prefix(records)
        if good < whole or len(raw) % self._record.itemsize:
            log.warning(
                "vector store %s: torn tail (%d bytes, %d valid records); truncating",
                self.path,
                len(raw),
                good,
            )
            if repair:
                with open(path, "r+b") as fh:
                    fh.truncate(good * self._record.itemsize)
                    fh.flush()
                    os.fsync(fh.fileno())
        records = records[:good]
        self._tail_rows_on_disk = good
        return records

    def _valid_prefix(self, records: np.ndarray) -> int:
        """Number of leading records whose CRC matches and whose ids strictly increase."""
        previous = 0
        for i in range(records.size):
            rid = int(records["id"][i])
            if rid <= previous or zlib.crc32(records[i : i + 1].tobytes()[:-4]) != int(records["crc"][i]):
                return i
            previous = rid
        return int(records.size)

    def _rewrite_tail(self, tail: np.ndarray) -> None:
        write_atomic(self.path / "tail.log", tail.tobytes())
        self._tail_rows_on_disk = int(tail.size)

    def _read_tombstones(self, *, repair: bool) -> set[int]:
        path = self.path / "tombstones.log"
        if not path.exists():
            return set()
        raw = path.read_bytes()
        usable = len(raw) - len(raw) % 8
        if usable != len(raw) and repair:
            with open(path, "r+b") as fh:
                fh.truncate(usable)
                os.fsync(fh.fileno())
        return set(np.frombuffer(raw[:usable], dtype="<i8").tolist())

    @property
    def _tail(self) -> np.ndarray:
        # Appends add parts; joining them only when read keeps appends O(batch), not O(tail).
        if len(self._tail_parts) != 1:
            self._tail_parts = [np.concatenate(self._tail_parts)] if self._tail_parts else []
            if not self._tail_parts:
                self._tail_parts = [np.zeros(0, dtype=self._record)]
        return self._tail_parts[0]

    @property
    def _all_ids(self) -> np.ndarray:
        # Ids ascend across chunks and then the tail, so one sorted array locates any id.
        if self._ids_cache is None:
            parts = [np.asarray(c.ids) for c in self._chunks if c.count] + [self._tail["id"]]
            self._ids_cache = np.concatenate(parts).astype(np.int64)
        return self._ids_cache

    def _rebuild_lookup(self) -> None:
        self._ids_cache = None
        bounds = [0]
        for c in self._chunks:
            bounds.append(bounds[-1] + c.count)
        self._bounds = np.array(bounds, dtype=np.int64)

    def refresh(self) -> None:
        """Reader: pick up rows sealed, appended or deleted by the writer since opening."""
        if self.writable:
            return
        self._load()

    def close(self) -> None:
        if self._tail_fh is not None:
            self._tail_fh.close()
            self._tail_fh = None
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing
    def _require_writable(self) -> None:
        if not self.writable or self._tail_fh is None:
            raise Conflict(f"vector store {self.path} is open read-only")

    def append(self, vectors: np.ndarray) -> np.ndarray:
        """Durably append vectors (n, dim); returns their new row ids (int64, ascending)."""
        self._require_writable()
        array = np.asarray(vectors)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise InvalidRequest(f"expected vectors of shape (n, {self.dim}), got {array.shape}")
        if not np.isfinite(array).all():
            raise InvalidRequest("vectors contain NaN or infinity")
        n = array.shape[0]
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        if n == 0:
            return ids
        records = np.zeros(n, dtype=self._record)
        records["id"] = ids
        records["vec"] = array.astype(self.dtype)
        raw = records.tobytes()
        size = self._record.itemsize
        crcs = [zlib.crc32(raw[i * size : (i + 1) * size - 4]) for i in range(n)]
        records["crc"] = np.array(crcs, dtype="<u4")
        self._tail_fh.write(records.tobytes())
        self._tail_fh.flush()
        os.fsync(self._tail_fh.fileno())
        self._tail_rows_on_disk += n
        self._tail_parts.append(records)
        self._tail_rows += n
        self._next_id += n
        self._ids_cache = None
        if self._tail_rows >= self.chunk_rows:
            self.seal()
        return ids

    def seal(self) -> None:
        """Turn the tail into a sealed chunk (no-op when the tail is empty)."""
        self._require_writable()
        if self._tail.size == 0:
            return
        name = self._new_chunk_name()
        self._write_chunk(name, self._tail["id"], self._tail["vec"])
        self._commit_chunks([c.name for c in self._chunks] + [name])
        self._rewrite_tail(self._tail[:0])
        self._tail_fh.close()
        self._tail_fh = open(self.path / "tail.log", "ab")  # noqa: SIM115
        self._chunks.append(_Chunk(self.path / name, self.dim, self.dtype))
        self._tail_parts = [self._tail[:0]]
        self._tail_rows = 0
        self._rebuild_lookup()

    def _new_chunk_name(self) -> str:
        numbers = [int(c.name[1:9]) for c in self._chunks]
        return f"c{max(numbers, default=0) + 1:08d}.vec"

    def _write_chunk(self, name: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        header = np.zeros(1, dtype=_HEADER)
        header["magic"] = CHUNK_MAGIC
        header["dim"] = self.dim
        header["dtype"] = _DTYPE_CODES[self.dtype.name]
        header["count"] = len(ids)
        tmp = self.path / (name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(header.tobytes())
            fh.write(np.ascontiguousarray(ids, dtype="<i8").tobytes())
            fh.write(np.ascontiguousarray(vectors, dtype=self.dtype).tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)
        fsync_dir(self.path)

    def _commit_chunks(self, names: list[str]) -> None:
        payload = {"chunks": names, "next_id": self._next_id}
        write_atomic(self.path / "chunks.json", json.dumps(payload).encode())

    def delete(self, ids: Iterable[int]) -> int:
        """Tombstone rows (durably); returns how many were live. Unknown ids are ignored."""
        self._require_writable()
        wanted = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        present = wanted[self._locate(wanted) >= 0]
        new = np.array([i for i in present.tolist() if i not in self._deleted], dtype="<i8")
        if new.size:
            with open(self.path / "tombstones.log", "ab") as fh:
                fh.write(new.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            self._deleted.update(new.tolist())
        return int(new.size)

    def compact(self, live_ids: Iterable[int] | None = None) -> int:
        """Rewrite the store without deleted rows (and, given `live_ids`, without rows not in it).

        Ids of the remaining rows do not change. Returns the number of rows removed. Readers that
        have the old chunks mapped keep reading them until they `refresh()`.
        """
        self._require_writable()
        self.seal()
        keep_mask_parts = []
        live = (
            None if live_ids is None else np.unique(np.fromiter((int(i) for i in live_ids), dtype=np.int64))
        )
        deleted = np.array(sorted(self._deleted), dtype=np.int64)
        for chunk in self._chunks:
            ids = np.asarray(chunk.ids)
            keep = ~np.isin(ids, deleted)
            if live is not None:
                keep &= np.isin(ids, live)
            keep_mask_parts.append(keep)
        removed = int(sum((~k).sum() for k in keep_mask_parts))
        if removed == 0 and not self._deleted:
            return 0
        old_names = [c.name for c in self._chunks]
        next_number = max((int(n[1:9]) for n in old_names), default=0) + 1
        new_names: list[str] = []
        ids_out = (
            np.concatenate([np.asarray(c.ids)[k] for c, k in zip(self._chunks, keep_mask_parts, strict=True)])
            if self._chunks
            else np.zeros(0, np.int64)
        )
        vec_out = (
            np.concatenate(
                [np.asarray(c.vectors)[k] for c, k in zip(self._chunks, keep_mask_parts, strict=True)]
            )
            if self._chunks
            else np.zeros((0, self.dim), self.dtype)
        )
        for start in range(0, len(ids_out), self.chunk_rows):
            name = f"c{next_number:08d}.vec"
            next_number += 1
            self._write_chunk(
                name, ids_out[start : start + self.chunk_rows], vec_out[start : start + self.chunk_rows]
            )
            new_names.append(name)
        self._commit_chunks(new_names)  # the commit point: from here on the new chunks are the store
        self._chunks = [_Chunk(self.path / name, self.dim, self.dtype) for name in new_names]
        for name in old_names:
            (self.path / name).unlink(missing_ok=True)
        # Tombstones of rows that no longer exist are dropped; the file is rewritten atomically.
        write_atomic(self.path / "tombstones.log", b"")
        self._deleted = set()
        self._rebuild_lookup()
        log.info("vector store %s: compacted, %d rows removed, %d remain", self.path, removed, len(ids_out))
        return removed

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Live rows (tombstoned rows excluded)."""
        return int(self._bounds[-1]) + self._tail_rows - len(self._deleted)

    @property
    def next_id(self) -> int:
        return self._next_id

    def _locate(self, ids: np.ndarray) -> np.ndarray:
        """Positions of ids in the global order, -1 where absent."""
        pos = np.searchsorted(self._all_ids, ids)
        pos = np.minimum(pos, max(self._all_ids.size - 1, 0))
        found = self._all_ids.size > 0
        hit = (self._all_ids[pos] == ids) if found else np.zeros(ids.shape, dtype=bool)
        return np.where(hit, pos, -1)

    def contains(self, ids: Iterable[int]) -> np.ndarray:
        """Boolean mask: which ids are stored and not deleted."""
        array = np.fromiter((int(i) for i in ids), dtype=np.int64)
        mask = self._locate(array) >= 0
        if self._deleted:
            mask &= ~np.isin(array, np.fromiter(self._deleted, dtype=np.int64))
        return mask

    def get(self, ids: Iterable[int], *, allow_missing: bool = False) -> np.ndarray:
        """Vectors (float32, shape (n, dim)) for ids in the given order.

        A deleted or unknown id raises `NotFound`, or with `allow_missing` yields a row of NaN.
        """
        array = np.fromiter((int(i) for i in ids), dtype=np.int64)
        out = np.full((array.size, self.dim), np.nan, dtype=np.float32)
        pos = self._locate(array)
        if self._deleted:
            pos[np.isin(array, np.fromiter(self._deleted, dtype=np.int64))] = -1
        missing = pos < 0
        if missing.any() and not allow_missing:
            raise NotFound(f"vector rows not in store {self.path.name}: {array[missing][:10].tolist()}")
        sealed_total = int(self._bounds[-1])
        which = np.searchsorted(self._bounds, pos, side="right") - 1
        for k, chunk in enumerate(self._chunks):
            sel = np.nonzero((~missing) & (which == k) & (pos < sealed_total))[0]
            if sel.size:
                out[sel] = chunk.vectors[pos[sel] - self._bounds[k]]
        sel = np.nonzero((~missing) & (pos >= sealed_total))[0]
        if sel.size:
            out[sel] = self._tail["vec"][pos[sel] - sealed_total]
        return out

    def iter_all(self, batch_rows: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids int64, vectors float32) batches of every live row, in id order."""
        deleted = np.fromiter(self._deleted, dtype=np.int64) if self._deleted else None
        sources: list[tuple[np.ndarray, np.ndarray]] = [
            (np.asarray(c.ids), c.vectors) for c in self._chunks if c.count
        ]
        if self._tail.size:
            sources.append((self._tail["id"], self._tail["vec"]))
        for ids, vectors in sources:
            for start in range(0, len(ids), batch_rows):
                batch_ids = np.asarray(ids[start : start + batch_rows], dtype=np.int64)
                batch = np.asarray(vectors[start : start + batch_rows], dtype=np.float32)
                if deleted is not None:
                    keep = ~np.isin(batch_ids, deleted)
                    batch_ids, batch = batch_ids[keep], batch[keep]
                if batch_ids.size:
                    yield batch_ids, batch

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live row at once: (ids int64 (n,), vectors float32 (n, dim))."""
        parts = list(self.iter_all())
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
