"""Typed refusals. Each message is one sentence an operator can act on; the CLI prints it as
``error: …`` and exits 1 instead of showing a traceback."""

from __future__ import annotations


class ModelError(ValueError):
    """Base class of every refusal raised by the ``models`` package."""


class TrainingDataError(ModelError):
    """The training table cannot be used as given (checked before any training starts)."""


class MissingTargetError(TrainingDataError):
    """The target column is absent or has no labelled rows."""


class ConstantTargetError(TrainingDataError):
    """The target has one class only (overall or inside one split part)."""


class UnknownFeatureError(TrainingDataError):
    """A feature is neither in the catalog nor declared in a column mapping."""


class TooFewRowsError(TrainingDataError):
    """Fewer labelled rows (or bads/goods) than the stated minimum."""


class BadColumnError(TrainingDataError):
    """A column is missing or its values do not fit the declared dtype/categories."""


class ConfigError(ModelError):
    """A training or registry option is invalid (e.g. an unknown monotone method)."""


class RegistryError(ModelError):
    """A registry operation cannot proceed (unknown version or alias, nothing to roll back)."""


class CorruptVersionError(RegistryError):
    """A version folder is incomplete or its files do not match its manifest."""


class PromotionRefused(RegistryError):
    """Promotion would put a worse or unservable model live."""


class ScoringInputError(ModelError):
    """A feature value given for scoring does not fit the model's feature definition."""
