"""A repetition guard, so one runaway scene cannot stall the stream: it ends a sequence whose last n-gram keeps
repeating. It is a transformers StoppingCriteria (run after every decoding step). It is ours because no library
piece stops on repetition: transformers' `no_repeat_ngram_size` and `repetition_penalty` are logits processors that
push the model off a repeat (and change the text of captions that legitimately repeat), they do not end the
sequence. The generation deadline is transformers' own (generate's `max_time`, i.e. MaxTimeCriteria; see hf.py)."""
from __future__ import annotations

import torch
from transformers import StoppingCriteria


def repeating(seq: torch.Tensor, n: int, times: int) -> torch.BoolTensor:
    """Per row of `seq` [rows, length]: do its last `times` n-grams (for some n in 1..n) all match?"""
    out = torch.zeros(seq.shape[0], dtype=torch.bool, device=seq.device)
    for size in range(1, n + 1):
        span = size * times
        if seq.shape[1] < span:
            break
        tail = seq[:, -span:].reshape(seq.shape[0], times, size)
        out |= (tail == tail[:, :1]).all(dim=2).all(dim=1)
    return out


class RepetitionGuard(StoppingCriteria):
    """Stops a row whose newly generated tokens end in the same n-gram `times` times in a row (n from 1 to `n`).
    Rows that already ended (their last token is padding or end-of-sequence) are not counted."""

    def __init__(self, n: int, times: int, finished_ids: tuple[int, ...] = ()):
        self.n, self.times = n, times
        self.finished_ids = torch.tensor(sorted({i for i in finished_ids if i is not None}), dtype=torch.long)
        self.prompt_length: int | None = None
        self.rows: set[int] = set()  # rows (sequences, or beams under beam search) this guard has stopped

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        if self.prompt_length is None:  # first call: one token has been generated after the prompt
            self.prompt_length = input_ids.shape[1] - 1
        hit = repeating(input_ids[:, self.prompt_length:], self.n, self.times)
        live = ~torch.isin(input_ids[:, -1], self.finished_ids.to(input_ids.device))
        self.rows.update((hit & live).nonzero().flatten().tolist())
        return hit
