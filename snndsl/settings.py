"""The rule settings as the compiler holds them: snndsl_runtime's models (the one validator,
shared with the model files' `--set`), each with the span of its `train` block."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from snndsl_runtime import settings as runtime
from snndsl_runtime.settings import (  # noqa: F401  (the compiler reads them from here)
    SURROGATE_PARAM, Optimizer, Surrogate, applies_to, is_structural, problems,
)

from .diagnostics import Span


class ECSettings(runtime.ECSettings):
    __doc__ = runtime.ECSettings.__doc__
    span: Span | None = None


class ESSettings(runtime.ESSettings):
    __doc__ = runtime.ESSettings.__doc__
    span: Span | None = None


class StopSettings(runtime.StopSettings):
    __doc__ = runtime.StopSettings.__doc__
    span: Span | None = None


class SurrogateSettings(runtime.SurrogateSettings):
    __doc__ = runtime.SurrogateSettings.__doc__
    span: Span | None = None


TrainSettings = Annotated[
    Union[ECSettings, ESSettings, StopSettings, SurrogateSettings], Field(discriminator="rule")
]

RULES = {"ec": ECSettings, "es": ESSettings, "stop": StopSettings, "surrogate": SurrogateSettings}
