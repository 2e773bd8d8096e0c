"""Decoders: bytes on disk → RGB images, sampled video frames with timestamps, text passages.

Every failure is a `DecodeFailed` with a typed reason (see `clipsearch.indexer.failures`).
"""
