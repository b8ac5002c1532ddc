"""``specs.line_of``: the one lookup from an error location to a line of a YAML file."""

from __future__ import annotations

import yaml

from paved import specs

TEXT = """\
project: demo
namespaces:
  imagegen:
    owner: team-x
    tier: 1
workers:
  - name: a
  - name: b
    replicas: two
"""


def test_keys_and_list_items_have_their_own_line() -> None:
    assert specs.line_of(TEXT, ("namespaces", "imagegen", "tier")) == 5
    assert specs.line_of(TEXT, ("workers", 1, "replicas")) == 9
    assert specs.line_of(TEXT, ("workers", 1)) == 8


def test_a_location_that_leaves_the_document_gives_the_deepest_key_found() -> None:
    assert specs.line_of(TEXT, ("namespaces", "imagegen", "retention")) == 3
    assert specs.line_of(TEXT, ("workers", 7, "name")) == 6


def test_a_composed_tree_and_text_agree_and_bad_yaml_has_no_line() -> None:
    node = yaml.compose(TEXT)
    assert (
        specs.line_of(node, ("workers", 0, "name"))
        == specs.line_of(TEXT, ("workers", 0, "name"))
        == 7
    )
    assert specs.line_of("a: [1, 2", ("a",)) is None
