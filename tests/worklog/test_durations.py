"""The one reader of typed durations (uplift.worklog.durations), and a session from two of
its start, end and duration."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from uplift.worklog.bounds import MAX_MINUTES
from uplift.worklog.durations import format_duration, parse_duration, session_bounds


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("90", 90),
        ("90.5", 90.5),
        ("90m", 90),
        ("90 min", 90),
        ("90 minutes", 90),
        ("1.5h", 90),
        ("1,5h", 90),
        ("2 hours", 120),
        ("1h", 60),
        ("1h30", 90),
        ("1h30m", 90),
        ("1h 30m", 90),
        ("1 hr 30 min", 90),
        (" 1H30 ", 90),
        ("1:30", 90),
        ("0:05", 5),
        ("12:00", 720),
        ("0.1", 0.1),
        (f"{MAX_MINUTES}", MAX_MINUTES),
        ("720h", MAX_MINUTES),
    ],
)
def test_every_accepted_form_reads_as_minutes(text, minutes):
    assert parse_duration(text) == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1h75", "“1h75”: the minutes after the hours must be under 60 (75 given)."),
        ("1:75", "“1:75”: the minutes after the hours must be under 60 (75 given)."),
        ("-5m", "A duration cannot be negative."),
        ("abc", "“abc” is not a duration: write it like 1h30, 90m, 1.5h, 1:30 or 90 (minutes)."),
        ("1.5h30", "“1.5h30” is not a duration"),
        ("1:5", "“1:5” is not a duration"),
        ("90s", "“90s” is not a duration"),
        (
            f"{MAX_MINUTES + 1}",
            f"“{MAX_MINUTES + 1}” is 43,201 minutes: a duration must be between 0.1 and "
            "43,200 minutes (30 days).",
        ),
        ("721h", "“721h” is 43,260 minutes: a duration must be between 0.1"),
        ("0", "“0” is 0 minutes: a duration must be between 0.1"),
        ("", "Enter a duration, like 1h30"),
    ],
)
def test_refusals_say_what_is_wrong(text, message):
    with pytest.raises(ValidationError) as refused:
        parse_duration(text)
    assert refused.value.messages[0].startswith(message)


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(90, "1:30"), (5, "0:05"), (0, "0:00"), (0.4, "<0:01"), (0.5, "0:01"), (600, "10:00")],
)
def test_minutes_are_shown_as_hours_and_minutes(minutes, shown):
    assert format_duration(minutes) == shown


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_session_is_two_of_its_start_end_and_duration():
    end = START + timedelta(minutes=90)
    assert session_bounds(started_at=START, ended_at=None, minutes=90) == (START, end)
    assert session_bounds(started_at=None, ended_at=end, minutes=90) == (START, end)
    assert session_bounds(started_at=START, ended_at=end, minutes=None) == (START, end)
    assert session_bounds(started_at=START, ended_at=end, minutes=90) == (START, end)


def test_a_duration_that_disagrees_with_the_start_and_end_is_refused():
    with pytest.raises(ValidationError) as refused:
        session_bounds(started_at=START, ended_at=START + timedelta(hours=2), minutes=90)
    assert refused.value.message_dict == {
        "duration": [
            "The start and the end are 2:00 apart, not 1:30: leave the end or the duration empty."
        ]
    }


def test_a_duration_alone_is_not_a_session():
    with pytest.raises(ValidationError) as refused:
        session_bounds(started_at=None, ended_at=None, minutes=90)
    assert "started_at" in refused.value.message_dict
