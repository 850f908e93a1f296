"""Faults: JSON-like changes are validated field by field and applied all or nothing."""

from __future__ import annotations

import pytest

from outagewatch.sim import FaultError, Faults


def test_update_applies_every_field() -> None:
    faults = Faults()
    faults.update(
        {
            "greeting_delay": 2,
            "reply_delay": 0.5,
            "hang": True,
            "bad_banner": True,
            "reject_login": True,
            "hostile": "drip",
            "drip_interval": 0.1,
        }
    )
    assert faults == Faults(2.0, 0.5, True, True, True, "drip", 0.1)
    faults.update({"hostile": None})
    assert faults.hostile is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"greting_delay": 1}, "greting_delay"),
        ({"greeting_delay": "slow"}, "greeting_delay"),
        ({"reply_delay": -1}, "reply_delay"),
        ({"reply_delay": float("inf")}, "reply_delay"),
        ({"reply_delay": True}, "reply_delay"),
        ({"hang": 1}, "hang"),
        ({"hostile": "rude"}, "hostile"),
    ],
)
def test_a_bad_change_names_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(FaultError) as caught:
        Faults().update(changes)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_bad_change_applies_nothing() -> None:
    faults = Faults()
    with pytest.raises(FaultError):
        faults.update({"greeting_delay": 3, "hang": "yes"})
    assert faults == Faults()


def test_as_dict_round_trips() -> None:
    faults = Faults(greeting_delay=1.5, hostile="garbage")
    copy = Faults()
    copy.update(faults.as_dict())
    assert copy == faults
