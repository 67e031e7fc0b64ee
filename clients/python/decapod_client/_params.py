"""What the generated typed methods (_methods.py) build their params object with."""

from __future__ import annotations

from typing import Any, Dict


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


#: Default of optional parameters that may be null: "leave the key out".
OMIT: Any = _Omit()


def _params(values: Dict[str, Any], keep_none: tuple = ()) -> Dict[str, Any]:
    """The params object: optional arguments left at their default are left out."""
    return {k: v for k, v in values.items() if v is not OMIT and (v is not None or k in keep_none)}
