"""clipsearch.searcher: the gRPC search service, query routing, reranking and frame scoring."""
