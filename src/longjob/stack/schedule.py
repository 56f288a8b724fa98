"""The template's EventBridge Scheduler schedule, fired locally by `longjob local up`.

Expressions as EventBridge Scheduler documents them (docs/aws-facts.md, "EventBridge
Scheduler"): ``rate(value unit)``, ``cron(minutes hours day-of-month month day-of-week
year)`` evaluated in ``ScheduleExpressionTimezone``, and ``at(yyyy-mm-ddThh:mm:ss)``. A cron
expression is handed to croniter after the two differences between the formats are
translated: AWS numbers the days of the week 1-7 from Sunday (cron 0-6), writes ``?`` for
"any" and ``6L`` for "the last Friday" (croniter: ``L5``); the year field, which cron lacks,
filters the times croniter gives. ``L``, ``W`` and ``#`` otherwise mean the same in both.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from longjob.errors import UserError

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_SEARCH_YEARS = 10  # how far ahead a cron whose year field excludes every time is searched


@dataclass(frozen=True)
class Schedule:
    expression: str
    timezone: str
    input: str  # the execution input the schedule sends, as JSON text

    def __post_init__(self) -> None:
        self.zone()  # a bad time zone or expression is refused up front
        self.next_after(datetime.datetime.now(datetime.UTC))

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(f"schedule: unknown time zone {self.timezone!r}") from None

    def next_after(
        self, moment: datetime.datetime, started: datetime.datetime | None = None
    ) -> datetime.datetime | None:
        """The first time after ``moment`` the schedule fires (UTC), None for never again.
        A rate counts from ``started`` (when the schedule was created), its first time."""
        if match := _RATE.match(self.expression):
            period = int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
            if period <= 0:
                raise UserError(f"schedule: {self.expression}: the value must be positive")
            # Without a StartDate a rate schedule "starts invoking the target immediately".
            origin = started or moment
            if moment < origin:
                return origin
            elapsed = (moment - origin).total_seconds()
            return origin + datetime.timedelta(seconds=(int(elapsed // period) + 1) * period)
        if match := _AT.match(self.expression):
            try:
                wall = datetime.datetime.fromisoformat(match.group(1))
            except ValueError as error:
                raise UserError(f"schedule: {self.expression}: {error}") from None
            local = wall.replace(tzinfo=self.zone())
            when = local.astimezone(datetime.UTC)
            return when if when > moment else None
        if match := _CRON.match(self.expression):
            return _next_cron(match.group(1), self.zone(), moment, self.expression)
        raise UserError(f"schedule: {self.expression!r} is not rate(value unit), cron(…) or at(…)")


def _next_cron(
    fields_text: str, zone: ZoneInfo, moment: datetime.datetime, expression: str
) -> datetime.datetime | None:
    from croniter import croniter

    fields = fields_text.split()
    if len(fields) != 6:
        raise UserError(
            f"schedule: {expression}: cron takes 6 fields (minutes hours day-of-month month "
            "day-of-week year)"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise UserError(
            f"schedule: {expression}: one of day-of-month and day-of-week must be ?, and only one"
        )
    if re.search(r"(?<![#/\d])[089]", day_of_week):
        raise UserError(f"schedule: {expression}: day-of-week is 1-7 (Sunday is 1) or SUN-SAT")
    cron = " ".join([minutes, hours, _any(day_of_month), month, _weekdays(_any(day_of_week))])
    years = _years(year, expression)
    # croniter walks the wall clock; the zone decides which wall times exist, and when.
    try:
        times = croniter(cron, moment.astimezone(zone).replace(tzinfo=None))
    except (ValueError, KeyError) as error:
        raise UserError(f"schedule: {expression}: {error}") from None
    limit = moment.year + _SEARCH_YEARS
    while True:
        wall = times.get_next(datetime.datetime)
        if wall.year > limit:
            return None
        if years is not None and wall.year not in years:
            continue
        # Daylight saving time, as the Scheduler has it: a wall time the clock skips is
        # skipped, and one it repeats runs once (its first occurrence, fold=0).
        when = wall.replace(tzinfo=zone, fold=0).astimezone(datetime.UTC)
        if when.astimezone(zone).replace(tzinfo=None) != wall:
            continue
        if when > moment:
            return when


def _any(field: str) -> str:
    return "*" if field == "?" else field


def _weekdays(field: str) -> str:
    """AWS's 1-7 from Sunday as cron's 0-6 (names and * unchanged); ``nL`` as ``L(n-1)``."""
    field = re.sub(r"^([1-7])L$", lambda m: f"L{int(m.group(1)) - 1}", field)
    return re.sub(r"(?<![#/\dL])([1-7])(?!\d)", lambda m: str(int(m.group(1)) - 1), field)


def _years(field: str, expression: str) -> set[int] | None:
    if field == "*":
        return None
    years: set[int] = set()
    for part in field.split(","):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise UserError(f"schedule: {expression}: year {field!r} is not a list of years")
        years.update(range(int(first), int(last or first) + 1))
    return years


def schedule_of(resources: dict[str, dict[str, Any]]) -> Schedule | None:
    """The enabled AWS::Scheduler::Schedule of a deployed template, or None."""
    for resource in resources.values():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        properties = resource.get("Properties", {})
        if properties.get("State", "ENABLED") != "ENABLED":
            continue
        schedule = Schedule(
            expression=properties["ScheduleExpression"],
            timezone=properties.get("ScheduleExpressionTimezone", "UTC"),
            input=properties.get("Target", {}).get("Input", "{}"),
        )
        try:
            json.loads(schedule.input)
        except json.JSONDecodeError as error:
            raise UserError(f"schedule: its input is not JSON ({error})") from None
        return schedule
    return None


def fire(sfn: Any, state_machine_arn: str, schedule: Schedule) -> str:
    """Starts the execution the schedule starts; its ARN. (EventBridge Scheduler names its
    executions itself; a UUID stands for that name here.)"""
    return sfn.start_execution(
        stateMachineArn=state_machine_arn, name=str(uuid.uuid4()), input=schedule.input
    )["executionArn"]
