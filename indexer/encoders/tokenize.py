"""One tokenizer interface over open_clip's CLIP BPE and Hugging Face tokenizers.

Adds what open_clip's tokenizers lack: `count` (tokens a text needs, specials included, without
truncating) so the long-text policy can tell whether a text fits the context.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

from clipsearch.errors import ConfigError, ModelUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from clipsearch.indexer.encoders.resolve import ResolvedModel

log = logging.getLogger(__name__)

#: texts whose cleaning and token count are kept. A text query is cleaned three times (routing's
#: count, the long-text plan's count, the tokenizer itself) and counted twice, within one request,
#: and open_clip's cleaning (ftfy and all) is a large part of tokenizing a short text
#: (`bench/hotpath.py`, text prep). Small on purpose: it serves those repeats, not a cache of queries.
RECENT_TEXTS = 256

#: texts on which the backend's padded output must equal the Hugging Face call's before it replaces
#: it: a short one, one past any context (truncation), one with non-ASCII text and markup.
_PARITY_TEXTS = ("a red circle", "many small blue squares " * 120, "ein grünes Dreieck &amp; 三角形")


class TextTokenizer:
    """Callable like open_clip's tokenizers: texts -> (n, context_length) int64 token ids."""

    def __init__(self, impl: Any, context_length: int, is_hf: bool) -> None:
        self._impl = impl
        self.context_length = context_length
        self._is_hf = is_hf
        # A Hugging Face fast tokenizer keeps its padding/truncation settings on one shared object
        # and changes them per call: a `count` racing an encode in another thread (the server
        # routes and encodes concurrently) can leave the batch padded to the wrong length.
        self._lock = threading.Lock()
        self._counter = _counting_tokenizer(impl) if is_hf else None
        clean = getattr(impl, "clean_fn", None)
        # open_clip's tokenizers clean every text with `clean_fn` (ftfy, html unescaping, spaces):
        # the same function, remembered, serves their calls and `count`'s.
        self._clean = functools.lru_cache(maxsize=RECENT_TEXTS)(clean) if callable(clean) else None
        if self._clean is not None:
            impl.clean_fn = self._clean
        self._counted = functools.lru_cache(maxsize=RECENT_TEXTS)(self._count)
        # open_clip's `strip_sep_token`: the separator id its call turns into 0 (None: none is).
        hf = getattr(impl, "tokenizer", None)
        sep = getattr(hf, "sep_token_id", None)
        self._stripped_sep: int | None = sep if getattr(impl, "strip_sep_token", False) else None
        self._padder = self._checked_padder() if is_hf else None

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        if self._padder is not None:
            return self._padded(self._padder, texts)
        return self._call_impl(texts)

    def _call_impl(self, texts: Sequence[str]) -> torch.Tensor:
        if self._is_hf:
            with self._lock:
                return self._impl(list(texts), context_length=self.context_length)
        return self._impl(list(texts), context_length=self.context_length)

    def _padded(self, padder: Any, texts: Sequence[str]) -> torch.Tensor:
        """What the Hugging Face call returns, straight from a private Rust backend (`padder`)."""
        import numpy as np
        import torch

        cleaned = [self._clean(text) for text in texts] if self._clean is not None else list(texts)
        ids = torch.from_numpy(np.array([e.ids for e in padder.encode_batch(cleaned)], dtype=np.int64))
        if self._stripped_sep is not None:
            ids[ids == self._stripped_sep] = 0
        return ids.reshape(len(texts), self.context_length)

    def _checked_padder(self) -> Any | None:
        """The backend set up as open_clip's `HFTokenizer` calls transformers (truncate and pad to
        the context), or None where that cannot be shown to give the same ids.

        The transformers call layer (BatchEncoding, tensor conversion, settings changed per call
        under a lock) costs about as much as the tokenizing itself (`bench/hotpath.py`,
        tokenizing). The copy is used only when it matches that call on `_PARITY_TEXTS`: other
        tokenizer modes, a tokenizer without a pad token or any setting this does not mirror keep
        the transformers call.
        """
        impl, context = self._impl, self.context_length
        hf = getattr(impl, "tokenizer", None)
        if getattr(impl, "tokenizer_mode", "") or hf is None or hf.pad_token is None or context <= 0:
            return None
        padder = _backend_copy(impl)
        if padder is None:
            return None
        padder.enable_truncation(context, direction=hf.truncation_side)
        padder.enable_padding(
            direction=hf.padding_side,
            pad_id=hf.pad_token_id,
            pad_type_id=hf.pad_token_type_id,
            pad_token=hf.pad_token,
            length=context,
        )
        try:
            fast, called = self._padded(padder, _PARITY_TEXTS), self._call_impl(_PARITY_TEXTS)
            same = fast.shape == called.shape and bool((fast == called).all())
        except Exception as exc:  # a tokenizer the call layer rejects: keep it, and its errors
            log.debug("tokenizer %s: no fast path (%s)", type(hf).__name__, exc)
            return None
        if not same:
            log.debug(
                "tokenizer %s: the backend differs from the call layer; keeping the call", type(hf).__name__
            )
        return padder if same else None

    def count(self, text: str) -> int:
        """Tokens `text` needs including start/end tokens, as if the context were unlimited."""
        return self._counted(text)

    def _count(self, text: str) -> int:
        if not self._is_hf:  # open_clip's BPE cleans in `encode` (with the remembered clean_fn)
            return len(self._impl.encode(text)) + 2
        cleaned = self._clean(text) if self._clean is not None else text
        if self._counter is not None:
            return len(self._counter.encode(cleaned).ids)
        with self._lock:
            # verbose=False: counting past the model maximum is the point here, not a mistake.
            return len(self._impl.tokenizer(cleaned, truncation=False, verbose=False).input_ids)


def _backend_copy(impl: Any) -> Any | None:
    """A private copy of a fast tokenizer's Rust backend (None without one): its truncation and
    padding are set once, never by another call, so it needs no lock."""
    backend = getattr(getattr(impl, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_str(backend.to_str())


def _counting_tokenizer(impl: Any) -> Any | None:
    """The backend with truncation and padding off: routing counts the tokens of every text query,
    and this skips the transformers call layer (`bench/hotpath.py`, token count)."""
    counter = _backend_copy(impl)
    if counter is not None:
        counter.no_truncation()
        counter.no_padding()
    return counter


def build_tokenizer(resolved: ResolvedModel, context_length: int, language: str = "") -> TextTokenizer:
    """The tokenizer open_clip would use for this model, with an explicit context length."""
    text_cfg = dict(resolved.model_cfg.get("text_cfg") or {})
    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    if resolved.hf_tokenizer:
        from open_clip.tokenizer import HFTokenizer

        try:
            impl = HFTokenizer(
                resolved.hf_tokenizer,
                context_length=context_length,
                tokenizer_mode=text_cfg.get("tokenizer_mode"),
                **kwargs,
            )
        except Exception as exc:  # transformers raises OSError/ValueError/hub errors for missing files
            raise ModelUnavailable(
                f"tokenizer '{resolved.hf_tokenizer}' for model '{resolved.name}' cannot be loaded offline: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        if language:
            if not callable(getattr(impl.tokenizer, "set_src_lang_special_tokens", None)):
                raise ConfigError(
                    f"model '{resolved.name}': `language = '{language}'` is set but its tokenizer has no "
                    "source-language setting; leave `language` empty"
                )
            impl.set_language(language)
        return TextTokenizer(impl, context_length, is_hf=True)
    if resolved.zoo_name and "siglip" in resolved.zoo_name.lower():
        import open_clip

        try:
            impl = open_clip.get_tokenizer(resolved.zoo_name, context_length=context_length)
        except Exception as exc:  # SigLIP vocabularies are fetched from the network on first use
            raise ModelUnavailable(f"tokenizer for {resolved.zoo_name} cannot be loaded: {exc}") from None
        return TextTokenizer(impl, context_length, is_hf=True)
    from open_clip.tokenizer import SimpleTokenizer

    return TextTokenizer(
        SimpleTokenizer(context_length=context_length, **kwargs), context_length, is_hf=False
    )
