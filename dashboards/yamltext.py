"""Provisioning files as YAML, written by PyYAML: block style, every string double-quoted."""

import yaml

Value = None | bool | int | float | str | list["Value"] | dict[str, "Value"]


class _Dumper(yaml.SafeDumper):
    """A safe dumper that indents lists under their key, as Grafana's own examples do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002, FBT001, FBT002 - PyYAML's signature; lists are never indentless
        super().increase_indent(flow, indentless=False)


def _quoted(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Strings double-quoted, whatever they hold: a query reads back exactly."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')


def _mapping(dumper: yaml.SafeDumper, mapping: dict[str, Value]) -> yaml.MappingNode:
    """Keys plain where YAML allows it (they are identifiers), values as their type dumps them."""
    node = dumper.represent_dict(mapping)
    for key, _ in node.value:
        key.style = None
    return node


_Dumper.add_representer(str, _quoted)
_Dumper.add_representer(dict, _mapping)


def dump(value: Value, header: str = "") -> str:
    """``value`` as a YAML document, after ``header`` (comment lines)."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    body = yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)
    return comments + body
