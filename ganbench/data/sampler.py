"""Shuffled passes over a dataset in batches whose size may change between draws."""

from __future__ import annotations

from typing import Any

import torch


class EpochSampler:
    """Draws index batches from seeded permutations; a pass ends when a batch no longer fits.

    ``epoch`` counts passes as a float (completed passes plus the fraction of the current
    one), so a milestone at epoch 32 is reached after 32 full passes over the data.
    """

    def __init__(self, num_examples: int, seed: int) -> None:
        self.num_examples = num_examples
        self.generator = torch.Generator().manual_seed(seed)
        self.epochs_completed = 0
        self.images_seen = 0
        self._order = torch.randperm(num_examples, generator=self.generator)
        self._position = 0

    @property
    def epoch(self) -> float:
        return self.epochs_completed + self._position / self.num_examples

    def draw(self, batch_size: int) -> torch.Tensor:
        if batch_size > self.num_examples:
            raise ValueError(f"batch of {batch_size} from {self.num_examples} examples")
        if self._position + batch_size > self.num_examples:
            self._new_pass()
        indices = self._order[self._position : self._position + batch_size]
        self._position += batch_size
        self.images_seen += batch_size
        if self._position == self.num_examples:
            self._new_pass()
        return indices

    def _new_pass(self) -> None:
        self.epochs_completed += 1
        self._order = torch.randperm(self.num_examples, generator=self.generator)
        self._position = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "epochs_completed": self.epochs_completed,
            "images_seen": self.images_seen,
            "order": self._order.clone(),
            "position": self._position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epochs_completed = state["epochs_completed"]
        self.images_seen = state["images_seen"]
        self._order = state["order"].clone()
        self._position = state["position"]
