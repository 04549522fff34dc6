"""The argument types and options of ``mailhost user 2fa|app-password ...``.

Each value is checked by the domain's own rule while the command line is read: a bad
value is exit status 2 naming its option, before the engine opens.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from domain.errors import InvalidInput
from domain.twostepchecks import app_password_name, factor_label
from domain.twostepfacts import FactorKind, sms_number
from infrastructure.cli.accountargs import one_time_code, second_factor_code
from infrastructure.cli.arguments import Argument, argument

# The methods as typed on the command line (a dash, as options are spelled).
METHODS = {kind.value.replace("_", "-"): kind for kind in FactorKind}


def _checked(check: Callable[[str], str], name: str) -> Callable[[str], str]:
    """An argparse type from a domain check: its refusal is exit 2 naming the option.

    Checked before the engine opens: a bad value must not leave even the two-step
    record that the use case opens before it reaches its own check.
    """

    def parse(text: str) -> str:
        try:
            return check(text)
        except InvalidInput as refused:
            raise argparse.ArgumentTypeError(str(refused)) from None

    parse.__name__ = name
    return parse


# MFA-1: a mobile number of CH, FR, BE or DE, as E.164.
sms_phone = _checked(lambda text: sms_number(text.strip()), "phone number")
app_name = _checked(app_password_name, "name")


def _label(text: str) -> str:
    factor_label(FactorKind.TOTP, text)  # refuses what no factor may be named
    return text


factor_name = _checked(_label, "label")


def code_option(*, required: bool = False, totp_only: bool = False) -> Argument:
    """``--code``: only an app's (or SMS's) code confirms a factor being enrolled; a
    change takes a backup code too."""
    return argument(
        "--code",
        required=required,
        type=one_time_code if totp_only else second_factor_code,
        help=(
            "the 6-digit code of the app (or the SMS) being confirmed"
            if totp_only
            else "a code of the authenticator app, or a backup code"
            + ("" if required else " (when two-step verification is on)")
        ),
    )
