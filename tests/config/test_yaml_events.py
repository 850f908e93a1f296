"""The event-built YAML is exactly what ``yaml.load`` gives, errors included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from outagewatch.config.yaml_events import SAFE_LOADER, load_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "config"

DOCUMENTS = [
    "",
    "# only a comment\n",
    "---\n...\n",
    "plain\n",
    "[1, 2.5, true, ~, null, 0x1f, 0o17, 1_000, .inf, -.NaN]\n",
    "a: 1\nb: '1'\nc: \"true\"\nd: yes\ne: no\nf: on\ng:\nh: 2026-11-30\ni: 2026-11-30T10:00:00Z\n",
    "nested: {a: [1, {b: [], c: {}}], d: [[x, y], [z]]}\nafter: 30s\n",
    "dup: 1\nother: 2\ndup: 3\n",
    "list:\n- a\n- b: 1\n  c: [2]\n- - inner\n",
    "text: |\n  two\n  lines\nfolded: >\n  one\n  line\n",
    "1: one\n2.5: two\ntrue: three\n~: four\n2026-01-01: five\n",
    # left to yaml.load: anchors and aliases, merge keys, tags, complex keys
    "base: &b {x: 1}\nuse: *b\n",
    "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n",
    "a: !!str 12\nb: !!float 1\nc: !!binary aGVsbG8=\n",
    "s: !!set {a, b}\no: !!omap [{a: 1}, {b: 2}]\n",
    "plain: value\n",
]

BROKEN = [
    "a: [1, 2\n",
    "a: 1\n b: 2\n",
    "--- 1\n--- 2\n",
    "a: !custom 1\n",
    "? {a: 1}\n: 2\n",
    "? [a, b]\n: 1\n",
    "v: =\n",
    "key: *missing\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_data_is_what_yaml_load_gives(text: str) -> None:
    expected = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    got = load_yaml(text)
    assert got == expected
    assert repr(got) == repr(expected)  # same types, same key order


def test_scalar_types_are_those_of_yaml_load() -> None:
    got = load_yaml("a: 1\nb: 1.5\nc: true\nd: 2026-11-30\ne: '2'\nf:\n")
    assert got == {"a": 1, "b": 1.5, "c": True, "d": dt.date(2026, 11, 30), "e": "2", "f": None}
    assert [type(v) for v in got.values()] == [int, float, bool, dt.date, str, type(None)]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_load_alike(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert load_yaml(text) == yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506


@pytest.mark.parametrize("text", BROKEN)
def test_errors_are_those_of_yaml_load(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    with pytest.raises(yaml.YAMLError) as got:
        load_yaml(text)
    assert type(got.value) is type(expected.value)
    assert str(got.value) == str(expected.value)
