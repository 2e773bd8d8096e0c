"""clipsearch.proto: the wire protocol (`clipsearch.v1`) and its generated stubs."""
