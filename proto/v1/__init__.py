"""Generated gRPC stubs for clipsearch.v1 (see tools/gen_proto.py)."""
