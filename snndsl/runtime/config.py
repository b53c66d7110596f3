"""`--set KEY=VALUE` for a generated module: typed overrides of its runtime settings."""

import difflib
import json

from .errors import RunError  # inline: drop


def parse_value(text: str):
    """Read a command-line value: JSON numbers/booleans/lists, else a bare string."""
    low = text.strip()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(low)
    except ValueError:
        return low.strip('"')


def _coerce(key: str, value, current):
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise RunError("E404", f"{key} must be true or false, not {value!r}")
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) == int(value):
            return int(value)
        raise RunError("E404", f"{key} must be a whole number, not {value!r}")
    if isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise RunError("E404", f"{key} must be a number, not {value!r}")
    if isinstance(current, str):
        return str(value)
    if current is None:
        return value
    raise RunError("E404", f"{key} cannot be set from the command line")


def apply_overrides(config: dict, pairs, structural=(), choices=None) -> dict:
    """Return a copy of config with `KEY=VALUE` overrides applied (dotted keys into nested dicts).

    Unknown keys and badly typed values raise RunError (E203 / E404); `structural` keys change the
    generated code and must be set when generating instead.
    """
    config = json.loads(json.dumps(config))
    choices = choices or {}
    for pair in pairs or ():
        key, eq, text = pair.partition("=")
        if not eq:
            raise RunError("E203", f"`--set {pair}` needs the form KEY=VALUE", "for example --set train.population=64")
        if key in structural:
            raise RunError("E203", f"`{key}` changes the generated network; it cannot be set here",
                           f"regenerate: snndsl emit SPEC --set {pair} -o train.py")
        parts = key.split(".")
        node = config
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = []

                def walk(d, prefix):
                    for k, v in d.items():
                        known.append(prefix + k)
                        if isinstance(v, dict):
                            walk(v, prefix + k + ".")

                walk(config, "")
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                raise RunError("E203", f"unknown key `{key}`",
                               f"did you mean `{close[0]}`?" if close else "keys look like train.population")
            if i == len(parts) - 1:
                value = _coerce(key, parse_value(text), node[part])
                if key in choices and value not in choices[key]:
                    raise RunError("E404", f"{key} must be one of {', '.join(map(str, choices[key]))}, not {value!r}")
                node[part] = value
            else:
                node = node[part]
    return config
