"""Reading YAML into Pydantic models with errors that name the file, key and line.

A hand-edited ``paved.yaml``, spec or policy file with a mistake must say where
the mistake is: ``specs/workers.yaml:14 workers[2].replicas: Input should be a
valid integer (got 'two')``. PyYAML's node tree keeps line numbers;
:func:`line_of` walks it along an error location (Pydantic's, or any checker's)
to find the line. It is the one place that does (the policy file uses it too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paved._errors import ProjectError

M = TypeVar("M", bound=BaseModel)

# libyaml's safe loader when PyYAML has it (same data, ~10x faster), else PyYAML's own.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def line_of(document: yaml.Node | str | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the key at ``loc`` (``("workers", 2, "replicas")``) in ``document``.

    ``document`` is YAML text or its composed node tree (compose once to look up
    many locations). Where ``loc`` leaves the document, the line of the deepest
    key found; None for text that is not YAML.
    """
    node: yaml.Node | None
    if isinstance(document, str):
        try:
            node = yaml.compose(document)
        except yaml.YAMLError:
            return None
    else:
        node = document
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_model(path: Path, model: type[M], *, what: str) -> M:
    """Load ``path`` as YAML and validate it as ``model``.

    Raises:
        ProjectError: the file is missing, not YAML, or does not match the
            schema; the message names the file, line, key and problem.
    """
    if not path.exists():
        raise ProjectError(
            f"{path}: {what} not found",
            code="PAVED-PROJECT-MISSING",
            fix="run `paved gen` to create the specs"
            if what != "project file"
            else "create paved.yaml (see README)",
        )
    text = path.read_text(encoding="utf-8")
    try:
        # One libyaml pass (the pure-Python composer plus loader took 0.5 s per spec file
        # of 20 workers at load 12: `paved dev` read the specs ~30 times at start).
        data: Any = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ProjectError(
            f"{where}: {what} is not valid YAML: {getattr(e, 'problem', e)}",
            code="PAVED-PROJECT-YAML",
        ) from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as e:
        node = yaml.compose(text, Loader=_Loader)  # line numbers, for the message only
        lines = []
        for err in e.errors():
            loc = tuple(err["loc"])
            line = line_of(node, loc)
            where = f"{path}:{line}" if line else str(path)
            got = err.get("input")
            got_s = (
                f" (got {got!r})" if not isinstance(got, dict | list) and got is not None else ""
            )
            lines.append(f"{where}: {_dotted(loc)}: {err['msg']}{got_s}")
        raise ProjectError(
            f"{what} {path} is invalid:\n  " + "\n  ".join(lines),
            code="PAVED-PROJECT-SCHEMA",
            fix="correct the keys above"
            + ("" if what == "project file" else ", or regenerate with `paved gen`"),
        ) from None


# libyaml's emitter when PyYAML has it: same bytes, ~5x faster (0.85 s -> 0.18 s for
# 1,000 workflow types; bench/bench_gen.py).
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _NoAlias(_BaseDumper):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    """Deterministic YAML: keys in the order given, no aliases, wide lines."""
    return yaml.dump(data, Dumper=_NoAlias, sort_keys=False, width=120, default_flow_style=False)
