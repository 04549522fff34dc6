"""Use cases and the embedding API.

``MailHost`` groups the use cases by area (``organisations``, ``accounts``, ``alerts``,
``activity``). Build one from the environment with ``infrastructure.bootstrap.open_mailhost``
or explicitly from a ``MailHostLog`` and the ports in this package.
"""

from application.host import MailHost

__all__ = ["MailHost"]
