"""The template's schedule expressions, as EventBridge Scheduler reads them."""

from __future__ import annotations

import datetime

import pytest

from longjob.errors import UserError
from longjob.stack.schedule import Schedule

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 1, 13, 20, 30, tzinfo=UTC)  # a Tuesday


def next_of(expression: str, timezone: str = "UTC", moment: datetime.datetime = NOW) -> str:
    when = Schedule(expression, timezone, "{}").next_after(moment)
    return "never" if when is None else when.strftime("%Y-%m-%d %a %H:%M")


@pytest.mark.parametrize(
    ("expression", "timezone", "expected"),
    [
        ("cron(0 3 * * ? *)", "UTC", "2026-12-02 Wed 03:00"),
        ("cron(0/15 * * * ? *)", "UTC", "2026-12-01 Tue 13:30"),
        # 09:00 in Paris is 08:00 UTC in winter.
        ("cron(0 9 ? * MON-FRI *)", "Europe/Paris", "2026-12-02 Wed 08:00"),
        # AWS numbers the days of the week 1-7 from Sunday.
        ("cron(0 12 ? * 1 *)", "UTC", "2026-12-06 Sun 12:00"),
        ("cron(0 12 ? * 2-6 *)", "UTC", "2026-12-02 Wed 12:00"),
        ("cron(0 12 ? * 5-6 *)", "UTC", "2026-12-03 Thu 12:00"),  # 5-6 is Thursday-Friday
        ("cron(0 12 ? * 1-7/2 *)", "UTC", "2026-12-03 Thu 12:00"),  # Sun, Tue, Thu, Sat
        ("cron(0 12 ? * 6L *)", "UTC", "2026-12-25 Fri 12:00"),  # the last Friday
        ("cron(0 12 ? * 2#1 *)", "UTC", "2026-12-07 Mon 12:00"),  # the first Monday
        ("cron(0 12 L * ? *)", "UTC", "2026-12-31 Thu 12:00"),  # the last day
        ("cron(0 12 19W * ? *)", "UTC", "2026-12-18 Fri 12:00"),  # Saturday's nearest weekday
        ("cron(0 0 1 1 ? 2030)", "UTC", "2030-01-01 Tue 00:00"),  # the year field
        ("cron(0 0 1 1 ? 2020)", "UTC", "never"),
        ("at(2026-12-01T15:00:00)", "Europe/Paris", "2026-12-01 Tue 14:00"),
        ("at(2026-12-01T13:00:00)", "UTC", "never"),  # passed
    ],
)
def test_the_next_time(expression: str, timezone: str, expected: str) -> None:
    assert next_of(expression, timezone) == expected


def test_a_rate_counts_from_when_the_schedule_started() -> None:
    started = NOW - datetime.timedelta(minutes=7)
    schedule = Schedule("rate(5 minutes)", "UTC", "{}")
    assert schedule.next_after(NOW, started) == started + datetime.timedelta(minutes=10)
    # Without a StartDate, a rate schedule starts at once.
    before = NOW - datetime.timedelta(seconds=1)
    assert Schedule("rate(1 day)", "UTC", "{}").next_after(before, NOW) == NOW


def test_daylight_saving_time_skips_a_missing_time_and_runs_a_repeated_one_once() -> None:
    """The Scheduler: "When the time shifts forward in Spring, your schedule invocation gets
    skipped if the cron expression falls on a non-existent date and time. When the time
    shifts back in the Fall, your schedule runs only once"."""
    schedule = Schedule("cron(30 2 * * ? *)", "Europe/Berlin", "{}")
    spring = schedule.next_after(datetime.datetime(2027, 3, 27, 3, 0, tzinfo=UTC))
    assert spring == datetime.datetime(2027, 3, 29, 0, 30, tzinfo=UTC)  # 28 March is skipped
    fall = schedule.next_after(datetime.datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert fall == datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, once
    assert schedule.next_after(fall) == datetime.datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "timezone", "message"),
    [
        ("cron(0 3 * * ?)", "UTC", "cron takes 6 fields"),
        ("cron(0 3 * * ? *)", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("every(5 minutes)", "UTC", "is not rate(value unit), cron(…) or at(…)"),
        ("rate(0 minutes)", "UTC", "the value must be positive"),
        ("cron(0 12 1 * 2 *)", "UTC", "one of day-of-month and day-of-week must be ?"),
        ("cron(0 12 * * * *)", "UTC", "one of day-of-month and day-of-week must be ?"),
        ("cron(0 12 ? * 0 *)", "UTC", "day-of-week is 1-7 (Sunday is 1) or SUN-SAT"),
        ("at(2026-02-30T03:00:00)", "UTC", "day is out of range for month"),
    ],
)
def test_expressions_the_scheduler_would_refuse_are_refused(
    expression: str, timezone: str, message: str
) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Schedule(expression, timezone, "{}")
