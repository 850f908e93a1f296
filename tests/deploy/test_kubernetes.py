"""deploy/kubernetes: every manifest valid against the Kubernetes schemas (kubernetes-validate,
offline, strict: an unknown field is an error), the Prometheus Operator's two kinds against
the part of their CRDs the base uses, the PrometheusRule generated from rules.yml, and the
promises of the README: two replicas on PostgreSQL, every secret from a Secret, the health
endpoints, a non-root read-only container, sized from the benchmark."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from outagewatch.cli.main import main
from tests.deploy.conftest import PROMETHEUS, ROOT
from tests.deploy.kubernetes import (
    CRD_SCHEMAS,
    KUBERNETES,
    KUBERNETES_VERSION,
    documents,
    key,
    render,
)
from tests.deploy.test_packaging import SECRET_NAME, env_file, password_envs

RENDERED = render()
BY_KIND = {key(doc): doc for doc in RENDERED}
JOBS = [doc for path in sorted((KUBERNETES / "jobs").glob("*.yaml")) for doc in documents(path)]
MANIFESTS = RENDERED + JOBS


def by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [doc for (k, _), doc in BY_KIND.items() if k == kind]
    return doc


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(doc["metadata"]["name"], doc["spec"]["template"]["spec"])
            for doc in MANIFESTS if doc["kind"] in ("Deployment", "Job")]  # fmt: skip


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(by_kind("ConfigMap")["data"]["outagewatch.yaml"])
    return loaded


def test_the_base_holds_what_the_issue_lists() -> None:
    assert sorted(BY_KIND) == [
        ("ConfigMap", "outagewatch-config"), ("Deployment", "outagewatch"),
        ("PodDisruptionBudget", "outagewatch"), ("PrometheusRule", "outagewatch"),
        ("Service", "outagewatch"), ("ServiceMonitor", "outagewatch"),
    ]  # fmt: skip


@pytest.mark.parametrize("doc", MANIFESTS, ids=lambda d: "/".join(key(d)))
def test_valid_against_the_schemas(doc: dict[str, Any]) -> None:
    if doc["kind"] in CRD_SCHEMAS:
        jsonschema.Draft202012Validator(CRD_SCHEMAS[doc["kind"]]).validate(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_can_fail() -> None:
    deployment = by_kind("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    rule = by_kind("PrometheusRule")
    group = {**rule["spec"]["groups"][0], "rules": [{"alert": "X", "expr": "up", "for": "5 min"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**rule, "spec": {"groups": [group]}}, CRD_SCHEMAS["PrometheusRule"])


def test_kubectl_kustomize_renders_the_same() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (not in Debian); the render above stands alone")
    done = subprocess.run(  # noqa: S603 - kubectl with our own arguments, offline
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    theirs = {key(doc): doc for doc in yaml.safe_load_all(done.stdout) if doc}
    assert theirs == BY_KIND


def test_the_prometheus_rule_is_generated_from_rules_yml() -> None:
    spec = spec_from_file_location_generate()
    assert (KUBERNETES / "prometheusrule.yaml").read_text() == spec.render(), (
        "deploy/kubernetes/prometheusrule.yaml is stale: run `make kubernetes`"
    )
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    assert by_kind("PrometheusRule")["spec"]["groups"] == rules["groups"]


def spec_from_file_location_generate() -> Any:
    found = importlib.util.spec_from_file_location("generate", KUBERNETES / "generate.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_two_replicas_on_postgresql_with_the_agreements_platforms() -> None:
    assert by_kind("Deployment")["spec"]["replicas"] == 2
    assert by_kind("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    ours = config()
    assert ours["database"].startswith("postgresql+asyncpg://")
    assert "@" in ours["database"] and ":" not in ours["database"].split("//")[1].split("@")[0]
    assert ours["api"]["listen"] == "0.0.0.0:8080"
    example = yaml.safe_load((ROOT / "config" / "ox-cloud.example.yaml").read_text())
    differ = {k for k in example.keys() | ours.keys() if example.get(k) != ours.get(k)}
    assert differ == {"database", "api", "vantage", "probe_workers"}
    # No CPU limit on the pod: "auto" would start a worker for every CPU of the node.
    assert ours["probe_workers"] == 2
    (container,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    assert "cpu" not in container["resources"].get("limits", {})


def test_every_secret_comes_from_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (_, pod), *_ = pod_specs()
    (container,) = pod["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert password_envs(config()) | {"PGPASSWORD"} == set(refs)
    assert all(ref == {"name": "outagewatch-secrets", "key": name} for name, ref in refs.items())
    for _, spec in pod_specs():
        for c in spec["containers"]:
            literal = [e["name"] for e in c.get("env", []) if "value" in e]
            assert not [n for n in literal if SECRET_NAME.search(n)], c["name"]
    # The README builds the Secret from the systemd example's file: it names them all.
    assert set(refs) <= set(env_file(ROOT / "deploy/systemd/secrets.env.example")) | {"PGPASSWORD"}
    # And the daemon's own check accepts the config with exactly those variables set.
    path = tmp_path / "outagewatch.yaml"
    path.write_text(by_kind("ConfigMap")["data"]["outagewatch.yaml"])
    for name in refs:
        monkeypatch.setenv(name, "from-the-secret")
    assert main(["check-config", "--secrets", "-c", str(path)]) == 0


def test_probes_on_healthz_and_readyz() -> None:
    (container,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in container["ports"]


@pytest.mark.parametrize("name,pod", pod_specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_non_root_read_only_no_privileges(name: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert container["resources"]["requests"] and container["resources"]["limits"], name
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/outagewatch"]["readOnly"] is True, name
        assert "/tmp" in mounts, name  # a writable /tmp on a read-only root


def test_sized_from_the_benchmark() -> None:
    """docs/BENCHMARKS.md: peak RSS 186-187 MB at 10,000 services, the deployed daemon."""
    (container,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    resources = container["resources"]
    mib = {"Mi": 1, "Gi": 1024}
    limit = int(resources["limits"]["memory"][:-2]) * mib[resources["limits"]["memory"][-2:]]
    assert limit * 1.048576 >= 2 * 187
    assert "cpu" not in resources["limits"]  # throttled timers would be slow probes
    assert "186\u2013187 MB for 10,000" in (ROOT / "docs" / "BENCHMARKS.md").read_text()


def test_service_monitor_and_service_select_the_pods() -> None:
    pods = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = by_kind("Service")
    assert service["spec"]["selector"].items() <= pods.items()
    assert by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pods.items()
    monitor = by_kind("ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The Operator names the job after the Service; the alerts select job="outagewatch".
    assert service["metadata"]["name"] == "outagewatch"
    assert 'up{job="outagewatch"}' in (PROMETHEUS / "rules.yml").read_text()
    scrape = yaml.safe_load((PROMETHEUS / "scrape.yml").read_text())["scrape_configs"][0]
    assert endpoint["interval"] == scrape["scrape_interval"]
