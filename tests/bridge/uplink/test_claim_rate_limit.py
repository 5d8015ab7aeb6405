"""Failed claims are limited per client and per modem, with a Retry-After that counts down."""

from __future__ import annotations

import pytest

from hardware_bridge.uplink import ClaimRateLimiter

MODEM = "4512345678"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_client_is_held_off_after_its_failures_until_the_window_passes(clock: Clock) -> None:
    limiter = ClaimRateLimiter(per_client=3, per_modem=100, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.5", MODEM) is None
        limiter.failure("10.0.0.5", MODEM)
        clock.now += 5
    # three failures at 1000, 1005, 1010; now 1015: the first leaves the window at 1060
    assert limiter.retry_after("10.0.0.5", MODEM) == 45
    assert limiter.retry_after("10.0.0.6", MODEM) is None  # another client is not held off
    clock.now = 1059.5
    assert limiter.retry_after("10.0.0.5", MODEM) == 1  # rounded up, never 0
    clock.now = 1060
    assert limiter.retry_after("10.0.0.5", MODEM) is None
    limiter.failure("10.0.0.5", MODEM)  # a fourth: the last three are 1005, 1010, 1060
    assert limiter.retry_after("10.0.0.5", MODEM) == 5


def test_failures_spread_over_many_clients_hold_off_the_modem(clock: Clock) -> None:
    limiter = ClaimRateLimiter(per_client=5, per_modem=10, window=900, clock=clock)
    for n in range(10):
        limiter.failure(f"10.0.0.{n}", MODEM)
    assert limiter.retry_after("192.168.1.20", MODEM) == 900
    assert limiter.retry_after("192.168.1.20", "4598765432") is None
    clock.now += 900
    assert limiter.retry_after("192.168.1.20", MODEM) is None


def test_a_right_code_clears_the_clients_failures_only(clock: Clock) -> None:
    limiter = ClaimRateLimiter(per_client=2, per_modem=3, window=60, clock=clock)
    limiter.failure("a", MODEM)
    limiter.failure("b", MODEM)
    limiter.success("a", MODEM)
    limiter.failure("a", MODEM)
    assert limiter.retry_after("a", "another modem") is None  # one failure since the success
    assert limiter.retry_after("c", MODEM) == 60  # the modem still counts all three


def test_memory_is_bounded_by_forgetting_the_quietest_clients(clock: Clock) -> None:
    limiter = ClaimRateLimiter(per_client=1, per_modem=10_000, window=60, clock=clock, max_keys=3)
    for client in ("a", "b", "c", "d"):
        limiter.failure(client, MODEM)
    assert limiter.retry_after("a", MODEM) is None  # forgotten: the oldest of four
    assert limiter.retry_after("d", MODEM) == 60


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ClaimRateLimiter(per_client=0)
