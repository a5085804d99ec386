"""Safe files: arrays and tensors plus JSON, loaded without unpickling anything.

A pickle runs whatever code its author put in it when it is loaded (``pickle.load``,
``torch.load(..., weights_only=False)``), so a checkpoint or a fitted detector shared by someone
else could take over the machine of whoever opens it. graphrec's files therefore hold

* every array or tensor as raw data (``.npy`` members read with ``allow_pickle=False``, or
  tensors read by ``torch.load(weights_only=True)``, torch's restricted unpickler);
* everything else as JSON: numbers, strings, lists, tuples, dicts, NumPy scalars and dtypes,
  and *instances of an explicit allowlist of classes* (the project's detectors and option
  dataclasses, scikit-learn's forests and trees), rebuilt from their attributes without calling
  any code the file names.

:func:`encode` turns a value into a JSON tree, handing arrays to a ``put`` callback;
:func:`decode` reverses it. Files written before this format are pickles: they load only when
the user says they trust them (:func:`trust_files`, the CLI's ``--trust-file``), with a warning.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from graphrec.errors import GraphrecError

log = logging.getLogger(__name__)

Put = Callable[[Any], str]
Get = Callable[[str], Any]


class UnsafeFileError(GraphrecError):
    """A file that would need unpickling (so could run code) and that the user did not trust."""


_TRUSTED = False


def trust_files(trusted: bool) -> None:
    """Allow (True) or refuse (False, the default) loading legacy pickle-based files."""
    global _TRUSTED
    _TRUSTED = bool(trusted)


def files_trusted() -> bool:
    return _TRUSTED


def refusal(path: object, kind: str, reason: str) -> UnsafeFileError:
    """The one-line error for a file that could only be loaded by unpickling it."""
    return UnsafeFileError(
        f"{path}: refused to load this {kind}: {reason}. Loading it would unpickle Python "
        "objects, which can run arbitrary code. If it is an older graphrec file from a source "
        "you trust, rerun with --trust-file"
    )


def warn_trusted(path: object, kind: str) -> None:
    log.warning(
        "loading %s %s with pickle because of --trust-file: it can run code; re-save it to get "
        "the safe format",
        kind,
        path,
    )


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowlist(names: Iterable[str]) -> dict[str, type]:
    """Import the allowlisted classes by their full names (``module.Class``)."""
    classes = {}
    for name in names:
        module, _, attribute = name.rpartition(".")
        classes[name] = getattr(importlib.import_module(module), attribute)
    return classes


# --------------------------------------------------------------------------------- encode
def encode(value: Any, put: Put, classes: dict[str, type] | None = None) -> Any:
    """A JSON-able tree for ``value``; arrays and tensors go to ``put`` (which returns a key).

    Raises:
        TypeError: a value of a type the format does not hold (a class outside ``classes``).
    """
    classes = classes or {}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float) and not isinstance(value, np.floating):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.generic):
        return {"$scalar": encode(value.item(), put, classes), "$dtype": value.dtype.str}
    if isinstance(value, np.dtype):
        return {"$dtype": value.str} if value.fields is None else {"$dtype": value.descr}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            items = [encode(v, put, classes) for v in value.ravel().tolist()]
            return {"$objects": items, "$shape": list(value.shape)}
        return {"$array": put(np.ascontiguousarray(value))}
    if _is_tensor(value):
        return {"$tensor": put(value)}
    if isinstance(value, list):
        return [encode(v, put, classes) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, put, classes) for v in value]}
    if isinstance(value, OrderedDict):
        pairs = [[encode(k, put, classes), encode(v, put, classes)] for k, v in value.items()]
        meta = getattr(value, "_metadata", None)  # torch state dicts keep module versions here
        return {"$odict": pairs, "$meta": encode(meta, put, classes)}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, put, classes) for k, v in value.items()}
        pairs = [[encode(k, put, classes), encode(v, put, classes)] for k, v in value.items()]
        return {"$dict": pairs}
    name = class_name(type(value))
    if classes.get(name) is type(value):
        if hasattr(value, "__dict__"):
            state = value.__getstate__() if hasattr(value, "__getstate__") else vars(value)
            return {"$object": name, "$state": encode(dict(state), put, classes)}
        factory, args, *rest = value.__reduce__()  # extension types (scikit-learn's Tree)
        if factory is not type(value):
            raise TypeError(f"cannot store a {name}: it does not rebuild from its own class")
        state = rest[0] if rest else None
        return {
            "$reduce": name,
            "$args": encode(tuple(args), put, classes),
            "$state": encode(state, put, classes),
        }
    raise TypeError(f"cannot store a value of type {name} in a safe file")


def _is_tensor(value: Any) -> bool:
    torch = _loaded_torch()
    return torch is not None and isinstance(value, torch.Tensor)


def _loaded_torch() -> Any:
    import sys

    return sys.modules.get("torch")


# --------------------------------------------------------------------------------- decode
def decode(tree: Any, get: Get, classes: dict[str, type] | None = None) -> Any:
    """Rebuild what :func:`encode` stored; ``get`` returns the array or tensor of a key.

    Raises:
        ValueError: a malformed tree, or a class outside ``classes`` (nothing is imported or
            called by name from the file).
    """
    classes = classes or {}
    if isinstance(tree, list):
        return [decode(v, get, classes) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if not any(k.startswith("$") for k in tree):
        return {k: decode(v, get, classes) for k, v in tree.items()}
    keys = set(tree)
    if keys == {"$float"}:
        return float(tree["$float"])
    if keys == {"$scalar", "$dtype"}:
        return np.dtype(_dtype(tree["$dtype"])).type(decode(tree["$scalar"], get, classes))
    if keys == {"$dtype"}:
        return np.dtype(_dtype(tree["$dtype"]))
    if keys == {"$array"} or keys == {"$tensor"}:
        return get(str(tree.get("$array", tree.get("$tensor"))))
    if keys == {"$objects", "$shape"}:
        items = [decode(v, get, classes) for v in tree["$objects"]]
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(tree["$shape"])
    if keys == {"$tuple"}:
        return tuple(decode(v, get, classes) for v in tree["$tuple"])
    if keys == {"$dict"}:
        return {_key(decode(k, get, classes)): decode(v, get, classes) for k, v in tree["$dict"]}
    if keys == {"$odict", "$meta"}:
        out = OrderedDict(
            (_key(decode(k, get, classes)), decode(v, get, classes)) for k, v in tree["$odict"]
        )
        meta = decode(tree["$meta"], get, classes)
        if meta is not None:
            out._metadata = meta  # type: ignore[attr-defined]
        return out
    if keys == {"$object", "$state"}:
        cls = _allowed(tree["$object"], classes)
        state = decode(tree["$state"], get, classes)
        if not isinstance(state, dict):
            raise ValueError(f"the state of a {tree['$object']} must be a mapping")
        instance = cls.__new__(cls)
        if "__setstate__" in _own_attributes(cls):
            instance.__setstate__(state)
        else:
            instance.__dict__.update(state)
        return instance
    if keys == {"$reduce", "$args", "$state"}:
        cls = _allowed(tree["$reduce"], classes)
        instance = cls(*decode(tree["$args"], get, classes))
        state = decode(tree["$state"], get, classes)
        if state is not None:
            instance.__setstate__(state)
        return instance
    raise ValueError(f"unknown entry {sorted(keys)} in a safe file")


def _allowed(name: Any, classes: dict[str, type]) -> type:
    if not isinstance(name, str) or name not in classes:
        raise ValueError(f"the file names class {name!r}, which is not allowed here")
    return classes[name]


def _own_attributes(cls: type) -> set[str]:
    """Attributes defined by ``cls`` or its bases other than ``object``."""
    return {name for klass in cls.__mro__ if klass is not object for name in vars(klass)}


def _dtype(spec: Any) -> Any:
    """A dtype spec from JSON: a string, or a structured descr (lists back to tuples)."""
    if isinstance(spec, str):
        return spec
    return [tuple(_dtype(part) if isinstance(part, list) else part for part in f) for f in spec]


def _key(value: Any) -> Any:
    """Dict keys must be hashable: lists (a JSON tuple decoded as list) become tuples."""
    return tuple(value) if isinstance(value, list) else value
