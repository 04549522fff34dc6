"""Approximate places from a table of address ranges (the CSV layout of free GeoIP lists).

The engine ships no geolocation data: point ``MAILHOST_GEOIP_CSV`` at a file with rows
``first_address,last_address,place``. Without one, private and loopback networks are
"local network" and everything else has no known place, so alerts fall back to the
network prefix.
"""

from __future__ import annotations

import bisect
import csv
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path


class RangeTableGeolocator:
    def __init__(self, table: Path | None = None) -> None:
        self._starts: list[tuple[int, int]] = []
        self._rows: list[tuple[int, str]] = []
        if table is not None:
            self._load(table)

    def _load(self, table: Path) -> None:
        rows = []
        with table.open(newline="", encoding="utf-8") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                if not row or row[0].startswith("#"):
                    continue
                if len(row) != 3:  # noqa: PLR2004 - the three columns of the layout
                    raise ValueError(f"{table}:{number}: expected first,last,place")
                first, last = ip_address(row[0].strip()), ip_address(row[1].strip())
                if first.version != last.version or int(first) > int(last):
                    raise ValueError(f"{table}:{number}: bad address range")
                rows.append(((first.version, int(first)), (int(last), row[2].strip())))
        rows.sort()
        self._starts = [start for start, _ in rows]
        self._rows = [end for _, end in rows]

    def locate(self, ip: IPv4Address | IPv6Address) -> str:
        i = bisect.bisect_right(self._starts, (ip.version, int(ip))) - 1
        if i >= 0 and self._starts[i][0] == ip.version and int(ip) <= self._rows[i][0]:
            return self._rows[i][1]
        if ip.is_private or ip.is_loopback or ip.is_link_local:
            return "local network"
        return ""
