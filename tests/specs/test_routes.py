"""``paved.specs.Routes``: the one logical <-> physical namespace map, hyphenated names included."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_project

from paved import ProjectError, dashboard, specs
from paved.proxy import ProxyConfig

PROJECT = """\
project: hy
packages: [hy_pkg]
regions: [us-east, eu]
environments: [pre-prod, dev]
namespaces:
  shop:
    owner: team-shop
  shop-eu:
    owner: team-shop
    regions: [eu]
"""


@pytest.fixture
def project(tmp_path: Path) -> specs.Project:
    return specs.Project.load(write_project(tmp_path / "p", {"paved.yaml": PROJECT}))


def test_names_map_both_ways_with_hyphens(project: specs.Project) -> None:
    routes = project.routes()  # no generated specs yet: the names `paved gen` will write
    r = routes.require("shop", "us-east", "pre-prod")
    assert r.physical == "shop-pre-prod-us-east"
    back = routes.by_physical("shop-pre-prod-us-east")
    assert back is not None
    assert (back.logical, back.region, back.environment) == ("shop", "us-east", "pre-prod")
    # A logical name that is itself a prefix of another one's physical names.
    assert routes.logical_of("shop-eu-pre-prod-eu") == "shop-eu"
    assert routes.logical_of("shop-pre-prod-eu") == "shop"
    assert routes.logical_of("shop") == "shop"  # sent as is through the proxy
    assert routes.logical_of("shop-pre-prod-us") is None
    assert [x.physical for x in routes.in_environment("pre-prod")] == [
        "shop-eu-pre-prod-eu",
        "shop-pre-prod-eu",
        "shop-pre-prod-us-east",
    ]
    with pytest.raises(ProjectError) as e:
        routes.require("shop-eu", "us-east", "dev")
    assert e.value.code == "PAVED-PROJECT-NO-ROUTE" and "eu/dev" in str(e.value)


def test_the_specs_routes_equal_the_project_file_routes(project: specs.Project) -> None:
    built = specs.Routes.from_specs(project.namespace_specs())
    assert sorted(r.physical for r in built.all()) == sorted(
        r.physical for r in project.routes().all()
    )
    assert len(built) == 6  # shop: 2 regions x 2 envs; shop-eu: 1 x 2


def test_codec_resolver_uses_routes_not_the_hyphens(project: specs.Project) -> None:
    resolve = dashboard.namespace_resolver(routes=project.routes())
    assert resolve("shop-pre-prod-us-east") == "shop"
    assert resolve("shop-eu-dev-eu") == "shop-eu"
    assert resolve("shop-a-b") is None
    # What the name-splitting guess (kept only for a codec server without a project)
    # cannot do: it refuses hyphenated regions and environments rather than guess wrong.
    assert specs.Routes.guess_logical("shop-pre-prod-us-east", ["shop", "shop-eu"]) is None


def test_proxy_config_routes_are_specs_routes() -> None:
    cfg = ProxyConfig.model_validate(
        {"routes": [{"logical": "a", "physical": "a-pre-prod-us-east", "region": "us-east",
                     "environment": "pre-prod", "rate_limit": {"actions_per_second": 5}}]}
    )  # fmt: skip
    (route,) = cfg.routes
    assert isinstance(route, specs.Route) and route.rate_limit.actions_per_second == 5
    with pytest.raises(ValueError, match="typo"):
        ProxyConfig.model_validate(
            {"routes": [{"logical": "a", "physical": "p", "region": "r", "environment": "e",
                         "typo": 1}]}
        )  # fmt: skip
