"""Verifying an alternative sender by a code mailed to it (RSP-2).

The code is mailed once and kept only as a keyed digest in the credential store; the log
names the digest, never the code. A typed code is a guess only if it has the form of a
mailed one, so malformed input neither uses up the tries nor reaches the digest.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from uuid import UUID, uuid4

from attrs import frozen

from application.context import command
from application.credentials import staged_secret
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    Fingerprints,
    OutgoingMail,
)
from application.responderlog import ResponderLog
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.responder import AutoResponder
from domain.responderpolicy import ResponderPolicy, address_key, responder_id

CODE_DIGITS = 8
# A code is exactly what request_sender_verification generates: ASCII digits only
# (``\d`` would take Arabic-Indic digits), so only such a string counts as a guess.
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")


@frozen
class SenderVerification:
    responders: ResponderLog
    fingerprints: Fingerprints
    credentials: CredentialStore
    mail: EngineMail
    clock: Clock
    policy: ResponderPolicy

    @command
    def request(self, address: str, alternative: str, *, by: UUID | None) -> datetime:
        """Mail a one-time code to the alternative sender; only its keyed digest is kept.

        The number of mails is limited per alternative address (``ResponderPolicy``),
        counted from the recorded requests, so every worker sees the same count.
        """
        other = EmailAddress.parse(alternative, what="alternative sender")
        _, mailbox = self.responders.services.mailbox(address)
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        # The keyed digest waits in the credential store; the log names it only. A
        # refused request (a limit, a permission, a lost race) takes it back.
        code_id = uuid4()
        with staged_secret(
            self.credentials,
            code_id,
            self._code_digest(address, other, code),
            owner=responder_id(mailbox.address),
        ):
            expires = self.responders.change(
                address,
                by,
                lambda r: r.request_sender_verification(
                    other,
                    code_id,
                    at=self.clock.now(),
                    policy=self.policy,
                ),
            )
        self.mail.send(
            OutgoingMail(
                self.mail.sender,
                (str(other),),
                self._code_mail(address, other, code, expires),
            )
        )
        return expires

    def _code_mail(
        self, address: str, other: EmailAddress, code: str, expires: datetime
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.mail.sender
        message["To"] = str(other)
        message["Subject"] = "Confirm this address as a sender"
        message["Message-ID"] = make_msgid(domain=other.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(
            f"The address {address} asks to send its automatic replies as {other}.\n\n"
            f"Code: {code}\n\nEnter it in the auto-responder settings before "
            f"{expires:%Y-%m-%d %H:%M} UTC. If you did not expect this, ignore it.\n",
            cte="7bit",
        )
        return message

    @command
    def confirm(
        self, address: str, alternative: str, code: str, *, by: UUID | None
    ) -> bool:
        """Check a typed code; a wrong one is recorded (the tries are bounded).

        Only a code of the form this engine mails (:data:`CODE_DIGITS` ASCII digits)
        is a guess; anything else is refused as input and records nothing, so it can
        neither use up the tries nor reach the digest as text it cannot encode.
        """
        typed = _code(code)
        other = EmailAddress.parse(alternative, what="alternative sender")
        digest = self._code_digest(address, other, typed)

        def check(responder: AutoResponder) -> bool:
            pending = responder.pending_senders.get(other.identity)
            stored = self.credentials.secret(pending.code_id) if pending else None
            matches = stored is not None and secrets.compare_digest(stored, digest)
            confirmed = responder.confirm_sender(
                other, code_matches=matches, at=self.clock.now()
            )
            if confirmed and pending is not None:
                self.credentials.forget_secret(pending.code_id)
            return confirmed

        return self.responders.change(address, by, check)

    def _code_digest(self, address: str, other: EmailAddress, code: str) -> str:
        return self.fingerprints.digest(
            f"sender-code:{address_key(address)}:{other.identity}:{code}"
        )


def _code(code: str) -> str:
    """The typed code without surrounding blanks, if it has the form of a mailed one."""
    typed = code.strip() if isinstance(code, str) else code
    if not isinstance(typed, str) or _CODE.fullmatch(typed) is None:
        raise InvalidInput(
            f"the code must be the {CODE_DIGITS} digits (0-9) of the mail, nothing else"
        )
    return typed
