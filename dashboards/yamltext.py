"""A small YAML writer for provisioning files: block style, every string JSON-quoted.

JSON-quoted strings are valid YAML double-quoted scalars, so the output is read back exactly
by any YAML 1.2 parser (Grafana's included), whatever the query text holds.
"""

import json

Value = None | bool | int | float | str | list["Value"] | dict[str, "Value"]


def _scalar(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _lines(value: Value, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:")
                out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{key}: {_lines(item, 0)[0]}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            inner = _lines(item, indent + 2)
            out.append(f"{pad}- {inner[0].lstrip()}")
            out.extend(inner[1:])
        return out
    return [pad + _scalar(value)]


def dump(value: Value, header: str = "") -> str:
    """``value`` as a YAML document, after ``header`` (comment lines)."""
    comments = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join([*comments, *_lines(value, 0)]) + "\n"
