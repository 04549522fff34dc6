"""The pure core: aggregates, their events, value objects and policies.

Nothing here reads the clock, the environment, the network or the disk; time arrives as
an ``at`` argument, so replays and property tests see exactly what production saw.
"""
