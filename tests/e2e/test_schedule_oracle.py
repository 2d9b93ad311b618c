"""Cron schedules and time zones against an independent oracle: croniter 7.0.0 (PyPI).

For several hundred (expression, zone, --from) cases, `sluice next --format json` must list
the fire times the oracle computes:

- Schedules that fire several times a day (the minute or the hour field has more than one
  value): croniter's get_next chain, exactly, daylight-saving changes included. sluice ports
  croniter 7.0.0's DST stepping on purpose.
- Schedules that fire at most once a day: sluice's documented rule, one fire per matching
  date; a wall time in the spring gap fires at the end of the gap, a wall time in the
  autumn's repeated hour fires once, at its first occurrence. croniter can fire such a time
  twice, so the expected fires are built from croniter's wall-clock matches (naive croniter)
  and the rule, and every one of them is checked against croniter's own zone-aware chain:
  they must agree except where the rule says otherwise at a DST change, and those
  deviations are counted (test_dst_rules_were_exercised) so that a case list that stops
  reaching the transitions fails instead of passing quietly.

Zones: Europe/Berlin and America/New_York (one-hour changes at 02:00 / 01:00),
Australia/Lord_Howe (a 30-minute change), America/Havana (changes at midnight, so a date
alone can name a time that does not exist), and Asia/Kolkata (+05:30) and UTC without DST.
Start points: just before, at and inside every transition of 2026 and 2027, month ends, the
leap day 2028-02-29, and seeded random instants with seeded random expressions.

Features NOT covered because croniter is no oracle for them (it rejects them or does not
apply Vixie's day-of-month OR day-of-week to them): LW and L-3 (croniter rejects both);
W or L in the day of month together with a restricted day of week; # together with a
restricted day of month, or inside a list; W on days 29-31 (croniter clamps them to the
month's end, Quartz differs); a wrapping day-of-week range with a step ('6-2/2', where
croniter's result is not a set of weekdays); '?'. Ranges that wrap around ('22-2',
'sat-sun', '28-3') are covered. sluice's '5L' (last Friday) is croniter's 'L5' and is tested as such.
"""

import datetime as dt
import importlib.metadata
import json
import os
import random
import re
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional
from zoneinfo import ZoneInfo

import pytest

from conftest import sluice_bin

try:
    from croniter import croniter
except ImportError:  # reported by the oracle fixture: these tests must not be skipped
    croniter = None

CRONITER_VERSION = "7.0.0"
INSTALL_HINT = f"pip install croniter=={CRONITER_VERSION}"
UTC = dt.timezone.utc
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# Every DST change of 2026 and 2027 in the zones with DST (local dates, tzdata 2025).
TRANSITION_DATES = {
    "Europe/Berlin": ["2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31"],
    "America/New_York": ["2026-03-08", "2026-11-01", "2027-03-14", "2027-11-07"],
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04", "2027-04-04", "2027-10-03"],
    "America/Havana": ["2026-03-08", "2026-11-01", "2027-03-14", "2027-11-07"],
}
FIXED_ZONES = ["Asia/Kolkata", "UTC"]
ALL_ZONES = list(TRANSITION_DATES) + FIXED_ZONES

# Generic expressions, in sluice's syntax. Several fires a day:
MULTI_GENERIC = [
    "*/15 * * * *", "30 * * * *", "0 * * * *", "*/20 * * * *", "5-40/10 * * * *",
    "0 */2 * * *", "30 */3 * * *", "0 1-3 * * *", "30 2,3 * * *", "*/15 2 * * *",
    "0,30 0-4 * * *", "45 */6 * * *", "@hourly", "10 0-3 * * SUN", "0 0,12 * * *",
    "*/30 1-3 * * 0", "15,45 * * * *", "*/10 0-2 * * 7", "0 23,0,1 * * *",
    # Ranges that wrap around, as croniter reads them.
    "0 22-2 * * *", "0 22-4/2 * * *", "50-10 * * * *", "0 21-4/3 * * *",
]
# At most one fire a day:
DAILY_GENERIC = [
    "30 2 * * *", "0 2 * * *", "0 3 * * *", "30 1 * * *", "0 1 * * *", "0 0 * * *",
    "59 23 * * *", "@daily", "@midnight", "@weekly", "15 2 * * 0", "0 2 * * 7",
    "30 0 * * SUN", "45 1 * * SAT,SUN", "0 2 * * 1-5", "30 2 * * 0#1", "0 1 * * 7L",
    "30 2 * * 0L", "0 2 */5 * 0",
]
# Month ends, leap days, L / W / # / OR semantics and the presets.
CALENDAR_EXPRS = [
    "0 0 L * *", "59 23 L * *", "30 1 L 2 *", "0 12 29 2 *", "0 12 29 2 1", "0 0 31 * *",
    "0 0 30 * *", "0 0 1 * *", "0 6 1W * *", "0 6 15W * *", "0 6 28W * *", "0 18 * * 5L",
    "0 9 * * 1#1", "0 9 * * 2#5", "0 9 * * 5#5", "0 9 * * 0#1", "0 9 * * 7#2",
    "0 9 * * MON#3", "@monthly", "@yearly", "@annually", "@weekly", "0 0 1,15 * MON",
    "0 0 13 * 5", "0 0 */5 * 1", "0 0 1-7 * 1", "0 0 * FEB 1-5", "0 0 L JAN-MAR *",
    "0 0 1 */3 *", "30 12 * JAN,JUL sat", "*/30 22-23 L * *", "0 */6 28-31 * *",
    "0 0 29 FEB *", "15 10 1 1 *", "0 0 * * 5-7", "0 0 * * sat-sun", "0 0 * * 5-1",
    "0 0 28-3 * *", "0 0 30-2/2 * *", "0 0 1 NOV-FEB *",
]


# ---------------------------------------------------------------------------------------------
# Time-zone arithmetic (zoneinfo; no croniter)


def local(u: dt.datetime, z: ZoneInfo) -> dt.datetime:
    """An instant's naive wall-clock time in z."""
    return u.astimezone(z).replace(tzinfo=None)


def instants_of(w: dt.datetime, z: ZoneInfo) -> list:
    """The instants (UTC) whose wall-clock time in z is w: none (spring gap), one, or two
    (autumn's repeated hour), in order."""
    found = set()
    for fold in (0, 1):
        u = w.replace(tzinfo=z, fold=fold).astimezone(UTC)
        if local(u, z) == w:
            found.add(u)
    return sorted(found)


def gap_end(w: dt.datetime, z: ZoneInfo) -> dt.datetime:
    """The instant a nonexistent wall time w's gap ends: when the clock jumps."""
    before = w.replace(tzinfo=z, fold=1).astimezone(UTC)  # w read with the later offset
    after = w.replace(tzinfo=z, fold=0).astimezone(UTC)  # w read with the earlier offset
    assert before < after and not instants_of(w, z), w
    old = before.astimezone(z).utcoffset()
    while after - before > SECOND:
        mid = before + (after - before) // 2
        if mid.astimezone(z).utcoffset() == old:
            before = mid
        else:
            after = mid
    return after


def wall_to_instant(w: dt.datetime, z: ZoneInfo) -> dt.datetime:
    """sluice's reading of a wall time: its first occurrence, or in a gap the gap's end."""
    found = instants_of(w, z)
    return found[0] if found else gap_end(w, z)


def resolve_from(text: str, zone: str) -> dt.datetime:
    """--from as documented: a date is local midnight, a wall time is local, "Z" or an offset
    make it absolute."""
    z = ZoneInfo(zone)
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return wall_to_instant(dt.datetime.fromisoformat(text + "T00:00:00"), z)
    if text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return wall_to_instant(dt.datetime.fromisoformat(text), z)


def iso_local(u: dt.datetime, zone: str) -> str:
    return u.astimezone(ZoneInfo(zone)).isoformat()


@dataclass
class Transition:
    zone: str
    date: str
    at: dt.datetime  # the instant the clock changes (UTC)
    kind: str  # "gap" (spring forward) or "repeat" (fall back)
    wall_start: dt.datetime  # first wall time of the gap / of the repeated span
    length: dt.timedelta  # how long the gap / the repeated span is

    @property
    def wall_mid(self) -> dt.datetime:
        return self.wall_start + self.length / 2


def find_transition(zone: str, date: str) -> Transition:
    z = ZoneInfo(zone)
    day = dt.datetime.fromisoformat(date).replace(tzinfo=UTC)
    u = day - dt.timedelta(hours=16)
    old = u.astimezone(z).utcoffset()
    while u.astimezone(z).utcoffset() == old:
        u += MINUTE
        assert u < day + dt.timedelta(hours=40), f"no DST change in {zone} on {date}"
    new = u.astimezone(z).utcoffset()
    assert local(u, z).date().isoformat() == date or local(u - SECOND, z).date().isoformat() \
        == date, f"{zone}: the DST change at {u} is not on {date}"
    if new > old:
        return Transition(zone, date, u, "gap", (u + old).replace(tzinfo=None), new - old)
    return Transition(zone, date, u, "repeat", (u + new).replace(tzinfo=None), old - new)


TRANSITIONS = [find_transition(z, d) for z, ds in TRANSITION_DATES.items() for d in ds]


# ---------------------------------------------------------------------------------------------
# The cases


@dataclass
class Case:
    expr: str  # sluice's syntax
    zone: str
    start: str  # --from
    n: int
    group: str
    transition: Optional[Transition] = None

    @property
    def cron_expr(self) -> str:
        """The same schedule in croniter's syntax: sluice's "5L" (last Friday) is "L5"."""
        return re.sub(r"(?<![\d#])([0-7])L\b", r"L\1", self.expr)

    @property
    def id(self) -> str:
        return f"{self.zone}|{self.expr.replace(' ', '_')}|{self.start}|n{self.n}"

    def command(self) -> list:
        return ["next", "--schedule", self.expr, "--timezone", self.zone, "--from", self.start,
                "-n", str(self.n), "--format", "json"]

    def shell(self) -> str:
        return f"sluice next --schedule '{self.expr}' --timezone {self.zone} --from " \
               f"{self.start} -n {self.n} --format json"


def fmt_wall(w: dt.datetime, seconds: bool = False) -> str:
    return w.strftime("%Y-%m-%dT%H:%M:%S" if seconds else "%Y-%m-%dT%H:%M")


def fmt_abs(u: dt.datetime, zone: str, use_z: bool) -> str:
    if use_z:
        return u.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return u.astimezone(ZoneInfo(zone)).isoformat()


def tailored_exprs(t: Transition) -> tuple:
    """Expressions aimed at the wall times a transition skips or repeats: (several a day,
    once a day)."""
    mid, first, after = t.wall_mid, t.wall_start, t.wall_start + t.length
    before = t.wall_start - MINUTE
    weekday = (mid.isoweekday()) % 7  # cron: 0 = Sunday
    daily = [f"{mid.minute} {mid.hour} * * *", f"{first.minute} {first.hour} * * *",
             f"{after.minute} {after.hour} * * *", f"{before.minute} {before.hour} * * *",
             f"{mid.minute} {mid.hour} * * {weekday}",
             f"{mid.minute} {mid.hour} {mid.day} {mid.month} *",
             f"{mid.minute} {mid.hour} {mid.day} * {(weekday + 3) % 7}"]
    h = mid.hour
    multi = [f"*/15 {h} * * *", f"{mid.minute} * * * *", f"*/10 {max(h - 1, 0)}-{h + 1} * * *",
             f"{mid.minute} {h},{h + 1} * * *", f"* {h} * * *", f"0,{mid.minute or 30} * * * *",
             f"{mid.minute} {h}-{h + 2} * * {weekday}"]
    return multi, daily


def transition_starts(t: Transition) -> list:
    """--from values around a transition, in every accepted form."""
    z = ZoneInfo(t.zone)
    day = dt.date.fromisoformat(t.date)
    starts = [
        (day - DAY).isoformat(),  # the day before, local midnight
        t.date,  # the day itself (Havana: a midnight that does not exist / repeats)
        fmt_wall(local(t.at - 3 * HOUR, z)),
        fmt_abs(t.at - 70 * MINUTE, t.zone, use_z=True),
        fmt_abs(t.at - 5 * MINUTE, t.zone, use_z=False),
        fmt_wall(local(t.at - HOUR, z).replace(second=30), seconds=True),
        fmt_wall(t.wall_mid),  # gap: its end; repeat: the first pass
    ]
    if t.kind == "repeat":  # inside the second pass of the repeated span
        starts.append(fmt_abs(t.at + t.length / 2, t.zone, use_z=False))
        starts.append(fmt_abs(t.at + t.length / 2 + 30 * SECOND, t.zone, use_z=True))
    return starts


def is_multi(expr: str) -> bool:
    """Fires several times a day: the minute or the hour field has more than one value."""
    if expr.startswith("@"):
        return expr == "@hourly"
    minute, hour = expr.split()[:2]
    return not (minute.isdigit() and hour.isdigit())


def pick_n(expr: str, rng: random.Random) -> int:
    return rng.randint(14, 20) if is_multi(expr) else rng.randint(8, 12)


def random_expr(rng: random.Random) -> str:
    """A random five-field expression within what croniter is a valid oracle for."""
    def number_list(lo, hi, k):
        return ",".join(str(v) for v in sorted(rng.sample(range(lo, hi + 1), k)))

    def range_(lo, hi):
        a = rng.randint(lo, hi - 1)
        return f"{a}-{rng.randint(a + 1, hi)}"

    minute = rng.choice([
        lambda: str(rng.randint(0, 59)), lambda: str(rng.randint(0, 59)),
        lambda: number_list(0, 59, rng.randint(2, 3)),
        lambda: f"*/{rng.choice([5, 10, 15, 20, 30])}",
        lambda: f"{rng.randint(0, 9)}-{rng.randint(30, 59)}/{rng.choice([7, 10, 20])}"])()
    hour = rng.choice([
        lambda: str(rng.randint(0, 23)), lambda: str(rng.randint(0, 23)), lambda: "*",
        lambda: number_list(0, 23, rng.randint(2, 4)), lambda: range_(0, 23),
        lambda: f"*/{rng.choice([2, 3, 4, 6, 8, 12])}",
        lambda: f"{rng.randint(0, 5)}-{rng.randint(12, 23)}/{rng.choice([2, 3, 5])}"])()
    month = rng.choice(["*"] * 6 + [
        str(rng.randint(1, 12)), range_(1, 12), number_list(1, 12, 3), "*/3", "JAN-JUN",
        "mar,jun,sep,dec"])
    dom = rng.choice(["*"] * 5 + [
        str(rng.randint(1, 28)), number_list(1, 28, 2), range_(1, 28),
        f"*/{rng.choice([2, 5, 10])}", "L", f"{rng.choice([1, 15, 28])}W",
        str(rng.randint(29, 31))])
    dow = rng.choice(["*"] * 5 + [
        str(rng.randint(0, 7)), range_(1, 5), "MON-FRI", "sat,sun", number_list(0, 6, 2),
        f"{rng.randint(1, 7)}L", f"{rng.randint(0, 6)}#{rng.randint(1, 4)}", "*/2"])
    if dom[-1] in "LW":  # croniter does not OR L / W with a day of week
        dow = "*"
    if "#" in dow or dow.endswith("L"):  # nor # / L with a day of month
        dom = "*"
    if dom.isdigit() and int(dom) > 28:  # so that some chosen month has that day
        month = "*"
    return f"{minute} {hour} {dom} {month} {dow}"


def shuffled_forever(items: list, rng: random.Random):
    """The items in a random order, again and again (each used before any repeats)."""
    while True:
        yield from rng.sample(items, len(items))


def build_cases() -> list:
    rng = random.Random(20260329)
    cases = []
    multi_pool, daily_pool = shuffled_forever(MULTI_GENERIC, rng), \
        shuffled_forever(DAILY_GENERIC, rng)

    # 1. Around every DST change of 2026 and 2027.
    for t in TRANSITIONS:
        z = ZoneInfo(t.zone)
        multi, daily = tailored_exprs(t)
        starts = transition_starts(t)
        # The tailored ones from starts before the change (the ones that fire several times a
        # day from the last three hours, so that their fires reach it), in every start form.
        for i, expr in enumerate(multi):
            cases.append(Case(expr, t.zone, starts[2 + i % 4], 0, "dst", t))
        for i, expr in enumerate(daily):
            cases.append(Case(expr, t.zone, starts[i % 6], 0, "dst", t))
        # Then every start with a generic one, taking turns through both lists.
        for start in starts:
            expr = next(multi_pool if len(cases) % 2 else daily_pool)
            cases.append(Case(expr, t.zone, start, 0, "dst", t))
        # The documented examples: a daily time in the gap fires at its end, a repeated one once.
        mid = t.wall_mid
        cases.append(Case(f"{mid.minute} {mid.hour} * * *", t.zone,
                          fmt_wall(local(t.at - DAY, z)), 4, "dst", t))

    # 2. Month ends and leap days, every zone.
    calendar_starts = ["2026-01-31T23:30", "2026-02-28", "2026-04-30T23:59:30", "2026-06-30",
                       "2026-12-31T23:00:00Z", "2027-02-27T12:00", "2028-02-28T22:00",
                       "2028-02-29", "2028-02-29T23:59", "2028-12-31T12:00"]
    calendar_pool = shuffled_forever(CALENDAR_EXPRS, rng)
    for zone in ALL_ZONES:
        for start in calendar_starts:
            for _ in range(2):
                cases.append(Case(next(calendar_pool), zone, start, 0, "calendar"))

    # 3. After 2037, where zone files list no more transitions and their POSIX TZ rule (the
    # TZif footer) takes over: DST must go on as before.
    for zone, start, expr in [
            ("Europe/Berlin", "2038-03-27", "30 2 * * *"),
            ("Europe/Berlin", "2038-07-01", "0 12 * * *"),
            ("Europe/Berlin", "2038-10-30T12:00", "30 * * * *"),
            ("America/New_York", "2040-03-10", "30 2 * * *"),
            ("America/New_York", "2045-11-04T23:00", "*/20 * * * *"),
            ("Australia/Lord_Howe", "2038-10-02", "15 2 * * *")]:
        cases.append(Case(expr, zone, start, 0, "after2037"))

    # 4. Random expressions at random instants, in random start forms.
    lo = dt.datetime(2026, 1, 1, tzinfo=UTC)
    span = int((dt.datetime(2028, 12, 31, tzinfo=UTC) - lo).total_seconds())
    for _ in range(120):
        zone = rng.choice(ALL_ZONES)
        u = lo + dt.timedelta(seconds=rng.randrange(span))
        form = rng.randrange(5)
        if form == 0:
            start = local(u, ZoneInfo(zone)).date().isoformat()
        elif form == 1:
            start = fmt_wall(local(u, ZoneInfo(zone)))
        elif form == 2:
            start = fmt_wall(local(u, ZoneInfo(zone)), seconds=True)
        else:
            start = fmt_abs(u.replace(second=rng.choice([0, 0, 17])), zone, use_z=form == 3)
        cases.append(Case(random_expr(rng), zone, start, 0, "random"))

    for c in cases:
        if not c.n:
            c.n = pick_n(c.expr, rng)
    return list({c.id: c for c in cases}.values())  # without duplicates, in order


CASES = build_cases()


# ---------------------------------------------------------------------------------------------
# The oracle


def croniter_chain(case: Case, start: dt.datetime, until: dt.datetime, at_least: int) -> list:
    """croniter's get_next chain from start (zone-aware): at least `at_least` fires and all
    fires up to `until`, as UTC instants."""
    it = croniter(case.cron_expr, start.astimezone(ZoneInfo(case.zone)))
    fires = []
    while len(fires) < at_least or fires[-1] <= until:
        fires.append(it.get_next(dt.datetime).astimezone(UTC))
    return fires


def daily_rule_fires(case: Case, start: dt.datetime, n: int) -> list:
    """The once-a-day rule: croniter's wall-clock matches (naive, so no DST logic involved),
    each at its first occurrence or its gap's end; the first n strictly after start.
    [(instant, "plain" | "gap" | "repeat")]"""
    z = ZoneInfo(case.zone)
    day_before = dt.datetime.combine(local(start, z).date() - DAY, dt.time())
    it = croniter(case.cron_expr, day_before - SECOND)
    fires = []
    while len(fires) < n:
        w = it.get_next(dt.datetime)
        found = instants_of(w, z)
        kind = "gap" if not found else "repeat" if len(found) == 2 else "plain"
        u = found[0] if found else gap_end(w, z)
        if u > start:
            fires.append((u, kind))
    return fires


@dataclass
class Expected:
    case: Case
    start: dt.datetime  # --from, resolved
    multi: bool
    fires: list  # UTC instants
    croniter_fires: list  # croniter's own chain over the same span
    source: str
    problems: list = field(default_factory=list)  # the oracle itself is inconsistent
    stats: Counter = field(default_factory=Counter)


def expected_fires(case: Case) -> Expected:
    start = resolve_from(case.start, case.zone)
    z = ZoneInfo(case.zone)
    expanded = croniter(case.cron_expr).expanded
    multi = expanded[0] == ["*"] or len(expanded[0]) > 1 or expanded[1] == ["*"] or \
        len(expanded[1]) > 1
    assert multi == is_multi(case.expr), case.expr
    if multi:
        fires = croniter_chain(case, start, start, case.n)[:case.n]
        e = Expected(case, start, True, fires, fires, "croniter's get_next chain")
        for u in fires:
            w = local(u, z)
            found = instants_of(w, z)
            if len(found) == 2:
                e.stats["multi: fire at a repeated wall time" +
                        (" (2nd pass)" if u == found[1] else " (1st pass)")] += 1
            if u.astimezone(z).utcoffset() != (u - SECOND).astimezone(z).utcoffset():
                e.stats["multi: fire at the instant of a DST change"] += 1
        return e

    rule = daily_rule_fires(case, start, case.n)
    fires = [u for u, _ in rule]
    chain = croniter_chain(case, start, fires[-1], 1)
    in_span = [u for u in chain if u <= fires[-1]]
    e = Expected(case, start, False, fires, in_span,
                 "the once-a-day rule (checked against croniter's chain)")
    for u, kind in rule:
        e.stats[f"daily: {kind} wall time"] += 1
        if u not in in_span:
            if kind == "plain":
                e.problems.append(f"croniter does not fire at {iso_local(u, case.zone)}, an "
                                  f"ordinary wall time")
            else:
                e.stats[f"daily: rule fires where croniter does not ({kind})"] += 1
    for u in in_span:
        if u in fires:
            continue
        found = instants_of(local(u, z), z)
        if len(found) == 2 and u == found[1]:
            e.stats["daily: croniter fires a repeated time twice (dropped)"] += 1
        else:
            e.problems.append(f"croniter fires at {iso_local(u, case.zone)}, which the rule "
                              f"does not explain")
    return e


@pytest.fixture(scope="module")
def oracle():
    """Runs every case through sluice (in parallel) and through the oracle."""
    if croniter is None:
        pytest.fail(f"croniter is not installed; it is the oracle of these tests: {INSTALL_HINT}")
    version = importlib.metadata.version("croniter")
    if version != CRONITER_VERSION:
        pytest.fail(f"croniter {version} is installed, but sluice ports croniter "
                    f"{CRONITER_VERSION}'s DST stepping: {INSTALL_HINT}")
    binary = sluice_bin()
    env = {k: v for k, v in os.environ.items() if k != "SLUICE_FAULT"}

    def run(case):
        try:
            p = subprocess.run([binary] + case.command(), capture_output=True, env=env,
                               timeout=120)
        except subprocess.TimeoutExpired:
            return -1, "", "did not finish within 120 s"
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    def expect(case):
        try:
            return expected_fires(case)
        except Exception as e:  # one case's oracle failure fails that case, not the module
            return Expected(case, resolve_from(case.start, case.zone), False, [], [], "",
                            [f"the oracle raised {type(e).__name__}: {e}"])

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        outputs = pool.map(run, CASES)
        expected = {c.id: expect(c) for c in CASES}  # while sluice runs
        results = {c.id: (expected[c.id], out) for c, out in zip(CASES, outputs)}
    return results


def sluice_runs(case: Case, out) -> tuple:
    """sluice's JSON document and its runs; fails on an error exit."""
    rc, stdout, stderr = out
    assert rc == 0, f"{case.shell()}\n-> exit {rc}\n{stdout[-2000:]}\n{stderr[-2000:]}"
    doc = json.loads(stdout)
    assert doc["schedule"] == case.expr and doc["timezone"] == case.zone, doc
    return doc, doc["runs"]


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def show(fires, zone) -> str:
    """Fire times, short: "2026-10-25T02:30+01:00"."""
    return "[" + ", ".join(iso_local(u, zone)[:16] + iso_local(u, zone)[19:] for u in fires) + "]"


def assert_local_iso(text: str, u: dt.datetime, zone: str, what: str):
    """text is u as an ISO 8601 local time in zone, with that zone's offset at u."""
    ok = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", text)
    if not ok or parse(text) != u or parse(text).utcoffset() != \
            u.astimezone(ZoneInfo(zone)).utcoffset():
        pytest.fail(f"{what}: {text}, expected {iso_local(u, zone)}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_next_matches_oracle(oracle, case):
    exp, out = oracle[case.id]
    assert not exp.problems, (f"the oracle is inconsistent for {case.shell()} (a harness bug "
                              f"or croniter's): {exp.problems}")
    doc, runs = sluice_runs(case, out)
    got = [parse(r["starts_at"]) for r in runs]
    if got != exp.fires:
        k = next((i for i, (a, b) in enumerate(zip(got, exp.fires)) if a != b),
                 min(len(got), len(exp.fires)))
        first = (f"sluice {runs[k]['starts_at'] if k < len(got) else '(none)'} vs expected "
                 f"{iso_local(exp.fires[k], case.zone) if k < len(exp.fires) else '(none)'}")
        pytest.fail(f"{case.shell()}\n  expression {case.expr!r}, zone {case.zone}, from "
                    f"{case.start} ({iso_local(exp.start, case.zone)})"
                    + (f", DST change at {iso_local(case.transition.at, case.zone)}"
                       if case.transition else "") + "\n"
                    f"  first difference at run {k}: {first}\n"
                    f"  expected by {exp.source}\n"
                    f"  sluice:   {show(got, case.zone)}\n  expected: {show(exp.fires, case.zone)}"
                    + ("" if exp.multi else f"\n  croniter: {show(exp.croniter_fires, case.zone)}"))
    assert_local_iso(doc["from"], exp.start, case.zone, f"{case.shell()}: from")
    for r, u in zip(runs, exp.fires):
        assert_local_iso(r["starts_at"], u, case.zone, f"{case.shell()}: starts_at")
        assert r["starts_at_utc"] == u.strftime("%Y-%m-%dT%H:%M:%SZ"), \
            f"{case.shell()}: starts_at_utc {r['starts_at_utc']} for {iso_local(u, case.zone)}"


def expected_run_key(start: dt.datetime, zone: str, multi: bool) -> str:
    z = ZoneInfo(zone)
    w = local(start, z)
    if not multi:
        return w.date().isoformat()
    key = w.strftime("%Y-%m-%dT%H:%M") + (f":{w.second:02d}" if w.second else "")
    found = instants_of(w, z)
    return key + ("b" if len(found) == 2 and start == found[1] else "")


# The run keys and intervals of every third case (cheap, but one defect should not repeat in a
# thousand failures).
INTERVAL_CASES = CASES[::3]


@pytest.mark.parametrize("case", INTERVAL_CASES, ids=[c.id for c in INTERVAL_CASES])
def test_run_keys_and_intervals(oracle, case):
    exp, out = oracle[case.id]
    _, runs = sluice_runs(case, out)
    assert runs, case.shell()
    z = ZoneInfo(case.zone)
    where = f"{case.shell()}\n  "
    for k, r in enumerate(runs):
        start, end = parse(r["interval_start"]), parse(r["interval_end"])
        assert_local_iso(r["interval_start"], start, case.zone, f"{where}run {k} interval_start")
        assert end == parse(r["starts_at"]), f"{where}run {k}: interval_end != starts_at: {r}"
        assert start < end, f"{where}run {k}: empty interval {r}"
        if k:
            assert start == parse(runs[k - 1]["starts_at"]), \
                f"{where}run {k}: interval_start {r['interval_start']} is not the previous " \
                f"run's starts_at {runs[k - 1]['starts_at']}"
        assert r["ds"] == local(start, z).date().isoformat(), \
            f"{where}run {k}: ds {r['ds']} is not the local date of {r['interval_start']}"
        assert r["run_key"] == expected_run_key(start, case.zone, exp.multi), \
            f"{where}run {k}: run_key {r['run_key']} for interval_start {r['interval_start']}" \
            f" (expected {expected_run_key(start, case.zone, exp.multi)})"
    # The first interval starts at the fire before it: the oracle, started there, fires next
    # at the first run's starts_at, and started a second earlier fires there first.
    first_start, first_end = parse(runs[0]["interval_start"]), parse(runs[0]["starts_at"])
    assert first_start <= exp.start, f"{where}run 0 interval_start {runs[0]['interval_start']}" \
                                     f" is after --from {iso_local(exp.start, case.zone)}"
    for origin, want in ((first_start, first_end), (first_start - SECOND, first_start)):
        if exp.multi:
            nxt = croniter_chain(case, origin, origin, 1)[0]
        else:
            nxt = daily_rule_fires(case, origin, 1)[0][0]
        assert nxt == want, f"{where}run 0: the oracle started at {iso_local(origin, case.zone)}" \
                            f" fires next at {iso_local(nxt, case.zone)}, not " \
                            f"{iso_local(want, case.zone)} (interval {runs[0]['interval_start']}" \
                            f" .. {runs[0]['starts_at']})"


def test_dst_rules_were_exercised(oracle):
    """The cases reach the DST changes: every zone's gaps and repeated hours are fired into by
    both kinds of schedule, and croniter's double fire in the repeated hour (which the
    once-a-day rule replaces) occurred, so the deviation logic really ran."""
    total = Counter()
    per_zone = {zone: Counter() for zone in TRANSITION_DATES}
    for exp, _ in oracle.values():
        total.update(exp.stats)
        if exp.case.zone in per_zone:
            per_zone[exp.case.zone].update(exp.stats)
    summary = "\n".join(f"  {k}: {v}" for k, v in sorted(total.items()))
    # About half of what the cases reach today (614 cases: 67 gap and 47 repeated daily fires,
    # 54 double fires of croniter's dropped, 184 / 137 sub-daily fires in the first / second
    # pass of a repeated hour, 92 at the instant of a change).
    needed = {
        "daily: gap wall time": 30,
        "daily: repeat wall time": 20,
        "daily: croniter fires a repeated time twice (dropped)": 25,
        "multi: fire at a repeated wall time (1st pass)": 80,
        "multi: fire at a repeated wall time (2nd pass)": 60,
        "multi: fire at the instant of a DST change": 40,
    }
    for key, minimum in needed.items():
        assert total[key] >= minimum, f"only {total[key]} x {key!r} (want {minimum}):\n{summary}"
    for zone, stats in per_zone.items():
        for key in needed:
            assert stats[key] > 0, f"{zone}: no {key!r} among the cases"
    assert len(CASES) >= 500, len(CASES)
