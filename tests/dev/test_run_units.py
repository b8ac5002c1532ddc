"""``paved run``'s checks that need no server: input parsing and validation, examples."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from paved import PavedError, specs
from paved.dev._run import Param, Workflow, example_input, parse_input


class Order(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = 1


def wf(*params: Param) -> Workflow:
    spec = specs.TypeSpec(
        name="OrderFlow", namespace="shop", task_queue="q", worker="w", module="m", qualname="O"
    )
    return Workflow(spec, params)


ONE = wf(Param("order", Order, True))
TWO = wf(Param("order", Order, True), Param("note", str, False))


def test_one_parameter_takes_the_json_value() -> None:
    (order,) = parse_input(ONE, '{"item": "tea"}')
    assert order == Order(item="tea", quantity=1)


def test_field_errors_are_named_as_pydantic_names_them() -> None:
    with pytest.raises(PavedError) as e:
        parse_input(ONE, '{"item": "", "quantity": "x"}')
    msg = str(e.value)
    assert e.value.code == "PAVED-RUN-INPUT" and "nothing was started" in msg
    assert "2 validation errors for Order" in msg
    assert "  item\n    String should have at least 1 character" in msg
    assert "  quantity\n    Input should be a valid integer" in msg
    assert "errors.pydantic.dev" not in msg


def test_several_parameters_take_an_array_and_errors_say_which() -> None:
    order, note = parse_input(TWO, '[{"item": "tea"}, "green"]')
    assert (order.item, note) == ("tea", "green")
    assert len(parse_input(TWO, '[{"item": "tea"}]')) == 1  # the optional one left out
    with pytest.raises(PavedError, match=r"  order\.item\n    Field required"):
        parse_input(TWO, "[{}]")
    with pytest.raises(PavedError, match="a JSON array of 1 to 2 items"):
        parse_input(TWO, '{"item": "tea"}')


def test_missing_or_unparsable_input_shows_a_valid_shape() -> None:
    with pytest.raises(PavedError) as e:
        parse_input(ONE, None)
    assert "`order: Order` is required" in str(e.value)
    assert e.value.fix == 'e.g. paved run OrderFlow --input \'{"item": "..."}\''
    with pytest.raises(PavedError, match="--input is not JSON"):
        parse_input(ONE, "{item: tea}")


def test_no_parameters() -> None:
    none = wf()
    assert parse_input(none, None) == [] and parse_input(none, "null") == []
    assert example_input(none) is None
    with pytest.raises(PavedError, match="takes no input"):
        parse_input(none, '{"a": 1}')


@pytest.mark.parametrize(
    ("tp", "example"),
    [(Order, {"item": "..."}), (int, 0), (list[str], []), (Any, None)],
)
def test_examples_have_the_required_shape(tp: Any, example: Any) -> None:
    from paved.dev._run import sample_input

    assert sample_input(tp) == example
