"""Adding entries to a hand-written ``paved.yaml`` without re-dumping it.

Used by ``paved.scaffold._scaffold``. A team's ``paved.yaml`` carries comments and
a layout they chose; loading and dumping it with PyYAML would drop the comments
and reorder keys. Instead these functions find where a top-level section ends
(PyYAML's node tree keeps the position of every node) and insert text there, in
the section's own indentation. Only an inline (flow) collection such as
``namespaces: {}`` or ``packages: [a, b]`` is rewritten, and only that value.
The caller validates the result (``_scaffold._check_edit``).
"""

from __future__ import annotations

from typing import Any

import yaml

from paved._errors import ProjectError

_NULL_TAG = "tag:yaml.org,2002:null"


def _scalar(v: Any) -> str:
    text: str = yaml.safe_dump(v, default_flow_style=True, width=1000)
    return text.removesuffix("\n").removesuffix("\n...")


def _root(text: str) -> yaml.MappingNode | None:
    node = yaml.compose(text)
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode):
        raise ProjectError("paved.yaml is not a mapping of keys", code="PAVED-NEW-EDIT")
    return node


def _find(root: yaml.MappingNode | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if root is None:
        return None
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _is_empty(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _NULL_TAG
        and node.value in ("", "~", "null", "Null", "NULL")
    )


def _last_line(node: yaml.Node) -> int:
    """0-based line where ``node``'s own text ends (not the comments after it)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        k, v = node.value[-1]
        if isinstance(v, yaml.ScalarNode) and v.value == "" and v.tag == _NULL_TAG:
            return int(k.end_mark.line)  # `key:` with nothing after it
        return _last_line(v)
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_line(node.value[-1])
    end = node.end_mark
    # A block scalar (`|`) ends at column 0 of the line after its text.
    return (
        int(end.line) if end.column > 0 or end.line == node.start_mark.line else int(end.line) - 1
    )


def _insert_after(text: str, line: int, block: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines[line + 1 : line + 1] = [block]
    return "".join(lines)


def _append(text: str, block: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text.strip() else "") + block


def _replace_value(text: str, key: yaml.Node, value: yaml.Node, block: str) -> str:
    """Replace an inline or empty value with ``block`` on the lines after ``key:``."""
    if isinstance(value, yaml.ScalarNode) and value.value == "":
        return _insert_after(text, int(key.end_mark.line), block)
    start, end = value.start_mark.index, value.end_mark.index
    return text[:start].rstrip(" ") + "\n" + block.rstrip("\n") + text[end:]


def _mapping_block(name: str, body: dict[str, Any], indent: int, step: int) -> str:
    pad, inner = " " * indent, " " * (indent + step)
    out = [f"{pad}{name}:\n"]
    out += [f"{inner}{k}: {_scalar(v)}\n" for k, v in body.items()]
    return "".join(out)


def add_mapping_entry(text: str, section: str, name: str, body: dict[str, Any]) -> str:
    """Add ``name: {body}`` under the top-level mapping ``section``."""
    root = _root(text)
    found = _find(root, section)
    if found is None:
        return _append(text, f"{section}:\n" + _mapping_block(name, body, 2, 2))
    key, value = found
    if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
        first_key, first_val = value.value[0]
        indent = int(first_key.start_mark.column)
        step = 2
        if isinstance(first_val, yaml.MappingNode) and not first_val.flow_style and first_val.value:
            step = max(1, int(first_val.value[0][0].start_mark.column) - indent)
        return _insert_after(text, _last_line(value), _mapping_block(name, body, indent, step))
    indent = int(key.start_mark.column) + 2
    if _is_empty(value) or (isinstance(value, yaml.MappingNode) and not value.value):
        return _replace_value(text, key, value, _mapping_block(name, body, indent, 2))
    if isinstance(value, yaml.MappingNode):
        # A non-empty inline mapping: rewrite this one value in block style.
        data = yaml.safe_load(yaml.serialize(value)) or {}
        block = yaml.safe_dump(
            {**data, name: body}, sort_keys=False, default_flow_style=False, width=1000
        )
        block = "".join(" " * indent + ln + "\n" for ln in block.splitlines())
        return _replace_value(text, key, value, block)
    raise ProjectError(f"`{section}:` in paved.yaml is not a mapping", code="PAVED-NEW-EDIT")


def add_list_item(text: str, section: str, item: str) -> str:
    """Add ``item`` to the top-level list ``section``."""
    root = _root(text)
    found = _find(root, section)
    if found is None:
        return _append(text, f"{section}:\n  - {_scalar(item)}\n")
    key, value = found
    if isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value:
        first = value.value[0]
        line = text.splitlines()[first.start_mark.line]
        col = int(first.start_mark.column)
        dash = line.rfind("-", 0, col)
        dash = dash if dash >= 0 else int(key.start_mark.column) + 2
        block = " " * dash + "-" + " " * max(1, col - dash - 1) + _scalar(item) + "\n"
        return _insert_after(text, _last_line(value), block)
    if isinstance(value, yaml.SequenceNode):
        items = [
            _scalar(n.value) if isinstance(n, yaml.ScalarNode) else yaml.serialize(n).strip()
            for n in value.value
        ]
        start, end = value.start_mark.index, value.end_mark.index
        return text[:start] + "[" + ", ".join([*items, _scalar(item)]) + "]" + text[end:]
    if _is_empty(value):
        indent = int(key.start_mark.column) + 2
        return _replace_value(text, key, value, f"{' ' * indent}- {_scalar(item)}\n")
    raise ProjectError(f"`{section}:` in paved.yaml is not a list", code="PAVED-NEW-EDIT")
