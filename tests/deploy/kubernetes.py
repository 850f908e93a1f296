"""deploy/kubernetes read as its tools read it.

``render`` builds the kustomization as ``kustomize build`` does for this base, which has only a
``resources`` list: every document of every file, in order. Where ``kubectl`` is installed
(``kubectl kustomize``), the tests compare the two; Debian has no kustomize.

The Prometheus Operator's kinds are not in the Kubernetes schemas that kubernetes-validate
bundles, and their CRDs are not at hand offline, so ``CRD_SCHEMAS`` writes down the part of
monitoring.coreos.com/v1 that the base uses (field names, types and duration patterns as the
CRDs declare them) and refuses any other field, as ``kubectl apply --validate=strict`` would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY

KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30"  # the oldest minor release still maintained when this was written


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(base: Path = KUBERNETES) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    # Nothing but resources: a transformer here would need rendering it does not do.
    assert set(kustomization) == {"apiVersion", "kind", "resources"}, sorted(kustomization)
    return [doc for name in kustomization["resources"] for doc in documents(base / name)]


def key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "labels": _STRINGS,
                   "annotations": _STRINGS, "namespace": {"type": "string"}},
    "additionalProperties": False,
}  # fmt: skip
_RULE = {
    "type": "object",
    "required": ["expr"],
    "properties": {
        "alert": {"type": "string"}, "record": {"type": "string"},
        "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "for": _DURATION, "keep_firing_for": _DURATION,
        "labels": _STRINGS, "annotations": _STRINGS,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "additionalProperties": False,
}  # fmt: skip
_ENDPOINT = {
    "type": "object",
    "properties": {
        "port": {"type": "string"},
        "targetPort": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "path": {"type": "string"}, "scheme": {"enum": ["http", "https"]},
        "interval": _DURATION, "scrapeTimeout": _DURATION, "honorLabels": {"type": "boolean"},
    },
    "additionalProperties": False,
}  # fmt: skip


def _crd(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "PrometheusRule": _crd("PrometheusRule", {
        "type": "object",
        "properties": {"groups": {"type": "array", "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}, "interval": _DURATION,
                           "limit": {"type": "integer"},
                           "rules": {"type": "array", "items": _RULE}},
            "additionalProperties": False,
        }}},
        "additionalProperties": False,
    }),
    "ServiceMonitor": _crd("ServiceMonitor", {
        "type": "object",
        "required": ["selector", "endpoints"],
        "properties": {
            "jobLabel": {"type": "string"},
            "selector": {"type": "object", "properties": {"matchLabels": _STRINGS},
                         "additionalProperties": False},
            "namespaceSelector": {"type": "object"},
            "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
        },
        "additionalProperties": False,
    }),
}  # fmt: skip
