"""An independent reference for the citizens pipeline, in pure Python (no DuckDB, no sluice).

It reads the CSV bytes itself (RFC 4180 quoting, physical line numbers and byte offsets),
types every field strictly as the pipeline declares, and recomputes the cleaned citizens
and both marts. The tests compare sluice's output with it exactly.
"""

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

COLUMNS = [
    ("citizen_id", "BIGINT"),
    ("first_name", "VARCHAR"),
    ("last_name", "VARCHAR"),
    ("gender", "VARCHAR"),
    ("birth_date", "DATE"),
    ("email", "VARCHAR"),
    ("phone", "VARCHAR"),
    ("street", "VARCHAR"),
    ("city", "VARCHAR"),
    ("region", "VARCHAR"),
    ("postal_code", "VARCHAR"),
    ("occupation", "VARCHAR"),
    ("annual_income", "DECIMAL(12,2)"),
    ("registered_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
]
NAMES = [c for c, _ in COLUMNS]
IDX = {c: i for i, c in enumerate(NAMES)}


@dataclass
class Record:
    line: int  # 1-based physical line where the record starts (the header is line 1)
    offset: int  # 0-based byte offset of the record's first byte
    fields: list  # raw bytes of each field, unquoted; None for an empty unquoted field
    raw: bytes


@dataclass
class Rejected:
    line: int
    offset: int
    kind: str  # MISSING COLUMNS | TOO MANY COLUMNS | INVALID ENCODING | CAST
    detail: str


@dataclass
class ParseResult:
    header: list
    rows: list = field(default_factory=list)  # (line, typed tuple)
    rejected: list = field(default_factory=list)  # Rejected

    @property
    def read(self):
        return len(self.rows) + len(self.rejected)


def split_records(data: bytes, delim: bytes = b",", quote: bytes = b'"'):
    """Yields Records from CSV bytes: quoted fields may hold delimiters, doubled quotes and
    newlines; a record ends at LF (a CR before it is dropped). Raises ValueError for a quote
    that is never closed."""
    q = quote[0]
    pos = 0
    line = 1
    n = len(data)
    while pos < n:
        start, start_line = pos, line
        nl = data.find(b"\n", pos)
        end = n if nl < 0 else nl
        text = data[pos:end]
        pos = end + 1
        line += 1
        if quote not in text:
            body = text[:-1] if text.endswith(b"\r") else text
            fields = [f if f else None for f in body.split(delim)]
            yield Record(start_line, start, fields, body)
            continue
        # Quoted fields: a small state machine, extended line by line while a quote is open.
        while True:
            fields, open_quote = _split_quoted(text, delim[0], q)
            if not open_quote:
                break
            if pos >= n:
                raise ValueError(f"line {start_line}: a quote is never closed")
            nl = data.find(b"\n", pos)
            end = n if nl < 0 else nl
            text = text + b"\n" + data[pos:end]
            pos = end + 1
            line += 1
        body = text[:-1] if text.endswith(b"\r") else text
        if body is not text:
            fields, _ = _split_quoted(body, delim[0], q)
        yield Record(start_line, start, fields, body)


def _split_quoted(text: bytes, d: int, q: int):
    fields = []
    cur = bytearray()
    quoted = was_quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == q:
                if i + 1 < n and text[i + 1] == q:
                    cur.append(q)
                    i += 2
                    continue
                quoted = False
            else:
                cur.append(c)
            i += 1
            continue
        if c == q and not cur and not was_quoted:
            quoted = was_quoted = True
        elif c == d:
            fields.append(bytes(cur) if (cur or was_quoted) else None)
            cur = bytearray()
            was_quoted = False
        else:
            cur.append(c)
        i += 1
    fields.append(bytes(cur) if (cur or was_quoted) else None)
    return fields, quoted


_INT = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_DEC = re.compile(r"[+-]?\d+(\.\d{1,2})?")


def cast(value: Optional[str], typ: str):
    """Strict cast of one field; raises ValueError when the text is not of that type."""
    if value is None:
        return None
    if typ == "VARCHAR":
        return value
    if typ == "BIGINT":
        if not _INT.fullmatch(value):
            raise ValueError(f"{value!r} is not a BIGINT")
        v = int(value)
        if not -(2**63) <= v < 2**63:
            raise ValueError(f"{value!r} is out of BIGINT range")
        return v
    if typ == "DATE":
        m = _DATE.fullmatch(value)
        if not m:
            raise ValueError(f"{value!r} is not a DATE")
        return dt.date(int(m[1]), int(m[2]), int(m[3]))  # raises for 1990-02-31
    if typ == "TIMESTAMP":
        m = _TS.fullmatch(value)
        if not m:
            raise ValueError(f"{value!r} is not a TIMESTAMP")
        return dt.datetime(*(int(g) for g in m.groups()))
    if typ.startswith("DECIMAL"):
        if not _DEC.fullmatch(value):
            raise ValueError(f"{value!r} is not a {typ}")
        v = Decimal(value).quantize(Decimal("0.01"))
        if abs(v) >= Decimal(10) ** 10:
            raise ValueError(f"{value!r} overflows {typ}")
        return v
    raise AssertionError(f"type {typ} not handled by the reference")


def parse_csv(data: bytes, columns=COLUMNS) -> ParseResult:
    """Strictly typed parse of a CSV with a header line: every record either becomes a typed
    row or is rejected with the reason."""
    records = split_records(data)
    header = next(records)
    res = ParseResult([f.decode("utf-8") if f else "" for f in header.fields])
    for rec in records:
        if rec.fields == [None] and rec.raw == b"":
            continue  # an empty last line
        if len(rec.fields) < len(columns):
            res.rejected.append(Rejected(rec.line, rec.offset, "MISSING COLUMNS",
                                         f"{len(rec.fields)} fields"))
            continue
        if len(rec.fields) > len(columns):
            res.rejected.append(Rejected(rec.line, rec.offset, "TOO MANY COLUMNS",
                                         f"{len(rec.fields)} fields"))
            continue
        try:
            text = [None if f is None else f.decode("utf-8") for f in rec.fields]
        except UnicodeDecodeError as e:
            res.rejected.append(Rejected(rec.line, rec.offset, "INVALID ENCODING", str(e)))
            continue
        try:
            row = tuple(cast(v, t) for v, (_, t) in zip(text, columns))
        except ValueError as e:
            res.rejected.append(Rejected(rec.line, rec.offset, "CAST", str(e)))
            continue
        res.rows.append((rec.line, row))
    return res


# ---------------------------------------------------------------------------------------------
# The models, recomputed.


def clean_citizens(rows, ds: dt.date):
    """staging.citizens: the latest updated_at per citizen_id (an exact tie must be the same
    row), names trimmed, email trimmed and lowercased, then rows that cannot be true on ds
    (born after ds, negative income, unknown birth date or income) dropped."""
    latest = {}
    for row in rows:
        cid = row[IDX["citizen_id"]]
        prev = latest.get(cid)
        if prev is None or _later(row, prev):
            latest[cid] = row
        elif row[IDX["updated_at"]] == prev[IDX["updated_at"]] and row != prev:
            raise AssertionError(f"citizen {cid}: two different rows share the latest "
                                 f"updated_at; the dedupe would not be deterministic")
    out = []
    for row in latest.values():
        r = list(row)
        for c in ("first_name", "last_name"):
            if r[IDX[c]] is not None:
                r[IDX[c]] = r[IDX[c]].strip(" ")
        if r[IDX["email"]] is not None:
            r[IDX["email"]] = r[IDX["email"]].strip(" ").lower()
        bd, income = r[IDX["birth_date"]], r[IDX["annual_income"]]
        if bd is None or bd > ds or income is None or income < 0:
            continue
        out.append(tuple(r))
    return out


def _later(a, b):
    ua, ub = a[IDX["updated_at"]], b[IDX["updated_at"]]
    if ua is None:
        return False
    return ub is None or ua > ub


def age_on(birth: dt.date, ds: dt.date) -> int:
    """Completed years on ds (a birthday on ds counts; Feb 29 birthdays turn a year older on
    Mar 1 in common years)."""
    return ds.year - birth.year - (1 if (birth.month, birth.day) > (ds.month, ds.day) else 0)


def age_band(age: int) -> str:
    if age < 18:
        return "0-17"
    if age < 30:
        return "18-29"
    if age < 45:
        return "30-44"
    if age < 65:
        return "45-64"
    return "65+"


def citizens_by_region(staging):
    """{region: (citizens, total_income, avg_income)}"""
    groups = defaultdict(list)
    for r in staging:
        groups[r[IDX["region"]]].append(r[IDX["annual_income"]])
    return {k: (len(v), sum(v), sum(v) / len(v)) for k, v in groups.items()}


def income_by_city_age_band(staging, ds: dt.date):
    """{(region, city, age_band): (citizens, total_income, avg_income)}"""
    groups = defaultdict(list)
    for r in staging:
        band = age_band(age_on(r[IDX["birth_date"]], ds))
        groups[(r[IDX["region"]], r[IDX["city"]], band)].append(r[IDX["annual_income"]])
    return {k: (len(v), sum(v), sum(v) / len(v)) for k, v in groups.items()}
