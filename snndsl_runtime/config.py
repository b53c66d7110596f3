"""`--set KEY=VALUE` for a generated module: typed overrides of its runtime settings."""

import difflib
import json
import math

from .errors import RunError


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


def _coerce(key: str, value, current, rule: dict):
    if isinstance(current, dict):
        fields = ", ".join(f"{key}.{k}" for k in current)
        raise RunError("E404", f"`{key}` is a group of settings; set its fields one by one", f"keys: {fields}")
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise RunError("E404", f"{key} must be true or false, not {value!r}")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_number and not math.isfinite(value):
        raise RunError("E401", f"{key} must be a finite number, not {value!r}")
    if isinstance(current, int) and not isinstance(current, bool):
        if is_number and float(value) == int(value):
            return int(value)
        raise RunError("E403" if is_number else "E404", f"{key} must be a whole number, not {value!r}")
    if isinstance(current, float) or (current is None and rule.get("type") == "number"):
        if is_number or (current is None and value is None):
            return None if value is None else float(value)
        raise RunError("E404", f"{key} must be a number, not {value!r}")
    if isinstance(current, str) or current is None:
        return None if value is None else str(value)
    raise RunError("E404", f"{key} cannot be set from the command line")


_BOUNDS = {"gt": (lambda v, b: v > b, ">"), "ge": (lambda v, b: v >= b, ">="),
           "lt": (lambda v, b: v < b, "<"), "le": (lambda v, b: v <= b, "<=")}


def _check(key: str, value, rule: dict) -> None:
    """A value against its allowed choices and bounds (from the spec's typed settings)."""
    if "choices" in rule and value not in rule["choices"]:
        close = difflib.get_close_matches(str(value), [str(c) for c in rule["choices"]], n=1)
        raise RunError("E404", f"{key} must be one of {', '.join(map(str, rule['choices']))}, not {value!r}",
                       f"did you mean `{close[0]}`?" if close else None)
    if value is None:
        return
    for bound, (ok, sign) in _BOUNDS.items():
        if bound in rule and not ok(value, rule[bound]):
            raise RunError("E401", f"{key} must be {sign} {rule[bound]}, not {value!r}")


def _known_keys(config: dict, prefix: str = "") -> list:
    out = []
    for k, v in config.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out += _known_keys(v, prefix + k + ".")
    return out


def lookup(config: dict, key: str):
    """The value at a dotted key (`train.optimizer.lr`; "" is the whole config), None if absent."""
    for part in key.split(".") if key else ():
        config = config.get(part) if isinstance(config, dict) else None
    return config


def apply_overrides(config: dict, pairs, structural=(), limits=None) -> dict:
    """Return a copy of config with `KEY=VALUE` overrides applied (dotted keys into nested dicts).

    Unknown keys, badly typed values and values outside `limits` (key -> choices, bounds) raise
    RunError (E203 / E404 / E401); `structural` keys change the generated code and must be set when
    generating instead.
    """
    config = json.loads(json.dumps(config))
    limits = limits or {}
    for pair in pairs or ():
        key, eq, text = pair.partition("=")
        if not eq:
            raise RunError("E203", f"`--set {pair}` needs the form KEY=VALUE", "for example --set train.epochs=5")
        if key in structural or any(key.startswith(k + ".") for k in structural):
            raise RunError("E203", f"`{key}` changes the generated network; it cannot be set here",
                           f"regenerate: snndsl emit SPEC --set {pair} -o train.py")
        parent, _, leaf = key.rpartition(".")
        node = lookup(config, parent)
        if not isinstance(node, dict) or leaf not in node:
            close = difflib.get_close_matches(key, _known_keys(config), n=1, cutoff=0.6)
            raise RunError("E203", f"unknown key `{key}`",
                           f"did you mean `{close[0]}`?" if close else "keys look like train.epochs or task.path")
        rule = limits.get(key, {})
        value = _coerce(key, parse_value(text), node[leaf], rule)
        _check(key, value, rule)
        node[leaf] = value
    return config


def check_config(config: dict, reference: dict, limits: dict, where: str, prefix: str = "") -> None:
    """RunError E822 unless `config` (read from a file) has the reference's keys, each with a value
    of the right type inside its bounds: the same checks as --set."""
    for key, current in reference.items():
        full = prefix + key
        if not isinstance(config, dict) or key not in config:
            raise RunError("E822", f"{where} lacks the setting `{full}`", "start a new run in another --out folder")
        if isinstance(current, dict):
            check_config(config[key], current, limits, where, full + ".")
            continue
        try:
            value = _coerce(full, config[key], current, limits.get(full, {}))
            _check(full, value, limits.get(full, {}))
        except RunError as e:
            raise RunError("E822", f"{where} holds an invalid setting: {e.message}",
                           "start a new run in another --out folder") from None
    extra = sorted(set(config) - set(reference)) if isinstance(config, dict) else []
    if extra:
        raise RunError("E822", f"{where} holds an unknown setting `{prefix}{extra[0]}`",
                       "start a new run in another --out folder")
