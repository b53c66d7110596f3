"""The language reference lists every learning-rule setting with its default."""

import re
from pathlib import Path

import pytest

from snndsl.settings import RULES

DOC = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_setting_is_documented_with_its_default(rule):
    section = DOC.split(f"### train {rule}")[1].split("\n### ")[0]
    model = RULES[rule]
    for name, field in model.model_fields.items():
        if name in ("rule", "span"):
            continue
        row = next((ln for ln in section.splitlines() if f"`{name}`" in ln), None)
        assert row is not None, f"train {rule}: `{name}` is not documented"
        shared = re.search(r"as for `(\w+)`", row)
        if shared:  # documented in the rule it is shared with; its default must be the same there
            assert RULES[shared.group(1)].model_fields[name].default == field.default
            continue
        default = field.default
        if row is not None and isinstance(default, (int, float)) and not isinstance(default, bool):
            numbers = {float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?", row)}
            assert float(default) in numbers, f"train {rule}: `{name}` default {default} not in: {row}"
