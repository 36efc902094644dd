"""The BERT directory (``chinese-roberta-wwm-ext-large`` layout) from a small transformers config, built locally.

Upstream loads it with ``AutoTokenizer.from_pretrained`` and ``AutoModelForMaskedLM.from_pretrained`` and, for
Chinese text, concatenates ``hidden_states[-3]`` per character: the width must stay 1024 (the text-to-semantic
model's ``bert_proj`` expects it) and there must be at least 2 layers; depth and feed-forward width are reduced.
``full_size`` writes chinese-roberta-wwm-ext-large's real size (24 layers, 4096-wide feed-forward: 326 M
parameters) for benchmarks, where its memory counts. The vocabulary is written here as the real one is organised (specials, ASCII, full-width punctuation, one token per
CJK Unified Ideograph), so a Chinese character is one token and a word-to-phone alignment holds.
"""

from __future__ import annotations

from pathlib import Path

import torch

SEED = 5
SPECIALS = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = "，。！？、：；“”‘’（）《》【】…—～·"


def vocabulary() -> list[str]:
    """Specials, printable ASCII, Chinese punctuation, then U+4E00..U+9FFF (about 21 k tokens, as the real one)."""
    ascii_tokens = [chr(c) for c in range(33, 127)]
    cjk = [chr(c) for c in range(0x4E00, 0xA000)]
    return SPECIALS + ascii_tokens + list(PUNCTUATION) + cjk


def write_bert(path: Path, layers: int = 2, seed: int = SEED, full_size: bool = False) -> Path:
    """Write config.json, the weights and the tokenizer files into directory ``path`` (``full_size``: 24 layers,
    feed-forward 4096 wide, whatever ``layers`` says)."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True,
                                  tokenize_chinese_chars=True)
    tokenizer.save_pretrained(path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=1024, num_hidden_layers=24 if full_size else layers,
                        num_attention_heads=16, intermediate_size=4096 if full_size else 1024, max_position_embeddings=512, type_vocab_size=2,
                        directionality="bidi", pooler_type="first_token_transform")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForMaskedLM(config).eval()
    model.save_pretrained(path)
    return path
