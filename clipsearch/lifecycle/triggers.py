"""When a schedule fires: cron expressions (5 fields, or 6 with seconds first) and `@every <duration>`.

Cron expressions are evaluated in UTC with standard crontab semantics (day-of-week 0 and 7 = Sunday);
APScheduler's `CronTrigger` does the calendar arithmetic. `@every 2s` fires on a fixed grid anchored
at the previous slot, so a late firing does not shift later ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clipsearch.errors import InvalidRequest

EVERY_PREFIX = "@every "
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Standard crontab weekday numbers (0 and 7 = Sunday); APScheduler 3 counts 0 = Monday, so numbers
# are translated to names, which mean the same in both.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")


def parse_duration(text: str) -> float:
    """`90`, `2s`, `5m`, `1h30m`, `1d` → seconds (> 0)."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _DURATION_PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise InvalidRequest(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h30m, 1d") from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidRequest(f"invalid duration {text!r}: must be positive")
    return seconds


def _format_duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _weekday_field(expr: str) -> str:
    """Translate numeric crontab weekdays (0/7 = Sunday) into names; names and `*` pass through."""
    if expr == "*" or ("/" not in expr and not any(ch.isdigit() for ch in expr)):
        return expr  # `*` and plain names mean the same to APScheduler as to crontab
    days: set[int] = set()
    for part in expr.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            lo_text, hi_text = base.split("-", 1)
            lo, hi = _weekday_number(lo_text), _weekday_number(hi_text)
        else:
            lo = hi = _weekday_number(base)
            if step_text:
                hi = 6
        if step <= 0 or lo > hi:
            raise ValueError(f"invalid day-of-week {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text.lower()[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(text.lower()[:3])
    raise ValueError(f"invalid day of week {text!r}")


@dataclass(frozen=True, slots=True)
class Trigger:
    """A parsed schedule expression; `expression` is the normalised text stored in the database."""

    expression: str
    interval_seconds: float | None = None
    cron_fields: tuple[tuple[str, str], ...] = ()

    def next_after(self, now: datetime, previous_slot: datetime | None = None) -> datetime:
        """The first fire time strictly after `now` (on the grid of `previous_slot` for @every)."""
        now = now.astimezone(UTC)
        if self.interval_seconds is not None:
            step = timedelta(seconds=self.interval_seconds)
            if previous_slot is None:
                return now + step
            previous_slot = previous_slot.astimezone(UTC)
            if previous_slot > now:
                return previous_slot
            behind = (now - previous_slot) / step
            slot = previous_slot + step * (math.floor(behind) + 1)
            return slot if slot > now else slot + step
        return self._cron_next(now)

    def _cron_next(self, now: datetime) -> datetime:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger(timezone=UTC, **dict(self.cron_fields))
        # CronTrigger rounds its start up to a whole second; +1µs makes "strictly after now".
        fire: Any = trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
        if fire is None:  # only possible for expressions that never match (e.g. 31 February)
            raise InvalidRequest(f"schedule {self.expression!r} never fires")
        result: datetime = fire.astimezone(UTC)
        return result


def parse_trigger(expression: str) -> Trigger:
    """Parse `*/5 * * * *`, `*/2 * * * * *` (seconds first) or `@every 2s`; raises InvalidRequest."""
    text = " ".join(expression.split())
    if text.startswith(EVERY_PREFIX.strip()):
        seconds = parse_duration(text[len(EVERY_PREFIX.strip()) :])
        return Trigger(expression=EVERY_PREFIX + _format_duration(seconds), interval_seconds=seconds)
    fields = text.split(" ")
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise InvalidRequest(
            f"invalid schedule {expression!r}: a cron expression has 5 fields "
            "(minute hour day month weekday) or 6 (seconds first); or use '@every 30s'"
        )
    try:
        named = tuple(zip(_CRON_FIELDS, [*fields[:5], _weekday_field(fields[5])], strict=True))
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger(timezone=UTC, **dict(named))  # validates every field
    except ValueError as exc:
        raise InvalidRequest(f"invalid cron expression {expression!r}: {exc}") from None
    shown = " ".join(fields if text.count(" ") == 5 else fields[1:])
    trigger = Trigger(expression=shown, cron_fields=named)
    trigger.next_after(datetime.now(UTC))  # rejects expressions that never fire
    return trigger


def every(seconds: float) -> str:
    """The stored expression for a fixed interval."""
    return EVERY_PREFIX + _format_duration(parse_duration(str(seconds)))
