"""clipsearch.storage: SQL metadata, vector store and index versions. Never imports torch or grpc."""
