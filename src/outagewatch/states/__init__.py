"""The read model of service state: what every face shows, derived in one place."""

from outagewatch.states.read_model import (
    Judged,
    Latest,
    ServiceState,
    ServiceStates,
    ServiceWord,
    VantageState,
    state_of,
)

__all__ = [
    "Judged",
    "Latest",
    "ServiceState",
    "ServiceStates",
    "ServiceWord",
    "VantageState",
    "state_of",
]
