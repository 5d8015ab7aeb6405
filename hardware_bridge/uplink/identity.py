"""Who the terminal is: its Modem No, the auth code on its slip, its upload secret, its tokens.

Created at first start in the state directory as ``identity.json`` (mode 0600, written
atomically: temporary file, fsync, rename, fsync of the directory) and refused when group or
others may read or write it.

- **Modem No**: ten digits, the first not zero, the last a Luhn check digit over the other
  nine — a mistyped digit or two swapped neighbours are caught before a claim is even tried
  (:func:`modem_no_is_valid`).
- **Auth code** ("Yetki Kodu"): ten characters from ``23456789ABCDEFGHJKMNPQRSTUVWXYZ`` (no
  0/O, 1/I/L), about 2^49 values, from :mod:`secrets`. It is stored **only hashed** (scrypt,
  random salt): it is shown once, when it is made, to be printed on the slip. A lost slip is not
  reprinted but replaced — :meth:`TerminalIdentity.renew_auth_code` makes a new code and revokes
  every token, which is also what a user who lost the slip wants. So a copy of the state
  directory (a backup, a stolen SD card) cannot claim the terminal. (If the daemon dies between
  writing the identity and printing the slip, the code is lost the same way: renew it.)
- **Tokens** (bearer tokens for the client API) are 256-bit random strings, stored as SHA-256
  hashes: a fast hash is enough for a secret that cannot be guessed, and a request is checked
  in microseconds. They survive restarts. At most :data:`MAX_TOKENS` are kept; issuing one more
  revokes the oldest, so repeated claims cannot grow the file without end.
- **Upload secret**: the terminal's own credential towards the server. The terminal must send
  it, so it is stored as is; the 0600 mode protects it.

Secrets are compared with :func:`hmac.compare_digest` and never logged. Checking an auth code
costs one scrypt (about 50 ms): async callers run it in an executor.

Every change (renewal, a token issued or revoked) rereads the file under an exclusive lock
before writing, and checks read the file again when it changed, so ``smartpower-bridge
auth-code --renew`` run beside a running daemon takes effect in the daemon at once.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardware_bridge.uplink._errors import IdentityError, IdentityPermissionError

__all__ = [
    "AUTH_CODE_ALPHABET",
    "AUTH_CODE_LENGTH",
    "IDENTITY_FILE",
    "MAX_TOKENS",
    "OpenedIdentity",
    "TerminalIdentity",
    "modem_no_is_valid",
    "normalize_auth_code",
]

_LOGGER = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"
AUTH_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
AUTH_CODE_LENGTH = 10
MODEM_NO_LENGTH = 10
MAX_TOKENS = 100
_FORMAT_VERSION = 1
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN_PREFIX = "spt_"
_MAX_INPUT = 256
"""Longer inputs are refused before any hashing (no secret is that long)."""


def _luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:  # these are doubled once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def modem_no_is_valid(modem_no: str) -> bool:
    """Ten ASCII digits, the first not zero, the last the Luhn check digit of the others."""
    return (
        len(modem_no) == MODEM_NO_LENGTH
        and modem_no.isascii()
        and modem_no.isdigit()
        and modem_no[0] != "0"
        and _luhn_digit(modem_no[:-1]) == modem_no[-1]
    )


def _new_modem_no() -> str:
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(MODEM_NO_LENGTH - 2)
    )
    return body + _luhn_digit(body)


def _new_auth_code() -> str:
    return "".join(secrets.choice(AUTH_CODE_ALPHABET) for _ in range(AUTH_CODE_LENGTH))


def normalize_auth_code(code: str) -> str:
    """The code as typed, without spaces or dashes and in capitals (slips group it)."""
    return "".join(code.split()).replace("-", "").upper()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hash_auth_code(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        code.encode("utf-8"), salt=salt, n=_SCRYPT["n"], r=_SCRYPT["r"], p=_SCRYPT["p"], dklen=32
    )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _signature(info: os.stat_result) -> tuple[int, ...]:
    """What changes when the file is replaced, rewritten or has its mode changed."""
    return (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_mode)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OpenedIdentity:
    """What :meth:`TerminalIdentity.open` found or made. ``new_auth_code`` is the plain auth
    code when the identity was just created (print it on the slip now: it is not kept), else
    None."""

    identity: TerminalIdentity
    new_auth_code: str | None = field(repr=False)

    @property
    def created(self) -> bool:
        return self.new_auth_code is not None


class TerminalIdentity:
    """The identity stored in ``state_dir/identity.json``; see the module docstring."""

    def __init__(
        self, path: Path, data: dict[str, Any], *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.path = path
        self._data = data
        self._clock = clock
        self._seen: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        return f"TerminalIdentity({str(self.path)!r})"

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path | str, *, clock: Callable[[], datetime] = _now) -> OpenedIdentity:
        """Load the identity in ``state_dir``, or create it on first start."""
        directory = Path(state_dir)
        path = directory / IDENTITY_FILE
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise IdentityError(path, f"cannot create the state directory: {err}") from err
        identity = cls(path, {}, clock=clock)
        with identity._locked():
            for stale in directory.glob(f".{IDENTITY_FILE}.*.tmp"):  # a write cut short
                stale.unlink(missing_ok=True)
            if path.exists() or path.is_symlink():
                identity._load()
                return OpenedIdentity(identity, None)
            code = _new_auth_code()
            now = clock().isoformat()
            identity._data = {
                "version": _FORMAT_VERSION,
                "modem_no": _new_modem_no(),
                "upload_secret": secrets.token_urlsafe(32),
                "created": now,
                "tokens": [],
            }
            identity._set_auth_code(code)
            identity._write()
        _LOGGER.info("Created the terminal identity in %s", path)
        return OpenedIdentity(identity, code)

    @classmethod
    def load(
        cls, state_dir: Path | str, *, clock: Callable[[], datetime] = _now
    ) -> TerminalIdentity:
        """Load an existing identity (for commands that must not create one)."""
        path = Path(state_dir) / IDENTITY_FILE
        identity = cls(path, {}, clock=clock)
        identity._load()
        return identity

    def _read(self) -> tuple[dict[str, Any], tuple[int, ...]]:
        path = self.path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise IdentityError(
                path, "missing (it is created at the daemon's first start)"
            ) from err
        except OSError as err:
            raise IdentityError(path, f"cannot open: {err.strerror}") from err
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise IdentityError(path, "is not a regular file")
            if info.st_mode & 0o077:
                raise IdentityPermissionError(path, stat.S_IMODE(info.st_mode))
            raw = file.read()
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise IdentityError(path, f"not valid JSON ({err})") from err
        _validate(path, data)
        return data, _signature(info)

    def _load(self) -> None:
        self._data, self._seen = self._read()

    def _refresh(self) -> None:
        """Reread the file if another process (``auth-code --renew``) replaced it."""
        try:
            info = os.stat(self.path, follow_symlinks=False)
        except OSError as err:
            raise IdentityError(self.path, f"cannot read: {err.strerror}") from err
        if _signature(info) != self._seen:
            self._load()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise IdentityError(self.path, f"cannot lock ({lock_path}): {err.strerror}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        """Reread under the lock, let the caller change the data, write it back."""
        with self._locked():
            self._load()
            yield self._data
            self._write()

    def _write(self) -> None:
        path = self.path
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        payload = (json.dumps(self._data, indent=2, sort_keys=True) + "\n").encode("utf-8")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
            directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as err:
            temp.unlink(missing_ok=True)
            raise IdentityError(path, f"cannot write: {err.strerror}") from err
        self._seen = _signature(os.stat(path))

    # -- what it holds ------------------------------------------------------------------------

    @property
    def modem_no(self) -> str:
        return str(self._data["modem_no"])

    @property
    def upload_secret(self) -> str:
        """The per-terminal secret the uplink authenticates with (never the auth code)."""
        return str(self._data["upload_secret"])

    @property
    def token_count(self) -> int:
        self._refresh()
        return len(self._data["tokens"])

    # -- the auth code ------------------------------------------------------------------------

    def _set_auth_code(self, code: str) -> None:
        salt = secrets.token_bytes(16)
        self._data["auth_code"] = {
            "scheme": "scrypt",
            **_SCRYPT,
            "salt": _b64(salt),
            "hash": _b64(_hash_auth_code(code, salt)),
        }
        self._data["auth_code_set"] = self._clock().isoformat()

    def verify_auth_code(self, code: str) -> bool:
        """Whether ``code`` (as typed: spaces, dashes and case do not matter) is the current
        auth code. Costs one scrypt; compares in constant time."""
        self._refresh()
        stored = self._data["auth_code"]
        if len(code) > _MAX_INPUT:
            return False
        salt = base64.b64decode(stored["salt"])
        presented = _hash_auth_code(normalize_auth_code(code), salt)
        return hmac.compare_digest(presented, base64.b64decode(stored["hash"]))

    def renew_auth_code(self) -> str:
        """Make a new auth code and revoke every token; returns the new code (show it once)."""
        code = _new_auth_code()
        with self._changing() as data:
            revoked = len(data["tokens"])
            self._set_auth_code(code)
            data["tokens"] = []
        _LOGGER.info("Auth code renewed; %d access tokens revoked", revoked)
        return code

    # -- tokens -------------------------------------------------------------------------------

    def issue_token(self) -> str:
        """A new bearer token for a client that proved the auth code; kept only as a hash."""
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._changing() as data:
            data["tokens"].append(
                {
                    "id": secrets.token_hex(4),
                    "sha256": _hash_token(token),
                    "issued": self._clock().isoformat(),
                }
            )
            dropped = data["tokens"][:-MAX_TOKENS]
            del data["tokens"][:-MAX_TOKENS]
        for entry in dropped:
            _LOGGER.info(
                "Access token %s revoked: more than %d were issued", entry["id"], MAX_TOKENS
            )
        return token

    def _match(self, token: str) -> dict[str, Any] | None:
        if len(token) > _MAX_INPUT:
            return None
        presented = _hash_token(token)
        found = None
        for entry in self._data["tokens"]:  # no early exit: every stored hash is compared
            if hmac.compare_digest(presented, entry["sha256"]):
                found = entry
        return found

    def verify_token(self, token: str) -> bool:
        self._refresh()
        return self._match(token) is not None

    def revoke_token(self, token: str) -> bool:
        """Revoke one token; False when it was not (or no longer) valid."""
        with self._changing() as data:
            entry = self._match(token)
            if entry is not None:
                data["tokens"].remove(entry)
        if entry is not None:
            _LOGGER.info("Access token %s revoked", entry["id"])
        return entry is not None

    def revoke_all(self) -> int:
        """Revoke every token; returns how many there were."""
        with self._changing() as data:
            count = len(data["tokens"])
            data["tokens"] = []
        _LOGGER.info("All %d access tokens revoked", count)
        return count


def _validate(path: Path, data: object) -> None:
    """Check the shape of a loaded identity file, naming the first field that is wrong."""
    if not isinstance(data, dict):
        raise IdentityError(path, "not a JSON object")
    if data.get("version") != _FORMAT_VERSION:
        raise IdentityError(path, f"field 'version': expected {_FORMAT_VERSION}")
    modem_no = data.get("modem_no")
    if not isinstance(modem_no, str) or not modem_no_is_valid(modem_no):
        raise IdentityError(path, "field 'modem_no': not a valid Modem No")
    if not isinstance(data.get("upload_secret"), str) or not data["upload_secret"]:
        raise IdentityError(path, "field 'upload_secret': missing")
    auth = data.get("auth_code")
    if (
        not isinstance(auth, dict)
        or auth.get("scheme") != "scrypt"
        or any(auth.get(name) != value for name, value in _SCRYPT.items())
        or not isinstance(auth.get("salt"), str)
        or not isinstance(auth.get("hash"), str)
    ):
        raise IdentityError(path, "field 'auth_code': not an scrypt hash this bridge knows")
    tokens = data.get("tokens")
    if not isinstance(tokens, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in tokens
    ):
        raise IdentityError(path, "field 'tokens': not a list of token hashes")
