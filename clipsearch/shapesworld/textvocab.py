"""Small tokenizers trained on the generated captions (instead of the 49,408-token CLIP BPE).

`word_tokenizer`: word-level, for the built-in open_clip text transformer (shapes-base/-long);
specials `<pad>`=0, `<s>`=1, `</s>`=2 (the eos the text tower pools on), `<unk>`=3.
`unigram_tokenizer`: XLM-R style (Unigram, Metaspace; `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3,
`<mask>`=4) for the HF text tower of shapes-multilingual.
Both are wrapped in `PreTrainedTokenizerFast` so open_clip's `HFTokenizer` loads them from disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WORD_SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
UNIGRAM_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def word_tokenizer(texts: Iterable[str], context_length: int) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts, trainers.WordLevelTrainer(special_tokens=list(WORD_SPECIALS), min_frequency=1)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=context_length,
    )


def unigram_tokenizer(texts: Iterable[str], context_length: int, vocab_size: int = 1200) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=list(UNIGRAM_SPECIALS), unk_token="<unk>"
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=context_length,
    )
