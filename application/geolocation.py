"""Approximate place of a network address, for alerts and recent activity (SEC-1)."""

from ipaddress import IPv4Address, IPv6Address
from typing import Protocol


class Geolocator(Protocol):
    def locate(self, ip: IPv4Address | IPv6Address) -> str:
        """A place such as "Geneva, CH", or "" when unknown."""
        ...
