"""Leave a model and torch's RNG exactly as they were: the context every probe runs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def preserved(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Snapshot parameters, buffers, every module's train/eval flag and the RNG (CPU and
    CUDA); yields a function that restores them (also run on exit)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = [(m, m.training) for m in model.modules()]
    rng = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def restore() -> None:
        with torch.no_grad():
            model.load_state_dict(state)
        for m, flag in flags:
            m.training = flag
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    try:
        yield restore
    finally:
        restore()
