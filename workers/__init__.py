"""Dramatiq actors: thin, idempotent, JSON ids in, a use case of ``application`` called.

``dramatiq workers.actors`` runs them against Redis (``MAILHOST_BROKER_URL``); embedded,
the engine runs them in-process on Dramatiq's in-memory broker. The package itself
declares nothing, so importing the job machinery (``workers.execution``) does not build
a broker: only the worker process's composition root, ``workers.actors``, does.
"""
