"""Stopping criteria so one runaway scene cannot stall the stream: a deadline for the whole generate call, and a
repetition guard that ends a sequence whose last n tokens keep repeating."""
from __future__ import annotations

import time

import torch
from transformers import StoppingCriteria


class Deadline(StoppingCriteria):
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()
        self.hit = False

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        self.hit = time.monotonic() - self.start >= self.seconds
        return torch.full((input_ids.shape[0],), self.hit, dtype=torch.bool, device=input_ids.device)


class RepetitionGuard(StoppingCriteria):
    """True for a row whose last `n` tokens are the same n-gram `times` times in a row (n from 1 to `n`)."""

    def __init__(self, n: int, times: int, prompt_length: int):
        self.n, self.times, self.prompt_length = n, times, prompt_length
        self.stopped = 0

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        out = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        generated = input_ids[:, self.prompt_length:]
        for row in range(generated.shape[0]):
            seq = generated[row]
            for size in range(1, self.n + 1):
                span = size * self.times
                if seq.shape[0] < span:
                    break
                tail = seq[-span:].view(self.times, size)
                if bool((tail == tail[0]).all()):
                    out[row] = True
                    break
        self.stopped = int(out.sum())
        return out
