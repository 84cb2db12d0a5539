"""Base class for every typed config section: immutable, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A validated, immutable piece of a suite (a run, a dataset, a model ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
