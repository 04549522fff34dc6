"""How the two-step commands print: factors, status, app passwords, codes shown once.

Labels and app-password names were typed by a user: outside text, neutralised in the
sentences and tables (JSON carries them as data, escaped by ``json.dumps``). A phone
number is shown masked in a status: the desk confirms it with the user, it does not
read it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.apppasswords import AppPasswordView
from application.twostep import TwoStepStatus
from application.twostepenrol import Enrolment
from domain.text import neutralise
from domain.twostepfacts import Factor, FactorKind

# Digits of a phone number a status shows (the rest masked).
SHOWN_DIGITS = 2


def method_name(factor: Factor) -> str:
    """The method as the command line spells it (``security-key``)."""
    return factor.kind.value.replace("_", "-")


def masked(phone: str | None) -> str | None:
    if phone is None:
        return None
    return (
        phone[:3] + "*" * max(0, len(phone) - 3 - SHOWN_DIGITS) + phone[-SHOWN_DIGITS:]
    )


def factor_json(factor: Factor) -> dict[str, object]:
    return {
        "factor_id": str(factor.factor_id),
        "method": method_name(factor),
        "label": factor.label,
        "confirmed": factor.confirmed,
        "enrolled_at": factor.enrolled_at.isoformat(),
        "phone": masked(factor.phone),
    }


def status_json(
    login: str, status: TwoStepStatus, *, app_passwords: int
) -> dict[str, object]:
    """Whether two-step verification is on and what the user has; never a secret."""
    return {
        "login": login,
        "enabled": status.enabled,
        "enforced_by_organisation": status.enforced,
        "factors": [factor_json(f) for f in status.factors],
        "backup_codes_left": status.backup_codes_left,
        "app_passwords": app_passwords,
        "locked": status.locked,
    }


def enrolment_json(enrolment: Enrolment) -> dict[str, object]:
    """One object: what the user's app, browser or phone needs, shown this once.

    ``otpauth_uri`` for an authenticator app (the QR code's payload), ``key_options``
    for a browser's ``navigator.credentials.create``, ``challenge_id`` for the SMS sent;
    ``backup_codes`` with the first factor (MFA-2).
    """
    data: dict[str, object] = {
        "factor_id": str(enrolment.factor_id),
        "method": enrolment.kind.value.replace("_", "-"),
        "confirmed": False,
        "backup_codes": list(enrolment.backup_codes),
    }
    if enrolment.otpauth_uri is not None:
        data["otpauth_uri"] = enrolment.otpauth_uri
    if enrolment.key_options is not None:
        data["key_options"] = enrolment.key_options
    if enrolment.challenge_id is not None:
        data["challenge_id"] = str(enrolment.challenge_id)
    if enrolment.number is not None:
        data["number"] = enrolment.number
    return data


def enrolment_text(login: str, enrolment: Enrolment) -> str:
    lines = [f"enrolment of {enrolment.kind.value} started for {login}"]
    if enrolment.otpauth_uri is not None:
        lines += [
            "add this to the authenticator app (shown this once):",
            f"  {enrolment.otpauth_uri}",
        ]
    if enrolment.number is not None:
        lines.append(
            f"approve the push on the device: its number is {enrolment.number}"
        )
    if enrolment.key_options is not None:
        lines.append("the browser registers the key with these options: use --json")
    how = {
        FactorKind.TOTP: "--code CODE (a code the app shows)",
        FactorKind.SMS: f"--code CODE --challenge {enrolment.challenge_id}",
        FactorKind.PUSH: f"--challenge {enrolment.challenge_id} (once approved)",
    }.get(enrolment.kind)
    if how:
        lines.append(f"confirm it: mailhost user 2fa verify {login} {how}")
    if enrolment.backup_codes:
        lines.append(codes_text(enrolment.backup_codes))
    return "\n".join(lines)


def status_text(data: dict[str, object]) -> str:
    state = "on" if data["enabled"] else "off"
    enforced = (
        " (the organisation requires it)" if data["enforced_by_organisation"] else ""
    )
    lines = [f"two-step verification of {data['login']}: {state}{enforced}"]
    factors = data["factors"]
    assert isinstance(factors, list)  # noqa: S101 - built by status_json above
    for f in factors:
        pending = "" if f["confirmed"] else "  (not confirmed yet)"
        phone = f"  {f['phone']}" if f["phone"] else ""
        lines.append(
            f"  {f['factor_id']}  {f['method']:<12} {neutralise(str(f['label']))}"
            f"{phone}{pending}"
        )
    lines.append(f"  backup codes left: {data['backup_codes_left']}")
    lines.append(f"  app passwords:     {data['app_passwords']}")
    if data["locked"]:
        lines.append("  second factor locked after too many wrong codes")
    return "\n".join(lines)


def apps_table(login: str, views: Sequence[AppPasswordView]) -> str:
    if not views:
        return f"{login} has no app password"
    lines = [f"app passwords of {login}:"]
    for v in views:
        used = (
            f"last used {v.last_used_at:%Y-%m-%d %H:%M} UTC "
            f"({neutralise(v.last_protocol or '')})"
            if v.last_used_at
            else "never used"
        )
        lines.append(
            f"  {v.app_id}  {neutralise(v.name):<24} "
            f"created {v.created_at:%Y-%m-%d %H:%M} UTC, {used}"
        )
    return "\n".join(lines)


def codes_text(codes: Sequence[str]) -> str:
    """Backup codes as the user copies them: shown this once (MFA-2)."""
    lines = [
        "backup codes (shown this once; keep them safe, each works once):",
        *(f"  {code}" for code in codes),
    ]
    return "\n".join(lines)
