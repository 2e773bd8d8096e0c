"""clipsearch: cross-modal retrieval on CLIP-family models.

Kept import-light on purpose: `clipsearch --help` must not pay for torch, faiss or grpc.
"""

__version__ = "0.1.0"
