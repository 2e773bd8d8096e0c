"""Index lifecycle: rebuild orchestration, the rebuild scheduler, collection leases, version GC.

Composition-level code (may import storage and indexer). Nothing here imports torch, faiss or grpc
at module level; the rebuild steps that need them import them inside the functions that run them.
"""
