"""Stage 2 of search: reranking and fine-grained video frame scoring.

One module per concern, all pure numpy over plain values (no protobuf, no SQLAlchemy):

- `fusion`      — per-list normalisation and reciprocal-rank fusion (RRF, k = 60).
- `exact`       — re-score first-stage candidates with their stored full-precision/fp16 vectors.
- `cross_space` — re-score candidates in a second, stronger space (stored or re-encoded vectors, cached).
- `frames`      — CLIPRerank frame scoring: S_frame = max_i cos(q, f_i), fused score, segment, top frames.
- `frame_first` — search the frame index directly, max-pool frames per video, merge with holistic hits.
- `stages`      — the above as pipeline stages for `clipsearch.searcher.engine`.

Formulas and defaults: docs/ranking.md.
"""
