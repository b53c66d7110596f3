"""The rule settings as the compiler holds them: snndsl_runtime's models (the one validator,
shared with the model files' `--set`), each with the span of its `train` block."""

from __future__ import annotations

from typing import Annotated, Optional, Union

from pydantic import Field, create_model

from snndsl_runtime import settings as runtime
from snndsl_runtime.settings import (  # noqa: F401  (the compiler reads them from here)
    SURROGATE_PARAM, Optimizer, Surrogate, applies_to, is_structural, problems,
)

from .diagnostics import Span


def _located(model):
    """The runtime's settings model with the span of the spec's `train` block."""
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__, __module__=__name__,
                        span=(Optional[Span], None))


ECSettings = _located(runtime.ECSettings)
ESSettings = _located(runtime.ESSettings)
StopSettings = _located(runtime.StopSettings)
SurrogateSettings = _located(runtime.SurrogateSettings)

TrainSettings = Annotated[
    Union[ECSettings, ESSettings, StopSettings, SurrogateSettings], Field(discriminator="rule")
]

RULES = {"ec": ECSettings, "es": ESSettings, "stop": StopSettings, "surrogate": SurrogateSettings}
