"""Weekly calendar: one step is one week that starts on the step's date."""

from __future__ import annotations

import datetime as dt

import numpy as np

WEEK = dt.timedelta(days=7)


def weekly_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """Week-start dates from ``start`` while on or before ``end`` (2021-01-04..2025-12-29: 261 weeks)."""
    n = (end - start).days // 7 + 1
    return [start + i * WEEK for i in range(n)]


def first_step_on_or_after(dates: list[dt.date], day: dt.date) -> int:
    """Index of the first week whose start date is on or after ``day`` (len(dates) if none).

    A dated event takes effect from the first week that starts on or after its date, so a ban dated
    Wednesday 2023-10-04 holds from the week of Monday 2023-10-09.
    """
    ordinals = np.array([d.toordinal() for d in dates])
    return int(np.searchsorted(ordinals, day.toordinal(), side="left"))
