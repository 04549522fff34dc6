"""Dovecot Pigeonhole's vacation test suite, ported where it maps onto this engine (RSP-7, RSP-8).

Source: github.com/dovecot/pigeonhole, ``tests/extensions/vacation/*.svtest`` (commit
d0d2bedb); each test names the file and the ``test "..."`` it came from. A Sieve
``vacation`` action is the active message of the responder; ``:subject`` is the
message's own subject, ``:from`` its verified alternative sender, ``:addresses`` the
mailbox's aliases, ``envelope.from`` / ``envelope.to`` the envelope sender and the
recipient the MTA delivered to. Every reply is composed, serialised and parsed back as a
client does (``BytesParser(policy=email.policy.default)``), and asserted on what it sees.

Not ported, and why:

- ``message.svtest`` "Subject - configured, no subject" (its configured part) and
  "Subject - configured, full variable": ``sieve_vacation_default_subject`` and
  ``..._template`` are operator settings this engine does not have; the unconfigured
  default ("Automated reply") is ported in "No subject".
- ``message.svtest`` "Reply to (ignored envelope)": ``to_header_ignore_envelope`` replies
  to a header address that is not the envelope sender; here the reply always goes to the
  envelope sender (RFC 3834 4), so an SRS-rewritten sender gets no display name.
- ``message.svtest`` "Send from recipient": ``sieve_vacation_send_from_recipient`` sends
  with the recipient as SMTP MAIL FROM; here the reply is always sent from the null
  path ``<>`` (RFC 3834 3.3, README), as "NULL Sender" checks.
- ``utf-8.svtest`` "MIME Encoded From" and "MIME Encoded From - UTF-8 in phrase": the
  ``:from`` there carries a display name; a verified alternative sender here is an
  address only, with no name to encode.
- ``execute.svtest`` ("Action", "No :handle specified", "Using :seconds tag") and
  ``errors.svtest`` ("Action conflicts: reject <-> vacation"): Sieve compilation, the
  implicit keep, ``:handle`` and ``:seconds``/``:days``, and action conflicts. There is
  no script here; the window is one per message and sender and lasts 7 days (RSP-4,
  reset by RSP-5), tested in tests/unit/test_autoreply.py.
- ``reply.svtest`` "Reply for original recipient" and "Reply for user's explicitly
  configured email address" in their configured form (``use_original_recipient``,
  ``sieve_user_email``): the engine knows the mailbox's own addresses instead, so both
  are ported with the address as an alias of the mailbox.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from uuid import uuid4

import attrs
import pytest

from domain.address import EmailAddress
from domain.autoreply import decide
from domain.incoming import header_block
from domain.replymail import MAX_SUBJECT_CHARACTERS, Reply, compose_reply
from domain.replyplan import Check, Decision
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft, ResponderConfig
from domain.responderpolicy import ResponderPolicy
from tests.unit.autoreply_support import POLICY, T0

AWAY = "I am not in today!"
NICO = "nico@frop.example.org"


def responder(
    address: str, *, subject: str | None = None, sender: str | None = None
) -> ResponderConfig:
    """The active ``vacation`` of ``address``: ``:subject`` and a verified ``:from``."""
    r = AutoResponder.provision(EmailAddress.parse(address), time_zone="UTC", at=T0)
    verified = None
    if sender is not None:
        verified = EmailAddress.parse(sender)
        r.request_sender_verification(verified, uuid4(), at=T0, policy=POLICY)
        assert r.confirm_sender(verified, code_matches=True, at=T0)
    r.save_message(
        MessageDraft(name="Vacation", body=AWAY, subject=subject, sender=verified),
        at=T0,
    )
    r.activate("Vacation", at=T0)
    return r.config()


@attrs.frozen
class Vacation:
    decision: Decision
    reply: Reply | None

    @property
    def seen(self) -> EmailMessage:
        """The reply as a client reads it from the wire."""
        assert self.reply is not None, self.decision.reason
        parsed = BytesParser(policy=policy.default).parsebytes(
            self.reply.message.as_bytes()
        )
        assert isinstance(parsed, EmailMessage)
        return parsed


def vacation(
    text: str,
    *,
    envelope_from: str,
    envelope_to: str,
    config: ResponderConfig | None = None,
    addresses: tuple[str, ...] = (),
    rules: ResponderPolicy = POLICY,
) -> Vacation:
    """``vacation`` run on the message ``text`` (written as in the .svtest, LF ends)."""
    wire = text.strip("\n").replace("\n", "\r\n") + "\r\n"
    decision = decide(
        config or responder(envelope_to),
        recipient=envelope_to,
        envelope_sender=envelope_from,
        headers=header_block(wire.encode()),
        received_at=T0,
        window_last_sent=None,
        budget_used=0,
        policy=rules,
        own_addresses=addresses,
    )
    reply = None if decision.plan is None else compose_reply(decision.plan, date=T0)
    return Vacation(decision, reply)


# -- message.svtest ---------------------------------------------------------------------

PLAIN = """
From: stephan@example.org
Subject: No subject of discussion
To: nico@frop.example.org

Frop
"""


def test_subject() -> None:
    # message.svtest "Subject"; rule RSP-8
    v = vacation(PLAIN, envelope_from="stephan@example.org", envelope_to=NICO)
    assert v.seen["Subject"] == "Auto: No subject of discussion"


def test_subject_explicit() -> None:
    # message.svtest "Subject - explicit": the message's own subject wins
    config = responder(NICO, subject="Tulips")
    v = vacation(
        PLAIN, envelope_from="stephan@example.org", envelope_to=NICO, config=config
    )
    assert v.seen["Subject"] == "Tulips"


def test_no_subject() -> None:
    # message.svtest "No subject" and "Subject - configured, no subject" (unconfigured)
    text = "From: stephan@example.org\nTo: nico@frop.example.org\n\nFrop\n"
    v = vacation(text, envelope_from="stephan@example.org", envelope_to=NICO)
    assert v.seen["Subject"] == "Automated reply"


LONG_LATIN = """
From: stephan@example.org
To: nico@frop.example.org
Subject: Lorem ipsum dolor sit amet, consectetur adipiscing elit. Nam tempor a
 odio vitae dapibus. Suspendisse ligula libero, faucibus ac laoreet quis,
 viverra a quam. Morbi tempus suscipit feugiat. Fusce at sagittis est. Ut
 lacinia scelerisque porttitor. Mauris nec nunc quis elit varius fringilla.
 Morbi pretium felis id justo blandit, quis pulvinar est dignissim. Sed rhoncus
 libero tortor, in luctus magna lacinia at. Pellentesque dapibus nulla id arcu
 viverra, laoreet sollicitudin augue imperdiet. Proin vitae ultrices turpis, vel
 euismod tellus.

Frop
"""


def test_extremely_long_subject() -> None:
    # message.svtest "Extremely long subject": 256 characters, the last an ellipsis
    v = vacation(LONG_LATIN, envelope_from="stephan@example.org", envelope_to=NICO)
    subject = v.seen["Subject"]
    assert "Auto: Lorem ipsum dolor sit amet, consectetur adipiscing elit." in subject
    assert "Ut lacinia scelerisque porttitor." in subject
    assert "Mauris" not in subject
    assert subject.endswith("\u2026")
    assert len(subject) <= MAX_SUBJECT_CHARACTERS


JAPANESE_WORDS = [
    "5Lul44Gk44KP44Gl6IGeNjXntbXjgZLjgb7lhazlrZjjgofmhJvnm4o=",
    "44Kk44Op44OM5peF57W15bmz44ON6IGe546J44KG44OD5aSc6IO944K744Oh44Oy",
    "5pig57SZ44OK44ON44Oy44Op6KiYNTDogZ4z6YeM44Ok6YWN55+z44K544KK44KS",
    "5YWI5aSp44Ok44OM44Kq44Kv5rKi5aSpN+e1seS9teOCpOOCiOOBkeOBkuacgA==",
    "5Yem6Lyq6YeR55u044Gh44K544CC5o+u44KP5Y205YaZ44KI44KD6ZmQ5YK344GY",
    "44Gw6LGK6YqY44KJ44G944Gu44G76KuH6YCg44GS55m65aSJ44Gg6Zqb6KiY44K/",
    "44Oo44Oq5qeL5aeL5pyI44Oo44K76KGo6Lu944GZ44Gl44Or55CG54m56Zmi44GW",
    "44KM55S36Yyy44Kr44OB5q+O5b+c44Gy44GP44OI44GT5Lq65b6p5q+U44Kk44G1",
    "44CC5pel44Of44OO44Ko572u5q2i44Kk6KiY5aC044Kv44Km6KaL5pyI44Oq44K3",
    "44OS44K55pu46Zu744G744KT6ZaL5a2m5LqV44Ov44K56YCDNuiznuWJsuOCuw==",
    "44OE5pS/6Lui44GC44OI44G744KM5pKu6L+957ep44Gb44Gw44G76K235Yy656eB",
    "5LiY55SY44KB44KH44Gv44Gk44CC5Lqk44Or44Kv56eANTfkv7jmhJrniaHnjaMx",
    "5a6a44ON5oqV5byP44OB44Ob44Kk44OV5LyaMuaOsuOBreODiOOBvOOBpuS/nQ==",
    "5ZOB44Go44GY44GW44Gh55u06YeR44Ki44OB44OS6Kq/5qCh44K/5pu05LiL44G5",
    "44Go44O85aOr6IGe44OG44Kx44Kq6Lu96KiY44Ob44Kr5ZCN5YyX44KK44G+44GS",
    "44G75byB5YiG44GY44Kv5bSO6ISF44Gt44KB44Oz5qC85oqx6Ki66Zyy56uc44KP",
    "44Or44G244Kk44CC5L2Q44GL44Gg5Y+v566h44Om44Op44ON6LW35ZGI5L2Q44Ge",
    "44KK44Gl44Gb5Ye66ZqO44G15pa56Iao44GV44Gz44Ge5Lit5aOw5LiN57WC5aSa",
    "5pWj44KM44KI44Gp44KJ5L2V6ZuG44GC56CC5bKh44Ov5aSJ5oSb57Sw44GP44CC",
    "6Zmj44GC44Ga57aa55qE44Or44KT5b6X5rOV44KS44GR44KK56eR5ZCM57Si44KD",
    "44GG44Oz5bGL5oi4NTHkv7jmhJrniaHnjaM45bi444Ox44Ki44Kx5oqe5YWI44Os",
    "44OV5bqm5YmN44OM44Kr44OS5pys5ouh44Kx44Oi56eB5L2G44G444KE44OJ44Gz",
    "57O755CD5Z+f44Oh44K/44Oo44ON5YWo6IO944OE44OS5pu45oyH5oyZ5oKj5oWj",
    "44Gl44CC",
]


def test_extremely_long_japanese_subject() -> None:
    # message.svtest "Extremely long japanese subject": decoded (RFC 2047) before the
    # cut, cut between characters, re-encoded with no word split inside a character
    words = "\n ".join(f"=?UTF-8?B?{w}?=" for w in JAPANESE_WORDS)
    text = f"From: stephan@example.org\nTo: {NICO}\nSubject: {words}\n\nFrop\n"
    v = vacation(text, envelope_from="stephan@example.org", envelope_to=NICO)
    subject = v.seen["Subject"]
    assert (
        "Auto: 以つわづ聞65絵げま公存ょ愛益イラヌ旅絵平ネ聞玉ゆッ夜能セメヲ映紙ナネヲ"
        in subject
    )
    assert (
        "保品とじざち直金アチヒ調校タ更下べとー士聞テケオ軽記ホカ名北りまげほ弁分じク"
        in subject
    )
    assert "ねめン格抱診露" not in subject
    assert subject.endswith("\u2026")
    assert len(subject) == MAX_SUBJECT_CHARACTERS
    assert v.reply is not None
    data = v.reply.message.as_bytes()
    assert data.isascii()
    assert "\ufffd" not in subject  # every encoded-word holds whole characters


REPLY_TO = """
From: "Stephan Bosch" <stephan@example.org>
Subject: Reply to me
To: nico@frop.example.org

Frop
"""


def test_reply_to() -> None:
    # message.svtest "Reply to": the To keeps the sender's display name
    v = vacation(REPLY_TO, envelope_from="stephan@example.org", envelope_to=NICO)
    [to] = v.seen["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Stephan Bosch", "stephan@example.org")


REPLY_TO_SENDER = """
From: "Stephan Bosch" <stephan@example.org>
Sender: "Hendrik-Jan Tuinman" <h.j.tuinman@example.org>
Subject: Reply to me
To: nico@frop.example.org

Frop
"""


def test_reply_to_sender() -> None:
    # message.svtest "Reply to sender": the Sender is the envelope sender
    v = vacation(
        REPLY_TO_SENDER, envelope_from="h.j.tuinman@example.org", envelope_to=NICO
    )
    [to] = v.seen["To"].addresses
    assert (to.display_name, to.addr_spec) == (
        "Hendrik-Jan Tuinman",
        "h.j.tuinman@example.org",
    )
    assert v.reply is not None
    assert v.reply.envelope.rcpt_to == "h.j.tuinman@example.org"


def test_reply_to_unknown() -> None:
    # message.svtest "Reply to unknown": no field names the envelope sender, no name
    v = vacation(
        REPLY_TO_SENDER, envelope_from="arie.aardappel@example.org", envelope_to=NICO
    )
    [to] = v.seen["To"].addresses
    assert (to.display_name, to.addr_spec) == ("", "arie.aardappel@example.org")


REFERENCES = """
From: stephan@example.org
Subject: frop
References: <1234@local.machine.example> <3456@example.net>
 <435444@ttms.example.org> <4223@froop.example.net> <m345444444@message-id.exp>
Message-ID: <432df324@example.org>
To: nico@frop.example.org

Frop
"""


def test_references() -> None:
    # message.svtest "References"; RFC 5322 3.6.4
    v = vacation(REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO)
    assert v.seen["References"].split() == [
        "<1234@local.machine.example>",
        "<3456@example.net>",
        "<435444@ttms.example.org>",
        "<4223@froop.example.net>",
        "<m345444444@message-id.exp>",
        "<432df324@example.org>",
    ]
    assert "hutsefluts" not in v.seen["References"]


def test_in_reply_to() -> None:
    # message.svtest "In-Reply-To"
    v = vacation(REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO)
    assert v.seen["In-Reply-To"] == "<432df324@example.org>"


LONG_IDS = """
Date: Fri, 21 Jul 2013 10:34:14 +0200 (CEST)
From: Test <user1@dovetest.example.org>
To: User Two <user2@dovetest.example.org>
Message-ID: <1294794880.187.416268f9-b907-4566-af85-c77155eb7d96.farce@fresno.local>
In-Reply-To: <1813483923.1202.aa78bea5-b5bc-4ab9-a64f-af96521e3af3.frobnitzm@dev.frobnitzm.com>
References: <d660a7d1-43c9-47ea-a59a-0b29abc861d2@frop.xi.local>
 <500510465.1519.d2ac1c0c-08f7-44fd-97aa-dd711411aacf.frobnitzm@dev.frobnitzm.com>
 <717028309.1200.aa78bea5-b5bc-4ab9-a64f-af96521e3af3.frobnitzm@dev.frobnitzm.com>
 <1813483923.1202.aa78bea5-b5bc-4ab9-a64f-af96521e3af3.frobnitzm@dev.frobnitzm.com>
Subject: Re: Fwd: My mail
MIME-Version: 1.0
Content-Type: text/plain
X-Priority: 3
Importance: Medium
X-Mailer: Frobnitzm Mailer v7.8.0-Rev0

Frop
"""


def test_references_long_ids() -> None:
    # message.svtest "References - long IDs": each id whole and plain, never an
    # encoded-word (RFC 2047 5, RFC 5322 3.6.4), every line within 998 octets
    v = vacation(
        LONG_IDS,
        envelope_from="user1@dovetest.example.org",
        envelope_to="user2@dovetest.example.org",
    )
    new = "<1294794880.187.416268f9-b907-4566-af85-c77155eb7d96.farce@fresno.local>"
    assert v.seen["In-Reply-To"] == new
    assert v.seen["References"].split() == [
        "<d660a7d1-43c9-47ea-a59a-0b29abc861d2@frop.xi.local>",
        "<500510465.1519.d2ac1c0c-08f7-44fd-97aa-dd711411aacf.frobnitzm@dev.frobnitzm.com>",
        "<717028309.1200.aa78bea5-b5bc-4ab9-a64f-af96521e3af3.frobnitzm@dev.frobnitzm.com>",
        "<1813483923.1202.aa78bea5-b5bc-4ab9-a64f-af96521e3af3.frobnitzm@dev.frobnitzm.com>",
        new,
    ]
    assert v.reply is not None
    data = v.reply.message.as_bytes()
    assert b"=?" not in data
    assert f"\r\nIn-Reply-To: {new}\r\n".encode() in data
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_variables() -> None:
    # message.svtest "Variables": an explicit :subject and :from (a verified sender here)
    config = responder(NICO, subject="Out of office", sender="user@frop.example.org")
    v = vacation(
        REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO, config=config
    )
    assert v.seen["Subject"] == "Out of office"
    assert v.seen["From"].addresses[0].addr_spec == "user@frop.example.org"
    assert AWAY in v.seen.get_content()


def test_null_sender() -> None:
    # message.svtest "NULL Sender": the reply is sent from the null path (RFC 3834 3.3)
    v = vacation(REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO)
    assert v.reply is not None
    assert v.reply.envelope.mail_from == ""


# -- utf-8.svtest -------------------------------------------------------------------------


def test_utf8_subject() -> None:
    # utf-8.svtest "UTF-8 Subject": encoded on the wire, read back as written
    russian = "Auto: Я могу есть стекло, оно мне не вредит."
    config = responder(NICO, subject=russian)
    v = vacation(
        REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO, config=config
    )
    assert v.seen["Subject"] == russian
    assert v.reply is not None
    assert v.reply.message.as_bytes().isascii()


def test_mime_encoded_subject() -> None:
    # utf-8.svtest "MIME Encoded Subject": an encoded-word in :subject reads decoded
    config = responder(NICO, subject="=?utf-8?b?w4TDlsOc?= sadasd")
    v = vacation(
        REFERENCES, envelope_from="stephan@example.org", envelope_to=NICO, config=config
    )
    assert v.seen["Subject"] == "ÄÖÜ sadasd"


# -- smtp.svtest --------------------------------------------------------------------------

FROP_TSS = """
From: stephan@example.org
To: tss@example.net
Subject: Frop!

Frop!
"""


def test_smtp_basic() -> None:
    # smtp.svtest "Basic": :addresses and :from; the envelope goes to the sender from <>
    config = responder("timo@example.net", sender="sirainen@example.net")
    v = vacation(
        FROP_TSS,
        envelope_from="sirius@example.org",
        envelope_to="timo@example.net",
        config=config,
        addresses=("tss@example.net",),
    )
    assert v.seen["To"].addresses[0].addr_spec == "sirius@example.org"
    assert v.seen["From"].addresses[0].addr_spec == "sirainen@example.net"
    assert v.reply is not None
    assert v.reply.envelope.rcpt_to == "sirius@example.org"
    assert v.reply.envelope.mail_from == ""


def test_smtp_null_sender() -> None:
    # smtp.svtest "Null Sender"; rule RSP-7
    v = vacation(
        FROP_TSS,
        envelope_from="<>",
        envelope_to="timo@example.net",
        addresses=("tss@example.net",),
    )
    assert v.reply is None
    assert v.decision.check is Check.NULL_SENDER


def test_envelope_to_is_to() -> None:
    # smtp.svtest "Envelope.to == To"
    text = FROP_TSS.replace("To: tss@", "To: timo@").replace(
        "Subject", "Cc: stephan@friep.example.com\nSubject"
    )
    v = vacation(
        text, envelope_from="sirius@example.org", envelope_to="timo@example.net"
    )
    assert v.seen["From"].addresses[0].addr_spec == "timo@example.net"


def test_envelope_to_is_not_to() -> None:
    # smtp.svtest "Envelope.to != To": the reply comes from the alias it was sent to
    v = vacation(
        FROP_TSS,
        envelope_from="sirius@example.org",
        envelope_to="timo@example.net",
        addresses=("tss@example.net",),
    )
    assert v.seen["From"].addresses[0].addr_spec == "tss@example.net"
    assert v.decision.as_dict()["from"] == "tss@example.net"


def test_cc() -> None:
    # smtp.svtest "Cc": the recipient named in Cc, not the stranger in To
    text = FROP_TSS.replace("Subject", "Cc: colleague@example.net\nSubject")
    v = vacation(
        text, envelope_from="sirius@example.org", envelope_to="colleague@example.net"
    )
    assert v.seen["From"].addresses[0].addr_spec == "colleague@example.net"


@pytest.mark.parametrize(
    ("to_field", "envelope_to"),
    [
        # smtp.svtest "Bad recipient address (from message)"
        ("nicëøôçêè—öxample.org", "tss@example.net"),
        # smtp.svtest "Bad recipient address (from envelope)"
        ("tss@example.net", "nicëøôçêè—öxample.org"),
    ],
)
def test_bad_recipient_address(to_field: str, envelope_to: str) -> None:
    # A garbage address decides (a rule named), it never breaks the delivery.
    text = PLAIN.replace(f"To: {NICO}", f"To: {to_field}")
    config = responder("tss@example.net", subject="Tulips")
    v = vacation(
        text,
        envelope_from="stephan@example.org",
        envelope_to=envelope_to,
        config=config,
    )
    assert v.decision.reason.startswith(v.decision.rule + ": ")
    if v.reply is not None:
        assert v.seen["Subject"] == "Tulips"


# -- reply.svtest -------------------------------------------------------------------------

SIRIUS = """
From: sirius@example.com
To: sirius@example.com
Cc: stephan@example.com
Subject: Frop!

Frop!
"""
STEPHAN = "stephan@example.com"


def test_no_reply_to_own_address() -> None:
    # reply.svtest "No reply to own address"; rule RSP-7
    v = vacation(SIRIUS, envelope_from=STEPHAN, envelope_to=STEPHAN)
    assert v.decision.check is Check.OWN_ADDRESS


def test_no_reply_to_alternative_address() -> None:
    # reply.svtest "No reply to alternative address"; rule RSP-7
    v = vacation(
        SIRIUS,
        envelope_from="sirius@example.com",
        envelope_to=STEPHAN,
        addresses=("sirius@example.com",),
    )
    assert v.decision.check is Check.OWN_ADDRESS


def _frop(*fields: str, to: str = STEPHAN, sender: str = "spam@example.com") -> str:
    return "\n".join((f"From: {sender}", f"To: {to}", *fields, "Subject: Frop!")) + (
        "\n\nFrop!\n"
    )


@pytest.mark.parametrize(
    ("test", "text", "envelope_from", "check"),
    [
        (
            "No reply to mailing list",
            _frop(
                "List-ID: <dovecot.lists.example.com>",
                to="dovecot@lists.example.com",
                sender="timo@example.com",
            ),
            "<dovecot-bounces+timo=example.com@lists.example.com>",
            # the bounces- sender is refused first here (rule RSP-7, senders.py)
            Check.SYSTEM_SENDER,
        ),
        ("No reply to bulk mail", _frop("Precedence: bulk"), None, Check.PRECEDENCE),
        (
            "No reply to auto-submitted mail",
            _frop("Auto-submitted: yes"),
            None,
            Check.AUTO_SUBMITTED,
        ),
        (
            "No reply to Microsoft X-Auto-Response-Suppress - All",
            _frop("X-Auto-Response-Suppress: All"),
            None,
            Check.RESPONSE_SUPPRESSED,
        ),
        (
            "No reply to Microsoft X-Auto-Response-Suppress - OOF",
            _frop("X-Auto-Response-Suppress: OOF"),
            None,
            Check.RESPONSE_SUPPRESSED,
        ),
        (
            "No reply to Microsoft X-Auto-Response-Suppress - DR,OOF,RN",
            _frop("X-Auto-Response-Suppress: DR, OOF,\tRN"),
            None,
            Check.RESPONSE_SUPPRESSED,
        ),
        (
            "No reply to system address",
            _frop(sender="dovecot@lists.example.com"),
            "dovecot-request@lists.example.com",
            Check.SYSTEM_SENDER,
        ),
        (
            "No reply for implicitly delivered message",
            _frop(to="all@example.com", sender="timo@example.com"),
            "timo@example.com",
            Check.NOT_A_RECIPIENT,
        ),
        (
            # all@ is no address of this mailbox: the MTA's original recipient is not
            # one of its own (there is no use_original_recipient here)
            "No reply for original recipient",
            _frop(to="all@example.com", sender="timo@example.com"),
            "timo@example.com",
            Check.NOT_A_RECIPIENT,
        ),
    ],
)
def test_no_reply(
    test: str, text: str, envelope_from: str | None, check: Check
) -> None:
    # reply.svtest, the test named by ``test``; rule RSP-7
    v = vacation(
        text, envelope_from=envelope_from or "spam@example.com", envelope_to=STEPHAN
    )
    assert v.reply is None, test
    assert v.decision.check is check, (test, v.decision.reason)


def test_reply_for_normal_mail() -> None:
    # reply.svtest "Reply for normal mail": Auto-submitted: no and the like are no bar
    text = _frop(
        "Auto-submitted: no",
        "Precedence: normal",
        "X-Auto-Response-Suppress: None",
        sender="timo@example.com",
    )
    v = vacation(text, envelope_from="timo@example.com", envelope_to=STEPHAN)
    assert v.decision.check is Check.REPLY
    assert v.seen["From"].addresses[0].addr_spec == STEPHAN


@pytest.mark.parametrize(
    ("to", "alias"),
    [
        # reply.svtest "Reply for :addresses"
        ("all@example.com", "all@example.com"),
        # reply.svtest "Reply for :addresses (case sensitivity)"
        ("Stephan.Bosch@example.com", "stephan.bosch@example.com"),
        # reply.svtest "Reply for original recipient" (all@ an alias of the mailbox)
        ("all@example.com", "All@example.com"),
    ],
)
def test_reply_for_addresses(to: str, alias: str) -> None:
    # The reply comes from the alias as the mailbox spells it (rule RSP-8).
    text = _frop(to=to, sender="timo@example.com")
    v = vacation(
        text, envelope_from="timo@example.com", envelope_to=STEPHAN, addresses=(alias,)
    )
    assert v.decision.check is Check.REPLY
    assert v.seen["From"].addresses[0].addr_spec == alias


def test_reply_for_the_users_own_address_when_delivered_to_an_alias() -> None:
    # reply.svtest "Reply for user's explicitly configured email address": the MTA
    # delivered to an alias (jibberish@), the To names the primary user@: From user@
    text = _frop(to="user@example.com", sender="timo@example.com")
    v = vacation(
        text,
        envelope_from="timo@example.com",
        envelope_to="jibberish@example.com",
        config=responder("user@example.com"),
        addresses=("jibberish@example.com",),
    )
    assert v.seen["From"].addresses[0].addr_spec == "user@example.com"


def test_reply_for_any_recipient() -> None:
    # reply.svtest "Reply for any recipient": sieve_vacation_check_recipient = no is
    # ResponderPolicy(require_explicit_recipient=False); From: the address delivered to
    text = _frop(to="all@example.com", sender="timo@example.com")
    v = vacation(
        text,
        envelope_from="timo@example.com",
        envelope_to=STEPHAN,
        rules=ResponderPolicy(require_explicit_recipient=False),
    )
    assert v.decision.check is Check.REPLY
    assert v.seen["From"].addresses[0].addr_spec == STEPHAN
