"""The tasks' CloudWatch log lines, live and complete, each printed once.

Live lines come from a CloudWatch Logs Live Tail session on the stack's task log group
(streams `toolbox/toolbox/<task id>`), or, where Live Tail is not available, from
FilterLogEvents polling. When a task stops, its stream is read once more to the end, so
its last lines are never lost. Sources overlap, so each line is counted by (stream,
timestamp, message): a line is printed as many times as the stream really holds it.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from longjob_core.contract import STREAM_PREFIX

Printer = Callable[[str, str], None]  # (label, message)


class LogFollower:
    def __init__(self, logs: Any, log_group: str, printer: Printer, live_tail: bool = True) -> None:
        self.logs = logs
        self.log_group = log_group
        self.printer = printer
        self.labels: dict[str, str] = {}  # stream -> label
        self.printed: Counter[tuple[str, int, str]] = Counter()
        self.pending: dict[str, list[dict[str, Any]]] = {}  # lines of streams not known yet
        self._seen_ids: set[str] = set()
        self._newest = 0  # newest timestamp polled, ms
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.live = live_tail and self._start_live_tail()

    # --- sources --------------------------------------------------------------------------

    def _group_arn(self) -> str:
        groups = self.logs.describe_log_groups(logGroupNamePrefix=self.log_group)["logGroups"]
        for group in groups:
            if group["logGroupName"] == self.log_group:
                return group["arn"].removesuffix(":*")
        raise ClientError(
            {"Error": {"Code": "ResourceNotFoundException", "Message": self.log_group}},
            "DescribeLogGroups",
        )

    def _start_live_tail(self) -> bool:
        try:
            response = self.logs.start_live_tail(
                logGroupIdentifiers=[self._group_arn()],
                logStreamNamePrefixes=[STREAM_PREFIX],
            )
        except (ClientError, BotoCoreError, AttributeError):
            return False  # no Live Tail here (permission, region, endpoint): poll instead
        self._thread = threading.Thread(target=self._read_stream, args=(response,), daemon=True)
        self._thread.start()
        return True

    def _read_stream(self, response: dict[str, Any]) -> None:
        try:
            for event in response["responseStream"]:
                if self._stop.is_set():
                    break
                for result in event.get("sessionUpdate", {}).get("sessionResults", []):
                    self._queue.put(result)
        except (ClientError, BotoCoreError):
            pass  # the session ended (time limit, network): final fetches fill any gap

    def _poll(self) -> None:
        streams = list(self.labels)[:100]  # FilterLogEvents takes at most 100 stream names
        if not streams:
            return
        paginator = self.logs.get_paginator("filter_log_events")
        # Lines arrive late by seconds, not minutes: re-reading a minute back is enough.
        since = max(0, self._newest - 60_000)
        pages = paginator.paginate(
            logGroupName=self.log_group, logStreamNames=streams, startTime=since
        )
        for page in pages:
            for event in page.get("events", []):
                if event["eventId"] in self._seen_ids:
                    continue
                self._seen_ids.add(event["eventId"])
                self._newest = max(self._newest, event["timestamp"])
                self._emit(event["logStreamName"], event["timestamp"], event["message"])

    # --- the API --------------------------------------------------------------------------

    def follow(self, stream: str, label: str) -> None:
        """A task started: its lines get this label (and lines that came early, now)."""
        self.labels[stream] = label
        for line in self.pending.pop(stream, []):
            self._emit(stream, line["timestamp"], line["message"])

    def poll(self) -> None:
        """Prints what arrived since the last call."""
        if self.live:
            while True:
                try:
                    result = self._queue.get_nowait()
                except queue.Empty:
                    break
                stream = result["logStreamName"]
                if stream in self.labels:
                    self._emit(stream, result["timestamp"], result["message"])
                else:
                    self.pending.setdefault(stream, []).append(result)
        else:
            self._poll()

    def drain(self, stream: str) -> None:
        """A task stopped: read its stream to the end and print what is still missing."""
        self.poll()
        counts: Counter[tuple[str, int, str]] = Counter()
        paginator = self.logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=self.log_group, logStreamNames=[stream]):
            for event in page.get("events", []):
                key = (stream, event["timestamp"], event["message"])
                counts[key] += 1
                self._seen_ids.add(event["eventId"])
                if counts[key] > self.printed[key]:
                    self._emit(stream, event["timestamp"], event["message"])

    def close(self) -> None:
        self._stop.set()

    def _emit(self, stream: str, timestamp: int, message: str) -> None:
        self.printed[(stream, timestamp, message)] += 1
        self.printer(self.labels.get(stream, stream), message.rstrip())
