"""clipsearch.indexer: decode sources, encode with CLIP spaces, write vectors, build FAISS indices."""
