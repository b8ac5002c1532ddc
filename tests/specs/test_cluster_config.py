"""Clusters and autoscalers in paved.yaml: optional, validated where the user writes them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paved import ProjectError
from paved.specs import AutoscalerConfig, ProjectConfig, TemporalEndpoint, cluster_for


def _config(**extra: object) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "project": "shop",
            "packages": ["shop"],
            "regions": ["eu", "us-east"],
            "environments": ["prod", "pre-prod"],
            **extra,
        }
    )


def test_a_project_without_clusters_is_unchanged() -> None:
    c = _config()
    assert c.clusters == {} and c.autoscaler is None
    assert c.autoscaler_of("anything").kind == "none"


def test_each_region_and_environment_maps_to_its_cluster() -> None:
    c = _config(
        clusters={
            "eu": {"region": "eu", "temporal": {"address": "eu.internal:7233"}},
            "us-prod": {
                "region": "us-east",
                "environments": ["prod"],
                "temporal": {"address": "us.internal:7233", "tls": True},
                "kubernetes": {"context": "us-prod"},
            },
            "us-pre": {
                "region": "us-east",
                "environments": ["pre-prod"],
                "temporal": {"address": "us-pre.internal:7233"},
            },
        }
    )
    found = cluster_for(c.clusters, "eu", "pre-prod")
    assert found is not None and found[0] == "eu"
    found = cluster_for(c.clusters, "us-east", "prod")
    assert found is not None and found[0] == "us-prod"
    assert found[1].kubernetes is not None and found[1].kubernetes.context == "us-prod"
    assert cluster_for(c.clusters, "ap", "prod") is None


def test_a_region_without_a_cluster_is_named_with_the_fix() -> None:
    with pytest.raises(ValidationError) as e:
        _config(clusters={"eu": {"region": "eu", "temporal": {"address": "eu:7233"}}})
    text = str(e.value)
    assert "no cluster serves region 'us-east', environment 'pre-prod'" in text
    assert "region: us-east" in text


def test_two_clusters_for_one_region_are_refused() -> None:
    with pytest.raises(ValidationError, match="clusters a, b all serve region 'eu'"):
        _config(
            regions=["eu"],
            clusters={
                "a": {"region": "eu", "temporal": {"address": "a:7233"}},
                "b": {"region": "eu", "temporal": {"address": "b:7233"}},
            },
        )


def test_api_key_comes_from_its_source_never_from_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    ep = TemporalEndpoint(address="eu:7233", api_key_env="PAVED_TEST_EU_KEY")
    monkeypatch.delenv("PAVED_TEST_EU_KEY", raising=False)
    with pytest.raises(ProjectError) as e:
        ep.api_key()
    assert e.value.code == "PAVED-CLUSTER-API-KEY" and "PAVED_TEST_EU_KEY" in str(e.value)
    monkeypatch.setenv("PAVED_TEST_EU_KEY", "k-123")
    assert ep.api_key() == "k-123"
    assert "k-123" not in repr(ep)
    with pytest.raises(ValidationError, match="not both"):
        TemporalEndpoint(address="x:1", api_key_env="A", api_key_file="/f")


def test_autoscaler_defaults_and_bounds() -> None:
    c = _config(
        autoscaler={"kind": "hpa", "max_replicas": 8},
        workers={"render": {"autoscaler": {"kind": "keda", "min_replicas": 0}}},
    )
    assert c.autoscaler_of("render").kind == "keda"
    assert c.autoscaler_of("render").min_replicas == 0
    assert c.autoscaler_of("other").kind == "hpa"
    with pytest.raises(ValidationError, match="cannot scale to zero"):
        AutoscalerConfig(kind="hpa", min_replicas=0)
    with pytest.raises(ValidationError, match="above max_replicas"):
        AutoscalerConfig(kind="keda", min_replicas=5, max_replicas=2)
