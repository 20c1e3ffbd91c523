#!/usr/bin/python3
"""Parse an iCalendar feed (stdin, bytes) for t/api/670_calendar_feed.t; print JSON.

Two readings: the octets as RFC 5545 3.1 lays them out (CRLF line ends, at most 75 octets a
line, continuation lines starting with a space, each line valid UTF-8 by itself, so no fold
falls inside a character), then Debian's python3-icalendar, whose own complaints (the
`errors` of each component) count as problems too. Output:
  {"problems": [...], "lines": n, "folded": n, "longest": octets,
   "calendar": {PROPERTY: value, ...}, "components": [names], "events": [{...}, ...]}
An event: uid, dtstamp, dtstart, dtend (UTC, YYYY-MM-DDTHH:MM:SSZ), sequence (int), status,
summary, location, url, class, props (the property names, in order). Exit status 0 when the
feed could be parsed at all (problems are for the test to judge), 2 when it could not.
"""
import json
import sys

import icalendar


def utc(prop, problems, what):
    if prop is None:
        return None
    dt = prop.dt
    if not hasattr(dt, "hour"):
        problems.append("%s is a DATE, not a DATE-TIME" % what)
        return str(dt)
    if dt.tzinfo is None or dt.utcoffset() is None or dt.utcoffset().total_seconds() != 0:
        problems.append("%s is not in UTC: %r" % (what, prop.to_ical()))
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def text(v):
    return None if v is None else str(v)


def main():
    raw = sys.stdin.buffer.read()
    problems = []
    out = {"problems": problems, "lines": 0, "folded": 0, "longest": 0}

    # ---- the octets ----------------------------------------------------------------------
    if not raw.endswith(b"\r\n"):
        problems.append("the document does not end with CRLF")
    lines = raw.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line:
            problems.append("line %d holds a bare CR or LF" % n)
        if len(line) > 75:
            problems.append("line %d is %d octets long" % (n, len(line)))
        try:
            line.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            problems.append("line %d is not UTF-8 by itself (a fold inside a character?)" % n)
        if line[:1] in (b" ", b"\t"):
            out["folded"] += 1
            if n == 1:
                problems.append("the first line is a continuation")
        elif b":" not in line:
            problems.append("line %d is neither a property nor a continuation" % n)
        out["longest"] = max(out["longest"], len(line))
    out["lines"] = len(lines)

    # ---- the parser ----------------------------------------------------------------------
    try:
        cal = icalendar.Calendar.from_ical(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - any failure to parse is the answer
        print(json.dumps({"problems": problems + ["icalendar: %s" % e], "parsed": False}))
        return 2
    out["parsed"] = True
    out["components"] = [c.name for c in cal.walk()]
    for c in cal.walk():
        for err in getattr(c, "errors", []) or []:
            problems.append("icalendar (%s): %s" % (c.name, err))
    out["calendar"] = {k: text(v) for k, v in cal.items()}
    events = []
    for ev in cal.walk("VEVENT"):
        uid = text(ev.get("UID"))
        seq = ev.get("SEQUENCE")
        events.append({
            "uid": uid,
            "dtstamp": utc(ev.get("DTSTAMP"), problems, "DTSTAMP of %s" % uid),
            "dtstart": utc(ev.get("DTSTART"), problems, "DTSTART of %s" % uid),
            "dtend": utc(ev.get("DTEND"), problems, "DTEND of %s" % uid),
            "sequence": None if seq is None else int(seq),
            "status": text(ev.get("STATUS")),
            "summary": text(ev.get("SUMMARY")),
            "location": text(ev.get("LOCATION")),
            "url": text(ev.get("URL")),
            "class": text(ev.get("CLASS")),
            "props": list(ev.keys()),
        })
    out["events"] = events
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
