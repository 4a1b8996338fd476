"""Plain dict registries, one per kind of component, and the one place components are built.

A recipe names a component as ``{type: ClassName, **kwargs}``. :meth:`Registry.build` checks
every keyword against the class signature (unknown keys and wrong types are errors) before
calling it, so a typo in a recipe fails at load time with the key's name, not mid-training.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from typing import Any

from astroi2i.errors import InputError

__all__ = ["Registry", "check_type", "signature_defaults"]


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence, abc.Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):  # a string is a Sequence, but never meant
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_type_ok, value, args))
        return not args or all(_type_ok(v, args[0]) for v in value)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        return not args or all(
            _type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items()
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # hints we cannot check (callables, modules) are the builder's business


def _hint_text(hint: Any) -> str:
    """A reader's description of a type hint: ``'csv' or 'tensorboard'``, ``a list of int``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_hint_text(a) for a in args)
    if origin in (list, tuple, typing.Sequence, abc.Sequence) and args:
        return f"a list of ({_hint_text(args[0])})"
    if origin in (dict, Mapping, typing.Mapping) and len(args) == 2:
        return f"a mapping of {_hint_text(args[0])} to {_hint_text(args[1])}"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_type(value: Any, hint: Any, where: str) -> None:
    """Raise InputError naming ``where`` when ``value`` does not match the annotation."""
    if not _type_ok(value, hint):
        raise InputError(f"{where}: expected {_hint_text(hint)}, got {value!r}")


@functools.lru_cache(maxsize=512)
def _hints(obj: Callable) -> dict[str, Any]:
    """The resolved annotations of a class's ``__init__`` or a function, once per object (a
    batch translation builds its stretches for every file). Callers must not change the dict."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(target)
    except (NameError, TypeError):
        return {}


@functools.lru_cache(maxsize=512)
def signature_defaults(obj: Callable) -> dict[str, Any]:
    """Keyword parameters of a class or function with their defaults (``inspect.Parameter.empty``
    for required ones), skipping ``self`` and ``*args/**kwargs``; once per object, like
    :func:`_hints` (a batch translation validates its stretches for every file). Callers must
    not change the dict."""
    params = inspect.signature(obj).parameters
    return {
        name: p.default
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


class Registry:
    """Name → class (or factory) for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable] = {}

    def register(self, obj: Callable | None = None, *, name: str | None = None):
        def add(target: Callable) -> Callable:
            key = name or target.__name__
            if key in self._items and self._items[key] is not target:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = target
            return target

        return add(obj) if obj is not None else add

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str) -> Callable:
        try:
            return self._items[name]
        except KeyError:
            raise InputError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}"
            ) from None

    def validate(self, spec: Mapping, where: str, *, provided: tuple[str, ...] = ()) -> dict:
        """Check a ``{type: Name, **kwargs}`` spec and return it with every default filled in.

        ``provided`` names arguments that the builder supplies (e.g. channel counts, networks);
        they may not appear in the spec.
        """
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise InputError(f"{where}: expected a mapping with a 'type' key, got {spec!r}")
        cls = self.get(spec["type"])
        defaults = signature_defaults(cls)
        hints = _hints(cls)
        resolved: dict[str, Any] = {"type": spec["type"]}
        for key, value in spec.items():
            if key == "type":
                continue
            if key not in defaults or key in provided:
                allowed = sorted(k for k in defaults if k not in provided)
                raise InputError(
                    f"{where}.{key}: unknown key for {spec['type']}; allowed: {', '.join(allowed)}"
                )
            check_type(value, hints.get(key, Any), f"{where}.{key}")
            resolved[key] = list(value) if isinstance(value, tuple) else value
        for key, default in defaults.items():
            if key in provided or key in resolved:
                continue
            if default is inspect.Parameter.empty:
                raise InputError(f"{where}: {spec['type']} needs the key {key!r}")
            resolved[key] = list(default) if isinstance(default, tuple) else default
        return resolved

    def build(self, spec: Mapping, where: str = "", **provided: Any) -> Any:
        """Validate ``spec`` and construct it, passing ``provided`` keywords as well."""
        resolved = self.validate(spec, where or self.kind, provided=tuple(provided))
        kwargs = {k: v for k, v in resolved.items() if k != "type"}
        return self.get(spec["type"])(**kwargs, **provided)
