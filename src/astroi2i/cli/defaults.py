"""Option defaults stated once, where the code that uses them defines them."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

__all__ = ["Default", "given"]


class Default:
    """An option's default, stated once: where the code that uses it defines it (a dataclass
    field or a keyword argument, ``"module:Name"``). The CLI passes nothing for an option that
    was not given, so that code's own default applies; ``--help`` shows the value, importing
    the module only then."""

    def __init__(self, where: str, name: str) -> None:
        self.where, self.name = where, name

    def value(self):
        module, _, attr = self.where.partition(":")
        obj = getattr(importlib.import_module(f"astroi2i.{module}"), attr)
        if dataclasses.is_dataclass(obj):
            f = obj.__dataclass_fields__[self.name]
            return f.default_factory() if f.default is dataclasses.MISSING else f.default
        return inspect.signature(obj).parameters[self.name].default

    def __str__(self) -> str:
        value = self.value()
        return " ".join(map(str, value)) if isinstance(value, tuple | list) else str(value)


def given(args, **names) -> dict:
    """``{keyword: value}`` of the options the user gave (``dest=keyword`` pairs); options
    left at a :class:`Default` are left out."""
    return {
        keyword: getattr(args, dest)
        for dest, keyword in names.items()
        if not isinstance(getattr(args, dest), Default)
    }
