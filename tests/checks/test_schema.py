"""Golden schemas: each rule with a breaking and a safe change; exceptions; the gen/check flow."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from temporalio import workflow

from paved.checks import _schema, _schema_check

PAVED = Path(sys.executable).parent / "paved"


class V1(BaseModel):
    prompt: str = Field(max_length=100)
    size: int = 64
    mode: Literal["fast", "slow"] = "fast"


class AddedRequired(V1):
    user: str


class AddedOptional(V1):
    user: str = ""


class TypeChanged(BaseModel):
    prompt: str = Field(max_length=100)
    size: str = "64"
    mode: Literal["fast", "slow"] = "fast"


class EnumRemoved(BaseModel):
    prompt: str = Field(max_length=100)
    size: int = 64
    mode: Literal["fast"] = "fast"


class EnumAdded(BaseModel):
    prompt: str = Field(max_length=100)
    size: int = 64
    mode: Literal["fast", "slow", "turbo"] = "fast"


class Tightened(BaseModel):
    prompt: str = Field(max_length=10)
    size: int = 64
    mode: Literal["fast", "slow"] = "fast"


class Loosened(BaseModel):
    prompt: str = Field(max_length=1000)
    size: int = 64
    mode: Literal["fast", "slow"] = "fast"


class Removed(BaseModel):
    prompt: str = Field(max_length=100)
    mode: Literal["fast", "slow"] = "fast"


class V1Out(BaseModel):
    url: str
    size: int


class OutRemoved(BaseModel):
    url: str


class OutAdded(BaseModel):
    url: str
    size: int
    sha: str = ""


def rules(old: Any, new: Any, *, output: bool = False) -> list[_schema_check.SchemaFinding]:
    return _schema_check._io(
        "T",
        "output" if output else "input[x]",
        _schema.schemas_for(old),
        _schema.schemas_for(new),
        new,
        output=output,
    )


@pytest.mark.parametrize(
    ("rule", "breaking", "safe", "output"),
    [
        ("FIELD_ADDED_REQUIRED", AddedRequired, AddedOptional, False),
        ("FIELD_TYPE_CHANGED", TypeChanged, AddedOptional, False),
        ("ENUM_VALUE_REMOVED", EnumRemoved, EnumAdded, False),
        ("CONSTRAINT_TIGHTENED", Tightened, Loosened, False),
        ("FIELD_REMOVED", OutRemoved, OutAdded, True),
    ],
)
def test_field_rules(rule: str, breaking: Any, safe: Any, output: bool) -> None:
    old = V1Out if output else V1
    found = rules(old, breaking, output=output)
    assert [f.rule for f in found] == [rule], [f.format() for f in found]
    f = found[0]
    assert f.example is not None and f.fix
    if not output:  # the new model itself rejects the example payload
        assert f.model_error is not None
        with pytest.raises(Exception):  # noqa: B017
            breaking.model_validate(f.example)
        V1.model_validate(f.example)  # and the old one produced/accepted it
    assert rules(old, safe, output=output) == []


def test_enum_value_added_breaks_old_readers_of_an_output() -> None:
    class Out(BaseModel):
        state: Literal["done", "failed"]

    class Out2(BaseModel):
        state: Literal["done", "failed", "partial"]

    found = rules(Out, Out2, output=True)
    assert [f.rule for f in found] == ["ENUM_VALUE_ADDED"]
    assert found[0].example == {"state": "partial"}
    assert rules(Out, Out, output=True) == []


@workflow.defn(name="Flow")
class Flow1:
    @workflow.run
    async def run(self, req: V1) -> V1Out:
        raise NotImplementedError

    @workflow.signal
    def cancel(self, reason: str) -> None: ...

    @workflow.query
    def status(self) -> str:
        return ""


@workflow.defn(name="Flow")
class Flow2:
    @workflow.run
    async def run(self, req: V1, priority: int) -> V1Out:
        raise NotImplementedError

    @workflow.query
    def state(self) -> str:
        return ""


@workflow.defn(name="Flow")
class Flow3:
    @workflow.run
    async def run(self, req: V1, priority: int = 0) -> V1Out:
        raise NotImplementedError

    @workflow.signal
    def cancel(self, reason: str) -> None: ...

    @workflow.signal
    def pause(self) -> None: ...

    @workflow.query
    def status(self) -> str:
        return ""


class Ping(BaseModel):
    kind: Literal["ping"] = "ping"
    at: int


class Pong(BaseModel):
    kind: Literal["pong"] = "pong"
    reply: str


class Bye(BaseModel):
    kind: Literal["bye"] = "bye"


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Events(BaseModel):
    events: list[Ping | Pong] = Field(default_factory=list)
    tree: Node | None = None


class EventsWithBye(BaseModel):
    events: list[Ping | Pong | Bye] = Field(default_factory=list)
    tree: Node | None = None


def test_tagged_unions_and_recursive_types_compare_member_by_member() -> None:
    """Each member of a union is compared with the member that accepts it (the one
    with the same tag), not with the first member of the same JSON type; a
    recursive type ends; an unchanged type is never a break."""
    assert rules(Events, Events, output=True) == []
    assert rules(Events, EventsWithBye) == []  # a reader that accepts one more member
    found = rules(Events, EventsWithBye, output=True)  # old readers meet a new member
    assert found and {f.rule for f in found} <= {"ENUM_VALUE_ADDED", "FIELD_REMOVED"}
    assert all(f.path.startswith("events[]") for f in found), [f.format() for f in found]


def test_surface_rules() -> None:
    old = _schema.workflow_doc("Flow", Flow1)
    broken = _schema_check.compare_docs(
        old, _schema.workflow_doc("Flow", Flow2), _schema_check.types_of("workflow", Flow2)
    )
    assert sorted(f.rule for f in broken) == [
        "PARAM_ADDED_REQUIRED",
        "QUERY_REMOVED",
        "SIGNAL_REMOVED",
    ]
    safe = _schema_check.compare_docs(
        old, _schema.workflow_doc("Flow", Flow3), _schema_check.types_of("workflow", Flow3)
    )
    assert safe == []  # a defaulted parameter and a new signal are compatible
    gone = _schema_check.compare_docs(old, None)
    assert [f.rule for f in gone] == ["WORKFLOW_REMOVED"]
    back = _schema_check.compare_docs(
        _schema.workflow_doc("Flow", Flow3),
        _schema.workflow_doc("Flow", Flow1),
        _schema_check.types_of("workflow", Flow1),
    )
    assert sorted(f.rule for f in back) == ["PARAM_REMOVED", "SIGNAL_REMOVED"]


def test_param_removed() -> None:
    old = _schema.workflow_doc("Flow", Flow3)
    found = _schema_check._params("Flow", "input", old["input"], old["input"][:1], [V1])
    assert [f.rule for f in found] == ["PARAM_REMOVED"]


def test_exception_needs_a_reason(tmp_path: Path) -> None:
    (tmp_path / "exceptions.yaml").write_text(
        "exceptions:\n  - {rule: FIELD_REMOVED, type: Flow}\n"
    )
    from paved import ProjectError

    with pytest.raises(ProjectError, match="reason"):
        _schema_check.load_exceptions(tmp_path / "exceptions.yaml")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAVED), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_gen_check_flow_with_an_accepted_exception(tmp_path: Path) -> None:
    """Real CLI in fresh processes: a break fails check and gen; a reasoned exception lets it through."""
    pkg = f"schemaflow_{tmp_path.name[-6:].replace('-', '_')}"
    (tmp_path / "paved.yaml").write_text(
        f"project: p\npackages: [{pkg}]\nregions: [local]\nenvironments: [dev]\n"
        "namespaces:\n  shop: {owner: team, tier: 2, retention: 1d}\n"
    )
    code = textwrap.dedent(
        """
        from pydantic import BaseModel
        from temporalio import workflow
        import paved

        class Order(BaseModel):
            item: str
            {extra}

        @paved.activity(namespace="shop", worker="w")
        async def charge(order: Order) -> str:
            return order.item

        @paved.workflow(namespace="shop", worker="w")
        class Checkout:
            @workflow.run
            async def run(self, order: Order) -> str:
                return await paved.execute_activity(charge, order)
        """
    )
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "flows.py").write_text(code.replace("{extra}", ""))
    assert _run("schema", "gen", cwd=tmp_path).returncode == 0
    assert _run("schema", "check", cwd=tmp_path).returncode == 0
    (tmp_path / pkg / "flows.py").write_text(code.replace("{extra}", "quantity: int"))
    r = _run("schema", "check", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FIELD_ADDED_REQUIRED: Checkout input[order] field quantity" in r.stdout
    assert "FIELD_ADDED_REQUIRED: charge input[order] field quantity" in r.stdout
    assert 'breaks on: {"item": "x"}' in r.stdout and "Field required" in r.stdout
    assert _run("schema", "gen", cwd=tmp_path).returncode == 1  # refuses to bless a break
    (tmp_path / "schemas" / "exceptions.yaml").write_text(
        "exceptions:\n  - rule: FIELD_ADDED_REQUIRED\n    path: quantity\n"
        "    reason: no order is in flight; the queue was drained before this deploy\n"
    )
    r = _run("schema", "check", cwd=tmp_path)
    assert "accepted in exceptions.yaml: no order is in flight" in r.stdout
    assert _run("schema", "gen", cwd=tmp_path).returncode == 0
    assert _run("schema", "check", cwd=tmp_path).returncode == 0
