"""``paved gen`` in a fresh interpreter, answering in JSON: what ``paved dev`` runs on every save.

``python -m paved.specs._gen_child ROOT`` imports the project's code exactly as
``paved gen`` does (:meth:`Project.generate`: the same imports, validation and
rendering) and prints one JSON object on stdout:

- ``files``: ``{spec file name: text}``, what ``paved gen`` would write;
- ``worker_files``: ``{worker: [file, ...]}``, every source file of the project a
  worker's process imports (its modules, the project modules they import,
  statically, transitively, and the packages' ``__init__.py`` on the way): the
  files whose change means that worker runs stale code;
- or ``error``: ``{code, message, fix}`` when the code cannot be imported or
  its decorators are wrong (a Paved error, or the exception and its
  ``file:line`` in the project).

A fresh interpreter per run: the code just saved is imported anew, and the
decorator registry of ``paved dev`` itself never holds the project's types.
``--serve ROOT`` keeps one process that has imported Paved and temporalio and
forks it per request (a line on stdin; the answer is one line on stdout): the
same fresh import of the project's code, without paying the library imports
(about 1 s on a loaded 2-core machine) on every save.
"""

from __future__ import annotations

import ast
import json
import sys
import traceback
from pathlib import Path

from paved._errors import PavedError
from paved.specs._project import Project


def _module_files(packages: list[str]) -> dict[str, str]:
    """``{module name: source file}`` of every imported module of ``packages``."""
    out: dict[str, str] = {}
    prefixes = tuple(p + "." for p in packages)
    for name, mod in list(sys.modules.items()):
        if name in packages or name.startswith(prefixes):
            f = getattr(mod, "__file__", None)
            if f and f.endswith(".py"):
                out[name] = str(Path(f).resolve())
    return out


def _imports_of(module: str, path: str, is_package: bool) -> set[str]:
    """Module names ``path`` imports (absolute; relative ones resolved against ``module``)."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    except (OSError, SyntaxError, ValueError):
        return set()
    base = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                keep = len(parts) - (node.level - 1)
                if keep <= 0:
                    continue
                target = ".".join(parts[:keep]) + (f".{node.module}" if node.module else "")
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import mod`
    return out


def worker_files(project: Project, workers: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per worker, every project source file its modules import (transitively)."""
    files = _module_files(list(project.config.packages))
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps = {d for d in _imports_of(name, path, path.endswith("__init__.py")) if d in files}
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = name.split(".")
        deps.update(
            ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in files
        )
        graph[name] = deps
    out: dict[str, list[str]] = {}
    for worker, modules in workers.items():
        seen: set[str] = set()
        todo = [m for m in modules if m in files]
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo.extend(graph.get(m, ()))
            parts = m.split(".")
            todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        out[worker] = sorted({files[m] for m in seen if m in files})
    return out


def _error(e: BaseException, root: Path) -> dict[str, str | None]:
    if isinstance(e, PavedError):
        return {"code": e.code, "message": e.message, "fix": e.fix}
    place = ""
    if isinstance(e, SyntaxError) and e.filename:
        place = f"{e.filename}:{e.lineno}: "
    else:
        frames = [
            f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(str(root))
        ]
        if frames:
            place = f"{frames[-1].filename}:{frames[-1].lineno}: "
    return {
        "code": None,
        "message": f"{place}{type(e).__name__}: {e}",
        "fix": "fix the code and save: `paved dev` imports it again",
    }


def answer(root: Path) -> dict[str, object]:
    """``paved gen``'s code path on ``root``: the files and what each worker imports, or the error."""
    try:
        project = Project.load(root)
        files = project.generate()
        import yaml

        workers = yaml.safe_load(files["workers.yaml"]) or {}
        modules = {w["name"]: list(w.get("modules", [])) for w in workers.get("workers", [])}
        return {"files": files, "worker_files": worker_files(project, modules)}
    except Exception as e:  # the developer's code: any error is an answer, not a crash
        return {"error": _error(e, root)}


def serve(root: Path) -> None:
    """Answer one generation per line read on stdin, each in a fork of this process.

    This process imports Paved, temporalio and pydantic once; each fork imports only
    the project's code (fresh: this process never imports it) and exits. Forking a
    process that has started no thread is safe; the answer comes back through a pipe.
    """
    import os

    out = sys.stdout
    sys.stdout = sys.stderr
    for _request in sys.stdin:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the fork: generate, answer, exit without cleanup
            os.close(r)
            try:
                data = json.dumps(answer(root)).encode()
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        if not data:
            data = json.dumps(
                {"error": {"code": None, "message": "paved gen crashed", "fix": None}}
            ).encode()
        out.write(data.decode() + "\n")
        out.flush()


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        root = Path(argv[1]).resolve()
        # What the project's code imports anyway: loaded once, here, not in every fork.
        import temporalio.client
        import temporalio.workflow  # noqa: F401

        serve(root)
        return 0
    root = Path(argv[0]).resolve()
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the project's code prints stays out of the answer
    out.write(json.dumps(answer(root)) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    import os

    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)  # the project's code may have started threads; never hang on them
