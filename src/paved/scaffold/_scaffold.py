"""``paved new worker``: generate a ready managed worker in a project.

Called by ``paved.cli._new`` (which asks the questions) and usable on its own
(``scaffold_worker(ScaffoldRequest(...))``). For worker ``W`` in logical
namespace ``N`` it writes, from the Jinja templates under ``templates/``:

    <pkg>/__init__.py, models.py, activities.py, workflows.py   stubs (pkg = W with '-' -> '_')
    tests/test_<pkg>.py                                         their tests, on a real dev server
    deploy/W/Dockerfile                                         the golden image
    deploy/W/k8s/*.yaml                                         the caller's manifests

and adds ``N`` (if new), ``W`` and ``<pkg>`` to ``paved.yaml`` by inserting text,
so that the file's comments and layout survive. Then it runs the ``paved gen``
logic, so specs/ list the new worker, and asks the caller's ``manifests``
function (``paved.operator.render_k8s`` from ``paved new worker``) for the
worker's manifests: scaffold and operator are services of one layer and never
import each other, so the CLI hands one to the other.

Nothing is overwritten: every target is checked before the first write, and if
``gen`` fails after the files are written, they are removed and ``paved.yaml``
is restored.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from paved import sdk, specs
from paved._errors import PavedError, ProjectError
from paved._paths import find_project_root
from paved.scaffold import _yaml_edit as yaml_edit

# The decorators' rule for namespace and worker names (one home: paved.sdk).
NAME_RE = re.compile(sdk.NAME_PATTERN)
# A Kubernetes label value: the owner is put on every object for paging.
OWNER_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
# Package names that would shadow something the worker itself imports.
_RESERVED_PACKAGES = frozenset(
    {"paved", "temporalio", "pydantic", "tests", "test", "deploy", "specs"}
)

# Renders a worker's manifests, ``{file name: YAML}``, from its spec and the project name.
ManifestRenderer = Callable[[specs.WorkerSpec, str], Mapping[str, str]]


@dataclass(frozen=True)
class ScaffoldRequest:
    """What ``paved new worker`` asks for.

    Attributes:
        root: project directory (created, with a ``paved.yaml``, if needed).
        name: worker name (``image-gen``); the package is ``image_gen``.
        owner: team handle, a Kubernetes label value (``team-images``).
        namespace: logical namespace; added to ``paved.yaml`` if new.
        tier, retention: used only when the namespace is new.
    """

    root: Path
    name: str
    owner: str
    namespace: str
    tier: int = sdk.DEFAULT_TIER
    retention: str = specs.DEFAULT_RETENTION


@dataclass
class ScaffoldResult:
    """What was written, relative to the project root, and the worker's spec."""

    root: Path
    created: list[Path] = field(default_factory=list)
    modified: list[Path] = field(default_factory=list)
    specs_written: list[Path] = field(default_factory=list)
    spec: specs.WorkerSpec | None = None
    notes: list[str] = field(default_factory=list)


# ----- names ------------------------------------------------------------------------


def check_name(what: str, value: str) -> str:
    """Validate a worker or namespace name with the decorators' rule; return it."""
    if not NAME_RE.match(value or ""):
        raise ProjectError(
            f"{what} name {value!r} is not valid",
            code="PAVED-NEW-NAME",
            fix="use lower-case letters, digits and '-', starting with a letter, at most 63 "
            "characters (e.g. 'image-gen')",
        )
    if value.endswith("-"):
        # The decorators allow it, but Kubernetes object names must end alphanumeric.
        raise ProjectError(
            f"{what} name {value!r} ends with '-'",
            code="PAVED-NEW-NAME",
            fix="end the name with a letter or digit (it names Kubernetes objects)",
        )
    return value


def check_owner(value: str) -> str:
    if not OWNER_RE.match(value or ""):
        raise ProjectError(
            f"owner {value!r} is not a team handle",
            code="PAVED-NEW-OWNER",
            fix="use letters, digits, '-', '_' and '.', at most 63 characters (e.g. 'team-images'); "
            "it labels every Kubernetes object and routes alerts",
        )
    return value


def check_tier(value: int) -> int:
    if value not in sdk.TIERS:
        raise ProjectError(
            f"tier {value!r} is not a tier",
            code="PAVED-NEW-TIER",
            fix="use 0 (critical), 1, 2 or 3 (best effort)",
        )
    return value


def check_retention(value: str) -> str:
    try:
        specs.retention_days(value)
    except ValueError as e:
        # The message already says what a retention looks like.
        raise ProjectError(str(e), code="PAVED-NEW-RETENTION") from None
    return value


def package_name(worker: str) -> str:
    """``image-gen`` -> ``image_gen`` (the worker's Python package)."""
    return worker.replace("-", "_")


def _camel(worker: str) -> str:
    return "".join(part.capitalize() for part in worker.split("-") if part)


def project_name(directory: Path) -> str:
    """A valid ``project:`` name from a directory name (``My_Repo`` -> ``my-repo``)."""
    s = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    s = re.sub(r"^[^a-z]+", "", s)[:63].rstrip("-")
    return s or "paved-project"


def find_root(start: Path | None = None) -> Path:
    """The nearest directory holding ``paved.yaml`` from ``start`` up, else ``start``."""
    return find_project_root(start) or Path(start or Path.cwd()).resolve()


# ----- templates --------------------------------------------------------------------


def _yaml_scalar(v: Any) -> str:
    """A scalar as YAML text: plain when safe, quoted when needed."""
    text: str = yaml.safe_dump(v, default_flow_style=True, width=1000)
    return text.removesuffix("\n").removesuffix("\n...")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("paved.scaffold", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # paved.yaml uses `y`, which quotes only when YAML needs it.
    env.filters["y"] = _yaml_scalar
    return env


def _render(name: str, **ctx: Any) -> str:
    return _env().get_template(name).render(**ctx)


# ----- plan: everything computed and checked before the first write ------------------


@dataclass
class _Plan:
    root: Path
    project: str
    create: dict[Path, str] = field(default_factory=dict)
    modify: dict[Path, tuple[str, str]] = field(default_factory=dict)  # path -> (old, new)
    notes: list[str] = field(default_factory=list)


def check_available(root: Path, name: str) -> None:
    """Refuse a worker name already used by the project (paved.yaml, specs, files)."""
    pkg = package_name(name)
    if keyword.iskeyword(pkg) or pkg in _RESERVED_PACKAGES or pkg in sys.stdlib_module_names:
        raise ProjectError(
            f"worker {name!r} would create package {pkg!r}, which shadows a module of the same name",
            code="PAVED-NEW-NAME",
            fix="choose another name, e.g. add '-worker'",
        )
    if (root / specs.PROJECT_FILE).exists():
        config = specs.Project.load(root).config
        if name in config.workers:
            raise ProjectError(
                f"worker {name!r} already exists in {root / specs.PROJECT_FILE} (workers.{name}); nothing was changed",
                code="PAVED-NEW-EXISTS",
                fix="choose another name, or edit the existing worker",
            )
        workers_spec = root / config.specs_dir / "workers.yaml"
        if workers_spec.exists():
            data = yaml.safe_load(workers_spec.read_text(encoding="utf-8")) or {}
            if name in {w.get("name") for w in data.get("workers") or []}:
                raise ProjectError(
                    f"worker {name!r} already exists in {workers_spec} (declared by decorators); nothing was changed",
                    code="PAVED-NEW-EXISTS",
                    fix="choose another name",
                )
    for rel in (Path(pkg), Path("deploy") / name, Path("tests") / f"test_{pkg}.py"):
        if (root / rel).exists():
            raise ProjectError(
                f"{root / rel} already exists; refusing to overwrite it, nothing was changed",
                code="PAVED-NEW-EXISTS",
                fix="choose another worker name, or move that path away",
            )


def _plan(req: ScaffoldRequest) -> _Plan:
    root = req.root.resolve()
    check_name("worker", req.name)
    check_name("namespace", req.namespace)
    check_owner(req.owner)
    check_tier(req.tier)
    check_retention(req.retention)
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is not a directory", code="PAVED-NEW-PROJECT")
    check_available(root, req.name)

    pkg = package_name(req.name)
    camel = _camel(req.name)
    project_file = root / specs.PROJECT_FILE
    existing = specs.Project.load(root).config if project_file.exists() else None
    project = existing.project if existing else project_name(root)
    ctx: dict[str, Any] = {
        "project": project,
        "worker": req.name,
        "namespace": req.namespace,
        "owner": req.owner,
        "tier": req.tier,
        "retention": req.retention,
        "package": pkg,
        "workflow_class": f"{camel}Workflow",
        "activity": f"{pkg}_step",
        "input_model": f"{camel}Request",
        "output_model": f"{camel}Result",
        "image": f"{req.name}:latest",
        "http_port": specs.WORKER_HTTP_PORT,
        "uid": specs.WORKER_UID,
    }
    plan = _Plan(root=root, project=project)
    for module in ("__init__", "models", "activities", "workflows"):
        plan.create[root / pkg / f"{module}.py"] = _render(f"package/{module}.py.j2", **ctx)
    plan.create[root / "tests" / f"test_{pkg}.py"] = _render("test_worker.py.j2", **ctx)
    plan.create[root / "deploy" / req.name / "Dockerfile"] = _render("Dockerfile.j2", **ctx)

    if existing is None:
        plan.create[project_file] = _render("paved.yaml.j2", **ctx)
    else:
        old = project_file.read_text(encoding="utf-8")
        new = old
        if pkg not in existing.packages:
            new = yaml_edit.add_list_item(new, "packages", pkg)
        ns = existing.namespaces.get(req.namespace)
        if ns is None:
            new = yaml_edit.add_mapping_entry(
                new,
                "namespaces",
                req.namespace,
                {"owner": req.owner, "tier": req.tier, "retention": req.retention},
            )
        else:
            plan.notes.append(
                f"namespace {req.namespace!r} already exists (owner {ns.owner}, tier {ns.tier}, "
                f"retention {ns.retention}); the worker uses its tier and retention"
            )
        new = yaml_edit.add_mapping_entry(
            new, "workers", req.name, {"owner": req.owner, "replicas": 1}
        )
        _check_edit(project_file, new, req, pkg)
        plan.modify[project_file] = (old, new)

    if not (root / "pyproject.toml").exists():
        plan.create[root / "pyproject.toml"] = _render("pyproject.toml.j2", **ctx)
    elif not (root / pkg).exists():
        plan.notes.append(
            f"pyproject.toml exists: make sure it packages {pkg!r} (the Dockerfile pip-installs the project)"
        )
    # One CI config and pre-commit hook per repo: `paved check` (docs/checks.md).
    for target, template in (
        (root / ".github" / "workflows" / "paved.yml", "ci.yml.j2"),
        (root / ".pre-commit-config.yaml", "pre-commit-config.yaml.j2"),
    ):
        if not target.exists():
            plan.create[target] = _render(template, **ctx)
    for ignore_file, lines in (
        (".gitignore", [".paved/"]),
        (".dockerignore", [".paved/", ".git/", ".venv/", "**/__pycache__"]),
    ):
        _append_lines(plan, root / ignore_file, lines)
    return plan


def _check_edit(path: Path, text: str, req: ScaffoldRequest, pkg: str) -> None:
    """The edited paved.yaml must still validate and contain what was added."""
    try:
        cfg = specs.ProjectConfig.model_validate(yaml.safe_load(text))
    except Exception as e:
        raise ProjectError(
            f"could not add the worker to {path} without breaking it ({type(e).__name__}); nothing was changed",
            code="PAVED-NEW-EDIT",
            fix=f"add `{req.name}:` under `workers:` and `{req.namespace}:` under `namespaces:` by hand, "
            "or simplify the file's layout (block style)",
        ) from None
    if (
        pkg not in cfg.packages
        or req.name not in cfg.workers
        or req.namespace not in cfg.namespaces
    ):
        raise ProjectError(
            f"editing {path} lost an entry; nothing was changed", code="PAVED-NEW-EDIT"
        )


def _append_lines(plan: _Plan, path: Path, lines: list[str]) -> None:
    if not path.exists():
        plan.create[path] = "\n".join(lines) + "\n"
        return
    old = path.read_text(encoding="utf-8")
    present = {ln.strip() for ln in old.splitlines()}
    missing = [ln for ln in lines if ln not in present and ln.rstrip("/") not in present]
    if missing:
        sep = "" if not old or old.endswith("\n") else "\n"
        plan.modify[path] = (old, old + sep + "\n".join(missing) + "\n")


# ----- apply ------------------------------------------------------------------------


class _Transaction:
    """Files written so far, so that a failure can put everything back."""

    def __init__(self) -> None:
        self.created: list[Path] = []
        self.dirs: list[Path] = []
        self.modified: list[tuple[Path, str]] = []

    def mkdirs(self, d: Path) -> None:
        missing = [p for p in [d, *d.parents] if not p.exists()]
        for p in reversed(missing):
            p.mkdir()
            self.dirs.append(p)

    def create(self, path: Path, text: str) -> None:
        self.mkdirs(path.parent)
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite
            f.write(text)
        self.created.append(path)

    def modify(self, path: Path, old: str, new: str) -> None:
        if path.read_text(encoding="utf-8") != old:
            raise ProjectError(
                f"{path} changed while scaffolding; nothing was changed", code="PAVED-NEW-RACE"
            )
        self.modified.append((path, old))
        path.write_text(new, encoding="utf-8")

    def rollback(self) -> None:
        for path, old in reversed(self.modified):
            path.write_text(old, encoding="utf-8")
        for p in reversed(self.created):
            p.unlink(missing_ok=True)
        for d in reversed(self.dirs):
            for cache in d.glob("__pycache__"):
                for f in cache.iterdir():
                    f.unlink()
                cache.rmdir()
            if d.exists() and not any(d.iterdir()):
                d.rmdir()


def scaffold_worker(
    req: ScaffoldRequest, *, manifests: ManifestRenderer | None = None
) -> ScaffoldResult:
    """Generate worker ``req.name`` in project ``req.root``; see the module docstring.

    ``manifests(spec, project)`` renders the worker's deployment files into
    ``deploy/<name>/k8s/`` (``paved new worker`` passes
    ``lambda spec, project: paved.operator.render_k8s(spec, project=project)``);
    without it no manifests are written.

    Raises:
        ProjectError: a bad name/owner/tier/retention (``PAVED-NEW-NAME`` ...),
            an existing worker, package or deploy dir (``PAVED-NEW-EXISTS``),
            or ``paved gen`` failing on the result (``PAVED-NEW-GEN``; all
            changes are undone).
    """
    plan = _plan(req)
    tx = _Transaction()
    try:
        for path, text in plan.create.items():
            tx.create(path, text)
        for path, (old, new) in plan.modify.items():
            tx.modify(path, old, new)
        project = specs.Project.load(plan.root)
        files = project.generate()
        workers = specs.WorkersFile.model_validate(yaml.safe_load(files["workers.yaml"]))
        spec = next((w for w in workers.workers if w.name == req.name), None)
        if spec is None:
            raise ProjectError(
                f"`paved gen` did not produce worker {req.name!r}", code="PAVED-NEW-GEN"
            )
        if manifests is not None:
            k8s_dir = plan.root / "deploy" / req.name / "k8s"
            for name, text in manifests(spec, plan.project).items():
                tx.create(k8s_dir / name, text)
        specs_written = project.write_specs(files)
    except PavedError as e:
        tx.rollback()
        if e.code.startswith("PAVED-NEW"):
            raise
        raise ProjectError(
            f"`paved gen` failed on the scaffolded project, so every change was undone: {e.message}",
            code="PAVED-NEW-GEN",
            fix=e.fix
            or "fix the project so that `paved gen` passes, then run `paved new worker` again",
        ) from e
    except BaseException:
        tx.rollback()
        raise
    rel = plan.root
    return ScaffoldResult(
        root=rel,
        created=[p.relative_to(rel) for p in tx.created],
        modified=[p.relative_to(rel) for p, _ in tx.modified],
        specs_written=[p.relative_to(rel) for p in specs_written],
        spec=spec,
        notes=plan.notes,
    )


# A valid input of the stub workflow (its model, templates/package/models.py.j2).
STUB_INPUT = '{"text": "hello"}'


def run_command(result: ScaffoldResult) -> str:
    """The ``paved run`` line of the scaffolded stub workflow, with a valid input."""
    assert result.spec is not None
    workflow = next(w for q in result.spec.queues for w in q.workflows)
    return f"paved run {workflow} --input '{STUB_INPUT}'"


def next_steps(result: ScaffoldResult) -> Iterator[tuple[str, str]]:
    """The commands to run after scaffolding, with what each does."""
    assert result.spec is not None
    w, pkg = result.spec.name, package_name(result.spec.name)
    yield (
        f"python -m pytest tests/test_{pkg}.py",
        "run the stubs' tests (starts a local Temporal dev server)",
    )
    yield "paved dev", "run Temporal, the proxy and every worker locally"
    yield (
        run_command(result),
        "in another terminal: start the stub workflow through `paved dev`, print its result",
    )
    yield f"paved worker run {w}", "run only this worker (PAVED_ADDRESS, PAVED_REGION, PAVED_ENV)"
    yield f"docker build -f deploy/{w}/Dockerfile -t {w}:latest .", "build the golden image"
    if any(p.parts[:3] == ("deploy", w, "k8s") for p in result.created):
        yield (
            f"kubectl apply -f deploy/{w}/k8s/",
            "deploy it (after `paved gen` changes, re-render the manifests)",
        )
    yield (
        f"git add paved.yaml specs/ {pkg}/ tests/test_{pkg}.py deploy/{w}/ && git commit",
        "commit the code, paved.yaml and specs/ together",
    )
