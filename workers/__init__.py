"""Dramatiq actors: thin, idempotent, JSON ids in, a use case of ``application`` called.

``dramatiq workers`` runs them against Redis (``MAILHOST_BROKER_URL``); embedded, the
engine runs them in-process on Dramatiq's in-memory broker.
"""

from workers import actors

__all__ = ["actors"]
