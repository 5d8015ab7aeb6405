"""The slip printed at first start: Modem No, auth code and a QR code that carries both.

Printed to the terminal once (the auth code is stored only hashed, so it is never shown again;
``smartpower-bridge auth-code --renew`` makes a new one). Never logged. The QR code is drawn
with text characters when the optional ``qrcode`` package is installed
(``pip install smartpower-hardware-bridge[slip]``); without it the slip says so.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

__all__ = ["claim_uri", "format_slip", "qr_text"]


def claim_uri(modem_no: str, auth_code: str) -> str:
    """What the QR code holds: enough for an app to claim the modem without typing."""
    return "smartpower://claim?" + urlencode({"modem_no": modem_no, "auth_code": auth_code})


def qr_text(data: str) -> str | None:
    """``data`` as a QR code in block characters, or None without the ``qrcode`` package."""
    try:
        import qrcode  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
    except ImportError:
        return None
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def format_slip(modem_no: str, auth_code: str, *, qr: bool = True) -> str:
    lines = [
        "SmartPower terminal — keep this slip: the auth code is not shown again",
        f"Modem No: {modem_no}",
        f"Auth code (Yetki Kodu): {auth_code}",
    ]
    if qr:
        drawn = qr_text(claim_uri(modem_no, auth_code))
        if drawn is None:
            lines.append("(no QR code: install the optional 'qrcode' package to print one)")
        else:
            lines.append(drawn.rstrip("\n"))
    return "\n".join(lines) + "\n"
