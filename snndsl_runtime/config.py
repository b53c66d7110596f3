"""`--set KEY=VALUE` on a model's run-time settings, and the check of settings read back from a
file: both convert the text to the setting's type here and validate with snndsl_runtime.settings,
the models the compiler checks specs with."""

import difflib
import json
import math
import typing

from .errors import RunError
from .settings import MAX_COUNT, field_annotation, validate_config


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


def _takes(annotation, kind) -> bool:
    return annotation is kind or kind in typing.get_args(annotation)


def _coerce(key: str, value, current, annotation):
    """A parsed value in the type of the setting it replaces (its current value, or its annotation)."""
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
    if _takes(annotation, int) and _takes(annotation, str):  # a count or a word: devices = 4 | all
        return int(value) if is_number and float(value) == int(value) else str(value)
    if isinstance(current, int) and not isinstance(current, bool):
        if is_number and float(value) == int(value):
            if abs(value) > MAX_COUNT:
                raise RunError("E403", f"{key} is too large: {value:g} (at most {MAX_COUNT})")
            return int(value)
        raise RunError("E403" if is_number else "E404", f"{key} must be a whole number, not {value!r}")
    if isinstance(current, float) or (current is None and _takes(annotation, float)):
        if is_number or (current is None and value is None):
            return None if value is None else float(value)
        raise RunError("E404", f"{key} must be a number, not {value!r}")
    if isinstance(current, str) or current is None:
        return None if value is None else str(value)
    raise RunError("E404", f"{key} cannot be set from the command line")


def _validate(config: dict, rule: str, task_kind: str, where: str | None = None) -> None:
    """RunError for the first problem the settings models find (E822 for settings read from `where`)."""
    found = validate_config(rule, task_kind, config)
    if found:
        _, code, message, hint = found[0]
        if where:
            raise RunError("E822", f"{where} holds an invalid setting: {message}", "start a new run in another --out folder")
        raise RunError(code, message, hint)


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


def apply_overrides(config: dict, pairs, rule: str, task_kind: str, structural=()) -> dict:
    """Return a copy of config with `KEY=VALUE` overrides applied (dotted keys into nested dicts).

    Unknown keys (E203, with a did-you-mean), badly typed values (E403 / E404) and values the
    settings models refuse (E401 / E404) raise RunError; `structural` keys change the generated
    code and must be set when generating instead.
    """
    config = json.loads(json.dumps(config))
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
        node[leaf] = _coerce(key, parse_value(text), node[leaf], field_annotation(rule, task_kind, key))
    _validate(config, rule, task_kind)  # once, after all: some rules span two settings
    return config


def check_config(config: dict, reference: dict, rule: str, task_kind: str, where: str, prefix: str = "") -> None:
    """RunError E822 unless `config` (read from a file) has the reference's keys, each of the right
    type, and the settings models accept it: the same checks as --set."""
    _check_shape(config, reference, rule, task_kind, where, prefix)
    _validate(config, rule, task_kind, where)


def _check_shape(config, reference, rule, task_kind, where, prefix=""):
    for key, current in reference.items():
        full = prefix + key
        if not isinstance(config, dict) or key not in config:
            raise RunError("E822", f"{where} lacks the setting `{full}`", "start a new run in another --out folder")
        if isinstance(current, dict):
            _check_shape(config[key], current, rule, task_kind, where, full + ".")
            continue
        try:
            _coerce(full, config[key], current, field_annotation(rule, task_kind, full))
        except RunError as e:
            raise RunError("E822", f"{where} holds an invalid setting: {e.message}",
                           "start a new run in another --out folder") from None
    extra = sorted(set(config) - set(reference)) if isinstance(config, dict) else []
    if extra:
        raise RunError("E822", f"{where} holds an unknown setting `{prefix}{extra[0]}`",
                       "start a new run in another --out folder")
