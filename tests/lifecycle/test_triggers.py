"""Schedule expressions: crontab semantics (UTC, Sunday = 0/7), seconds-level cron, @every grids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.lifecycle.triggers import parse_duration, parse_trigger

# A Monday.
NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)


def test_five_field_cron_fires_on_the_minute_grid() -> None:
    trigger = parse_trigger("*/5 * * * *")
    assert trigger.expression == "*/5 * * * *"
    assert trigger.next_after(NOW) == NOW + timedelta(minutes=5)
    assert trigger.next_after(NOW + timedelta(minutes=3, seconds=7)) == NOW + timedelta(minutes=5)


def test_six_field_cron_has_seconds_first_and_is_strictly_after_now() -> None:
    trigger = parse_trigger("*/2 * * * * *")
    assert trigger.next_after(NOW) == NOW + timedelta(seconds=2)
    assert trigger.next_after(NOW + timedelta(microseconds=1)) == NOW + timedelta(seconds=2)
    assert trigger.next_after(NOW + timedelta(seconds=1, microseconds=999_999)) == NOW + timedelta(seconds=2)


@pytest.mark.parametrize(
    ("weekday", "expected_day"),
    [("0", 29), ("7", 29), ("sun", 29), ("1", 30), ("mon", 30), ("6", 28), ("1-5", 24), ("*/2", 24)],
)
def test_weekdays_follow_crontab_not_apscheduler_numbering(weekday: str, expected_day: int) -> None:
    # Monday 13:00 has passed 09:00 today, so the next match is on a later day.
    fire = parse_trigger(f"0 9 * * {weekday}").next_after(NOW)
    assert (fire.day, fire.hour) == (expected_day, 9)


def test_every_keeps_its_grid_after_a_late_slot() -> None:
    trigger = parse_trigger("@every 2s")
    assert trigger.expression == "@every 2s"
    assert trigger.next_after(NOW) == NOW + timedelta(seconds=2)
    slot = NOW - timedelta(seconds=5)  # five seconds late: slots at -3, -1 were missed, +1 is next
    assert trigger.next_after(NOW, previous_slot=slot) == NOW + timedelta(seconds=1)
    assert trigger.next_after(NOW, previous_slot=NOW) == NOW + timedelta(seconds=2)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("2s", 2.0), ("1h30m", 5400.0), ("0.5s", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_trigger(f"@every {text}").interval_seconds == seconds


@pytest.mark.parametrize(
    "bad", ["", "* * *", "61 * * * *", "* * * * * * *", "@every 0s", "@every soon", "0 0 31 2 *"]
)
def test_bad_expressions_are_rejected_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_trigger(bad)
