"""Every ``mailhost`` command fed hostile input (issue 7, "What to reach").

Bad input exits 2 with a message on stderr that names the field, no traceback, no raw
control character written to the operator's terminal, and nothing written anywhere.

Most cases run ``infrastructure.cli.main`` in this process (an argument may then hold a
NUL, which no real process can receive); a representative set per command runs the
command in a process of its own, with arguments and standard input as raw bytes (invalid
UTF-8 arrives as lone surrogates), and ``deliver`` gets hostile messages on stdin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from attrs import frozen

from tests.hostile import seed
from tests.hostile.support import (
    MB,
    Outcome,
    Snapshot,
    changes,
    names_field,
    raw_controls,
    run_in_process,
    run_process,
    snapshot,
)

ANN, BOB, DOMAIN = seed.ANN, seed.BOB, seed.DOMAIN
PASSWORD = b"another long passphrase"


@frozen
class Case:
    id: str
    argv: tuple[str | bytes, ...]
    field: tuple[str, ...]
    stdin: bytes = b""
    env: Mapping[str, str] = {}
    files: Mapping[str, bytes] = {}  # written into the test's folder; {dir} in argv


def case(
    id_: str,
    argv: Sequence[str | bytes],
    field: Sequence[str],
    stdin: bytes = b"",
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Case:
    return Case(id_, tuple(argv), tuple(field), stdin, env or {}, files or {})


NUL, ESC, CRLF = "\x00", "\x1b[31m\x07", "\r\nBcc: evil@example.net"
HUGE = "x" * 100_000
CSV_HEADER = b"address,kind,users,targets,signature\n"

IN_PROCESS: list[Case] = [
    # org, user, activity
    case("org create/name[nul]", ["org", "create", f"Ex{NUL}ample"], ["organisation"]),
    case("org create/name[esc]", ["org", "create", f"Ex{ESC}ample"], ["organisation"]),
    case(
        "org create/name[crlf]", ["org", "create", f"Example{CRLF}"], ["organisation"]
    ),
    case(
        "org create/name[u2028]", ["org", "create", "Ex\u2028ample"], ["organisation"]
    ),
    case("org create/name[huge]", ["org", "create", HUGE], ["organisation"]),
    case(
        "user create/login[nul]",
        [
            "user",
            "create",
            f"carol{NUL}@example.org",
            "--org",
            seed.ORG,
            "--password-stdin",
        ],
        ["login"],
        PASSWORD,
    ),
    case(
        "user create/login[crlf]",
        [
            "user",
            "create",
            f"carol@example.org{CRLF}",
            "--org",
            seed.ORG,
            "--password-stdin",
        ],
        ["login"],
        PASSWORD,
    ),
    case(
        "user create/--name[esc]",
        [
            "user",
            "create",
            "carol@example.org",
            "--org",
            seed.ORG,
            "--name",
            f"Carol{ESC}",
            "--password-stdin",
        ],
        ["display name", "--name"],
        PASSWORD,
    ),
    case(
        "user create/--name[crlf]",
        [
            "user",
            "create",
            "carol@example.org",
            "--org",
            seed.ORG,
            "--name",
            f"Carol{CRLF}",
            "--password-stdin",
        ],
        ["display name", "--name"],
        PASSWORD,
    ),
    case(
        "user create/--name[nul]",
        [
            "user",
            "create",
            "carol@example.org",
            "--org",
            seed.ORG,
            "--name",
            f"Ca{NUL}rol",
            "--password-stdin",
        ],
        ["display name", "--name"],
        PASSWORD,
    ),
    case(
        "user create/--org[nul]",
        [
            "user",
            "create",
            "carol@example.org",
            "--org",
            f"Example{NUL}Co",
            "--password-stdin",
        ],
        ["organisation", "--org"],
        PASSWORD,
    ),
    case(
        "user create/password[nul]",
        ["user", "create", "carol@example.org", "--org", seed.ORG, "--password-stdin"],
        ["password"],
        b"a long\x00passphrase",
    ),
    case(
        "user create/password[huge]",
        ["user", "create", "carol@example.org", "--org", seed.ORG, "--password-stdin"],
        ["password"],
        b"p" * MB,
    ),
    case(
        "activity/login[nul]",
        ["activity", f"ann{NUL}@example.org"],
        ["login", "account"],
    ),
    case(
        "activity/login[esc]",
        ["activity", f"{ESC}ann@example.org"],
        ["login", "account"],
    ),
    case(
        "activity/--limit[huge]", ["activity", ANN, "--limit", str(10**30)], ["limit"]
    ),
    # service
    case(
        "service create/domain[nul]",
        ["service", "create", f"other{NUL}.example", "--org", seed.ORG, "--quota", "5"],
        ["domain"],
    ),
    case(
        "service create/domain[traversal]",
        ["service", "create", "../../etc", "--org", seed.ORG, "--quota", "5"],
        ["domain"],
    ),
    case(
        "service create/domain[crlf]",
        [
            "service",
            "create",
            f"other.example{CRLF}",
            "--org",
            seed.ORG,
            "--quota",
            "5",
        ],
        ["domain"],
    ),
    case(
        "service create/--quota[huge]",
        [
            "service",
            "create",
            "other.example",
            "--org",
            seed.ORG,
            "--quota",
            str(10**30),
        ],
        ["quota"],
    ),
    case(
        "service create/--quota[nan]",
        ["service", "create", "other.example", "--org", seed.ORG, "--quota", "nan"],
        ["quota"],
    ),
    case(
        "service quota/--add[huge]",
        ["service", "quota", DOMAIN, "--add", str(10**30)],
        ["quota", "--add"],
    ),
    case(
        "service quota/--add[negative]",
        ["service", "quota", DOMAIN, "--add", "-5"],
        ["quota", "--add"],
    ),
    case(
        "service catch-all/address[traversal]",
        ["service", "catch-all", DOMAIN, "../../etc/passwd@example.org"],
        ["address"],
    ),
    case(
        "service catch-all/address[nul]",
        ["service", "catch-all", DOMAIN, f"ann{NUL}@example.org"],
        ["address"],
    ),
    case(
        "service permissions/permissions[nul]",
        ["service", "permissions", DOMAIN, f"send{NUL}"],
        ["permission"],
    ),
    case(
        "service permissions/permissions[esc]",
        ["service", "permissions", DOMAIN, f"send,{ESC}"],
        ["permission"],
    ),
    case(
        "service template/name[nul]",
        ["service", "template", DOMAIN, f"Sig{NUL}"],
        ["template", "name"],
        b"Regards",
    ),
    case(
        "service template/name[esc]",
        ["service", "template", DOMAIN, f"Sig{ESC}"],
        ["template", "name"],
        b"Regards",
    ),
    case(
        "service template/text[esc]",
        ["service", "template", DOMAIN, "Other"],
        ["template", "signature"],
        b"Regards\x1b[2J",
    ),
    case(
        "service template/text[nul]--apply",
        ["service", "template", DOMAIN, "Other", "--apply"],
        ["template", "signature"],
        b"Regards\x00",
    ),
    case(
        "service template/text[huge]",
        ["service", "template", DOMAIN, "Other"],
        ["template", "signature"],
        b"x" * MB,
    ),
    case(
        "service dmarc/record[crlf]",
        ["service", "dmarc", DOMAIN, f"v=DMARC1; p=reject{CRLF}"],
        ["dmarc"],
    ),
    case(
        "service dmarc/record[esc]",
        [
            "service",
            "dmarc",
            DOMAIN,
            f"v=DMARC1; p=reject; rua=mailto:{ESC}x@example.org",
        ],
        ["dmarc"],
    ),
    # address
    case(
        "address create/address[traversal]",
        ["address", "create", "../../etc/passwd@example.org"],
        ["address"],
    ),
    case(
        "address create/address[slash]",
        ["address", "create", "carol/../../x@example.org"],
        ["address"],
    ),
    case(
        "address create/address[master-login]",
        ["address", "create", "carol*master@example.org"],
        ["address"],
    ),
    case(
        "address create/address[passwd-colon]",
        ["address", "create", '"carol:{PLAIN}pw::::::"@example.org'],
        ["address"],
    ),
    case(
        "address create/address[nul]",
        ["address", "create", f"carol{NUL}@example.org"],
        ["address"],
    ),
    case(
        "address create/address[crlf]",
        ["address", "create", f"carol@example.org{CRLF}"],
        ["address", "domain"],
    ),
    case(
        "address create/--for[nul]",
        ["address", "create", "carol@example.org", "--for", f"ann{NUL}@example.org"],
        ["user", "login"],
    ),
    case(
        "address create/--send-to[crlf]",
        [
            "address",
            "create",
            "carol@example.org",
            "--invite",
            "--send-to",
            f"dave@example.net{CRLF}",
        ],
        ["invitee", "send-to"],
    ),
    case(
        "address create/--send-to[nul]",
        [
            "address",
            "create",
            "carol@example.org",
            "--invite",
            "--send-to",
            f"dave{NUL}@example.net",
        ],
        ["invitee", "send-to"],
    ),
    case(
        "address create/--redirect[crlf]",
        [
            "address",
            "create",
            "fwd@example.org",
            "--redirect",
            f"dave@example.net{CRLF}",
        ],
        ["target", "redirect"],
    ),
    case(
        "address create/--signature[nul]",
        [
            "address",
            "create",
            "carol@example.org",
            "--for",
            ANN,
            "--signature",
            f"Std{NUL}",
        ],
        ["signature", "template"],
    ),
    case(
        "address create/--responder-template[esc]",
        [
            "address",
            "create",
            "carol@example.org",
            "--for",
            ANN,
            "--responder-template",
            f"Closed{ESC}",
        ],
        ["template"],
    ),
    case(
        "address create/--self password[nul]",
        ["address", "create", "carol@example.org", "--self", ANN, "--password-stdin"],
        ["password"],
        b"a long\x00passphrase",
    ),
    case(
        "address create/--password-stdin[huge]",
        ["address", "create", "carol@example.org", "--password-stdin"],
        ["password"],
        b"p" * MB,
    ),
    case(
        "address alias/alias[traversal]",
        ["address", "alias", ANN, "../../etc/passwd"],
        ["alias", "address"],
    ),
    case(
        "address alias/alias[master-login]",
        ["address", "alias", ANN, "anna*master"],
        ["alias", "address"],
    ),
    case(
        "address alias/alias[nul]",
        ["address", "alias", ANN, f"an{NUL}na"],
        ["alias", "address"],
    ),
    case(
        "address reinvite/--send-to[crlf]",
        ["address", "reinvite", seed.INVITED, "--send-to", f"dave@example.net{CRLF}"],
        ["invitee", "send-to"],
    ),
    case(
        "address resync/address[traversal]",
        ["address", "resync", "../../../etc/passwd@example.org"],
        ["address"],
    ),
    case(
        "address resync/address[nul]",
        ["address", "resync", f"ann{NUL}@example.org"],
        ["address"],
    ),
    case(
        "address delete/addresses[traversal]",
        ["address", "delete", "../../etc/passwd@example.org"],
        ["address"],
    ),
    case(
        "address delete/addresses[master-login]",
        ["address", "delete", "ann*master@example.org"],
        ["address"],
    ),
    case(
        "address list/domain[nul]", ["address", "list", f"example{NUL}.org"], ["domain"]
    ),
    case(
        "address list/domain[esc]", ["address", "list", f"{ESC}example.org"], ["domain"]
    ),
    case(
        "address password/password[nul]",
        ["address", "password", ANN, "--password-stdin"],
        ["password"],
        b"a long\x00passphrase",
    ),
    case(
        "address password/password[huge]",
        ["address", "password", ANN, "--password-stdin"],
        ["password"],
        b"p" * MB,
    ),
    case(
        "address permission/permission[two]",
        ["address", "permission", ANN, BOB, "send,change_password", "deny"],
        ["permission"],
    ),
    case(
        "address permission/permission[nul]",
        ["address", "permission", ANN, BOB, f"send{NUL}", "deny"],
        ["permission"],
    ),
    case(
        "address permission/user[nul]",
        ["address", "permission", ANN, f"bob{NUL}@example.org", "send", "deny"],
        ["user"],
    ),
    # send, advise
    case(
        "send/--to[crlf]",
        ["send", "--from", ANN, "--to", f"dave@example.net{CRLF}", "--subject", "Hi"],
        ["to"],
        b"Hello",
    ),
    case(
        "send/--bcc[nul]",
        [
            "send",
            "--from",
            ANN,
            "--to",
            "dave@example.net",
            "--bcc",
            f"e{NUL}@example.net",
            "--subject",
            "Hi",
        ],
        ["bcc"],
        b"Hello",
    ),
    case(
        "send/--from[traversal]",
        ["send", "--from", "../../etc/passwd@example.org", "--to", "dave@example.net"],
        ["address", "from"],
        b"Hello",
    ),
    case(
        "send/--subject[crlf]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", f"Hi{CRLF}"],
        ["subject"],
        b"Hello",
    ),
    case(
        "send/--subject[vt]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", "Hi\x0bthere"],
        ["subject"],
        b"Hello",
    ),
    case(
        "send/--subject[u2028]",
        [
            "send",
            "--from",
            ANN,
            "--to",
            "dave@example.net",
            "--subject",
            "Hi\u2028there",
        ],
        ["subject"],
        b"Hello",
    ),
    case(
        "send/--subject[esc]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", f"Hi{ESC}"],
        ["subject"],
        b"Hello",
    ),
    case(
        "send/body[nul]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", "Hi"],
        ["body"],
        b"Hel\x00lo",
    ),
    case("advise/domain[nul]", ["advise", f"example{NUL}.org"], ["domain"]),
    # responder
    case(
        "responder add/--name[nul]",
        ["responder", "add", ANN, "--name", f"Away{NUL}", "--body", "Away."],
        ["name"],
    ),
    case(
        "responder add/--name[crlf]",
        ["responder", "add", ANN, "--name", f"Away{CRLF}", "--body", "Away."],
        ["name"],
    ),
    case(
        "responder add/--body[esc]",
        ["responder", "add", ANN, "--name", "Away", "--body", f"Away{ESC}"],
        ["body"],
    ),
    case(
        "responder add/--subject[crlf]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--subject",
            f"Away{CRLF}",
        ],
        ["subject"],
    ),
    case(
        "responder add/--start[year-1]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--start",
            "0001-01-01T00:00",
        ],
        ["start"],
    ),
    case(
        "responder add/--end[9999]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--end",
            "9999-12-31T23:59",
        ],
        ["end"],
    ),
    case(
        "responder add/--end[9999-date]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--end",
            "9999-12-31",
        ],
        ["end"],
    ),
    case(
        "responder add/--start[nul]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--start",
            f"2026-12-20{NUL}",
        ],
        ["start"],
    ),
    case(
        "responder add/--weekdays[nul]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--weekdays",
            f"mon,{NUL}",
        ],
        ["weekday"],
    ),
    case(
        "responder add/--exclude[crlf]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--exclude",
            f"@example.net{CRLF}",
        ],
        ["exclu"],
    ),
    case(
        "responder add/--sender[crlf]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--sender",
            f"office@example.org{CRLF}",
        ],
        ["sender"],
    ),
    case(
        "responder add/--timezone[traversal]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--timezone",
            "../../../../etc/passwd",
        ],
        ["time zone", "timezone"],
    ),
    case(
        "responder add/--timezone[absolute]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--timezone",
            "/etc/localtime",
        ],
        ["time zone", "timezone"],
    ),
    case(
        "responder edit/--body[nul]",
        ["responder", "edit", ANN, "--name", seed.MESSAGE, "--body", f"Back{NUL}"],
        ["body"],
    ),
    case(
        "responder edit/--end[9999]",
        [
            "responder",
            "edit",
            ANN,
            "--name",
            seed.MESSAGE,
            "--body",
            "Back.",
            "--end",
            "9999-12-31T23:59",
        ],
        ["end"],
    ),
    case(
        "responder activate/name[nul]",
        ["responder", "activate", ANN, f"Holi{NUL}days"],
        ["message", "name"],
    ),
    case(
        "responder reset/name[esc]",
        ["responder", "reset", ANN, f"{ESC}Holidays"],
        ["message", "name"],
    ),
    case(
        "responder delete/name[huge]",
        ["responder", "delete", ANN, HUGE],
        ["message", "name"],
    ),
    case(
        "responder deactivate/address[traversal]",
        ["responder", "deactivate", "../../etc/passwd@example.org"],
        ["address"],
    ),
    case(
        "responder show/address[nul]",
        ["responder", "show", f"ann{NUL}@example.org"],
        ["address"],
    ),
    case(
        "responder show/--limit[huge]",
        ["responder", "show", ANN, "--limit", str(10**30)],
        ["limit"],
    ),
    case(
        "responder verify-sender/sender[crlf]",
        ["responder", "verify-sender", ANN, f"office@example.org{CRLF}"],
        ["sender"],
    ),
    case(
        "responder verify-sender/sender[nul]",
        ["responder", "verify-sender", ANN, f"off{NUL}ice@example.org"],
        ["sender"],
    ),
    case(
        "responder confirm-sender/code[nul]",
        ["responder", "confirm-sender", ANN, seed.PENDING_SENDER, f"1234{NUL}5678"],
        ["code"],
    ),
    case(
        "responder confirm-sender/code[huge]",
        ["responder", "confirm-sender", ANN, seed.PENDING_SENDER, "1" * 100_000],
        ["code"],
    ),
    case(
        "responder template/name[nul]",
        ["responder", "template", DOMAIN, f"Closed{NUL}", "--body", "Closed."],
        ["template", "name"],
    ),
    case(
        "responder template/--body[esc]--apply",
        ["responder", "template", DOMAIN, "Other", "--body", f"Closed{ESC}", "--apply"],
        ["template", "body"],
    ),
    case(
        "responder template/--subject[crlf]",
        [
            "responder",
            "template",
            DOMAIN,
            "Other",
            "--body",
            "Closed.",
            "--subject",
            f"Closed{CRLF}",
        ],
        ["subject"],
    ),
    # invalid UTF-8 in arguments reaches Python as lone surrogates (surrogateescape)
    case(
        "org create/name[invalid-utf8]",
        ["org", "create", "Ex\udcffample"],
        ["organisation"],
    ),
    case(
        "service create/domain[invalid-utf8]",
        ["service", "create", "exa\udcffmple.org", "--org", seed.ORG, "--quota", "5"],
        ["domain"],
    ),
    case(
        "service dmarc/record[invalid-utf8]",
        ["service", "dmarc", DOMAIN, "v=DMARC1; p=\udcffreject"],
        ["dmarc"],
    ),
    case("advise/domain[invalid-utf8]", ["advise", "exa\udcffmple.org"], ["domain"]),
    case(
        "responder add/--name[invalid-utf8]",
        ["responder", "add", ANN, "--name", "Away\udcff", "--body", "Away."],
        ["name"],
    ),
    case(
        "responder verify-sender/sender[invalid-utf8]",
        ["responder", "verify-sender", ANN, "off\udcffice@example.org"],
        ["sender"],
    ),
    case(
        "send/body[invalid-utf8]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", "Hi"],
        ["body", "utf-8"],
        b"Hel\xfflo",
    ),
    case(
        "address password/password[invalid-utf8]",
        ["address", "password", ANN, "--password-stdin"],
        ["password"],
        b"\xff\xfe a long passphrase",
    ),
    # configuration read by every command
    case(
        "env MAILHOST_LOGIN_THROTTLE[nan]",
        ["address", "list", DOMAIN],
        ["MAILHOST_LOGIN_THROTTLE"],
        env={"MAILHOST_LOGIN_THROTTLE": "nan"},
    ),
    case(
        "env MAILHOST_LOGIN_THROTTLE[inf]",
        ["address", "list", DOMAIN],
        ["MAILHOST_LOGIN_THROTTLE"],
        env={"MAILHOST_LOGIN_THROTTLE": "inf"},
    ),
    case(
        "env MAILHOST_FAILED_LOGIN_WINDOW[nan]",
        ["address", "list", DOMAIN],
        ["MAILHOST_FAILED_LOGIN_WINDOW"],
        env={"MAILHOST_FAILED_LOGIN_WINDOW": "nan"},
    ),
    case(
        "env MAILHOST_MAX_MESSAGES_PER_DAY[1e400]",
        ["address", "list", DOMAIN],
        ["MAILHOST_MAX_MESSAGES_PER_DAY"],
        env={"MAILHOST_MAX_MESSAGES_PER_DAY": "1e400"},
    ),
    case(
        "env MAILHOST_SECRET_KEY[not-hex]",
        ["address", "list", DOMAIN],
        ["MAILHOST_SECRET_KEY"],
        env={"MAILHOST_SECRET_KEY": "zz" * 32},
    ),
    # import-csv: the file's cells
    case(
        "address import-csv/formula-address",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["address"],
        files={"p.csv": CSV_HEADER + b'"=HYPERLINK(""https://evil.example"")",,,,\n'},
    ),
    case(
        "address import-csv/formula-users",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["users"],
        files={"p.csv": CSV_HEADER + b"carol,mailbox,@SUM(1+1),,\n"},
    ),
    case(
        "address import-csv/formula-targets",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["targets"],
        files={"p.csv": CSV_HEADER + b"fwd,redirect,,+cmd|' /C calc'!A0,\n"},
    ),
    case(
        "address import-csv/formula-signature",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["signature"],
        files={"p.csv": CSV_HEADER + b"carol,mailbox,,,-2+3\n"},
    ),
    case(
        "address import-csv/nul",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["address"],
        files={"p.csv": CSV_HEADER + b"car\x00ol,,,,\n"},
    ),
    case(
        "address import-csv/invalid-utf8",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["utf-8"],
        files={"p.csv": CSV_HEADER + b"car\xffol,,,,\n"},
    ),
    case(
        "address import-csv/traversal",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["address"],
        files={"p.csv": CSV_HEADER + b"../../etc/passwd,,,,\n"},
    ),
    case(
        "address import-csv/master-login",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["address"],
        files={"p.csv": CSV_HEADER + b"x*master,,,,\n"},
    ),
    case(
        "address import-csv/esc-in-good-file",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["address"],
        files={"p.csv": CSV_HEADER + b"carol,,,,\n\x1b[2Jdave,,,,\n"},
    ),
    case(
        "address import-csv/huge-cell",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        ["cell", "address", "characters"],
        files={"p.csv": CSV_HEADER + b"c" * 200_000 + b",,,,\n"},
    ),
]


def _argv(c: Case, root: Path, home: Path) -> list[str | bytes]:
    argv = [a.replace("{dir}", str(root)) if isinstance(a, str) else a for a in c.argv]
    return [*argv, "--home", str(home)]


def _check(c: Case, outcome: Outcome, before: Snapshot, after: Snapshot) -> None:
    problems = []
    if outcome.code != 2:
        problems.append(f"exit {outcome.code}, expected 2")
    if "Traceback" in outcome.stderr:
        problems.append("a traceback on stderr")
    if not names_field(outcome.stderr + outcome.stdout, c.field):
        problems.append(f"the message does not name {' or '.join(c.field)}")
    controls = raw_controls(outcome.stderr + outcome.stdout)
    if controls:
        problems.append(
            f"raw control characters on the terminal: {', '.join(controls)}"
        )
    written = changes(before, after)
    if written:
        problems.append("it wrote: " + " | ".join(written))
    if problems:
        pytest.fail(
            "; ".join(problems) + f" [{outcome.describe()[:700]}]", pytrace=False
        )


@pytest.mark.parametrize("c", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_command_refuses_hostile_input(
    c: Case,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, data in c.files.items():
        (tmp_path / name).write_bytes(data)
    for name, value in c.env.items():
        monkeypatch.setenv(name, value)
    before = snapshot(tmp_path)
    argv = [a if isinstance(a, str) else a.decode() for a in _argv(c, tmp_path, home)]
    outcome = run_in_process(argv, c.stdin, monkeypatch, capsys)
    _check(c, outcome, before, snapshot(tmp_path))


# -- in processes of their own: bytes as the operator's shell passes them ------------------

IN_A_PROCESS: list[Case] = [
    case(
        "user create/password[invalid-utf8]",
        ["user", "create", "carol@example.org", "--org", seed.ORG, "--password-stdin"],
        ["password"],
        b"a long passphrase \xff\xfe",
    ),
    case(
        "service template/text[invalid-utf8]--apply",
        ["service", "template", DOMAIN, "Other", "--apply"],
        ["template", "signature", "utf-8"],
        b"Regards \xff\xfe",
    ),
    case(
        "address create/address[invalid-utf8]",
        ["address", "create", b"car\xffol@example.org"],
        ["address"],
    ),
    case(
        "address permission/permission[two]",
        ["address", "permission", ANN, BOB, "send,change_password", "deny"],
        ["permission"],
    ),
    case(
        "send/--subject[vt]",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", "Hi\x0bthere"],
        ["subject"],
        b"Hello",
    ),
    case(
        "responder add/--end[9999]",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--end",
            "9999-12-31T23:59",
        ],
        ["end"],
    ),
    case(
        "responder show/address[invalid-utf8]",
        ["responder", "show", b"ann\xff@example.org"],
        ["address"],
    ),
    case(
        "deliver/--received-at[year-1]",
        [
            "deliver",
            "--recipient",
            ANN,
            "--sender",
            "bob@example.net",
            "--received-at",
            "0001-01-01T00:00+00:00",
        ],
        ["received"],
        b"Subject: hi\r\n\r\nx",
    ),
    case(
        "deliver/--received-at[1970]",
        [
            "deliver",
            "--recipient",
            ANN,
            "--sender",
            "bob@example.net",
            "--received-at",
            "1970-01-01T00:00+00:00",
        ],
        ["received"],
        b"Subject: hi\r\n\r\nx",
    ),
    case(
        "deliver/stdin[over-50-MB]",
        ["deliver", "--recipient", ANN, "--sender", "bob@example.net"],
        ["message", "bytes", "larger"],
        b"Subject: big\r\n\r\n" + b"x" * (50 * MB + 10),
    ),
    case(
        "run/MAILHOST_BROKER_URL[amqp]",
        ["run"],
        ["MAILHOST_BROKER_URL"],
        env={"MAILHOST_BROKER_URL": "amqp://127.0.0.1:5672/"},
    ),
    case(
        "run/MAILHOST_LOGIN_THROTTLE[nan]",
        ["run"],
        ["MAILHOST_LOGIN_THROTTLE"],
        env={"MAILHOST_LOGIN_THROTTLE": "nan"},
    ),
    case("demo/--window[nan]", ["demo", "--window", "nan"], ["window"]),
]


@pytest.mark.parametrize("c", IN_A_PROCESS, ids=[c.id for c in IN_A_PROCESS])
def test_command_in_a_process_refuses_hostile_input(
    c: Case, home: Path, tmp_path: Path
) -> None:
    before = snapshot(tmp_path)
    # `run` and `demo` that accept what they should refuse would run on: stopped early.
    timeout = 20 if c.argv[0] in {"run", "demo"} else 90
    outcome = run_process(_argv(c, tmp_path, home), c.stdin, env=c.env, timeout=timeout)
    _check(c, outcome, before, snapshot(tmp_path))


# -- deliver: a pipe transport answers any message with a decision ---------------------------

HOSTILE_MESSAGES: Mapping[str, bytes] = {
    "invalid-utf8": b"From: \xff\xfe bob@example.net\r\nSubject: \xc3\x28\xa0\xa1\r\n\r\n\xff\xfe",
    "nul": b"From: bob@example.net\x00\r\nSubject: a\x00b\r\n\r\nbody\x00",
    "huge-header": b"From: bob@example.net\r\nSubject: "
    + b"x" * (4 * MB)
    + b"\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(100_000))
    + b"\r\nx",
}


@pytest.mark.parametrize("raw", HOSTILE_MESSAGES.values(), ids=list(HOSTILE_MESSAGES))
def test_deliver_answers_a_hostile_message_with_a_decision(
    raw: bytes, home: Path, tmp_path: Path
) -> None:
    """Exit 0 with one JSON decision (or 2), never 1, never a traceback; a reply, if any,
    carries no control character of the message in its headers."""
    before = snapshot(tmp_path)
    outcome = run_process(
        [
            "deliver",
            "--recipient",
            ANN,
            "--sender",
            "bob@example.net",
            "--home",
            str(home),
        ],
        raw,
        timeout=60,
    )
    assert outcome.code in {0, 2}, outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert not raw_controls(outcome.stdout + outcome.stderr)
    if outcome.code == 2:
        assert not changes(before, snapshot(tmp_path)), changes(
            before, snapshot(tmp_path)
        )
        return
    decision = json.loads(outcome.stdout)
    assert isinstance(decision, dict)
    assert isinstance(decision.get("reply"), bool), decision
    for mail in (home / "outbox").glob("*.eml"):
        head = mail.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        assert not any(byte in head for byte in (b"\x00", b"\x1b", b"\x07")), mail.name


CONTROLS: list[Case] = [
    case("org create", ["org", "create", "Other Co"], []),
    case(
        "responder add",
        [
            "responder",
            "add",
            ANN,
            "--name",
            "Away",
            "--body",
            "Away.",
            "--end",
            "2027-01-03",
        ],
        [],
    ),
    case(
        "send",
        ["send", "--from", ANN, "--to", "dave@example.net", "--subject", "Hi"],
        [],
        b"Hello",
    ),
    case(
        "address import-csv",
        ["address", "import-csv", DOMAIN, "{dir}/p.csv"],
        [],
        files={"p.csv": CSV_HEADER + b"carol,mailbox,ann@example.org,,Standard\n"},
    ),
]


@pytest.mark.parametrize("c", CONTROLS, ids=[c.id for c in CONTROLS])
def test_ordinary_values_are_accepted(
    c: Case,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without these a case could pass because its command failed for another reason."""
    for name, data in c.files.items():
        (tmp_path / name).write_bytes(data)
    argv = [a if isinstance(a, str) else a.decode() for a in _argv(c, tmp_path, home)]
    outcome = run_in_process(argv, c.stdin, monkeypatch, capsys)
    assert outcome.code == 0, outcome.describe()
