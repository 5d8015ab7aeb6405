"""The terminal's identity: Modem No, auth code, tokens and upload secret in a 0600 file."""

from __future__ import annotations

import hmac
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from hardware_bridge.uplink import (
    AUTH_CODE_ALPHABET,
    AUTH_CODE_LENGTH,
    IDENTITY_FILE,
    MAX_TOKENS,
    IdentityError,
    IdentityPermissionError,
    TerminalIdentity,
    modem_no_is_valid,
)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_first_start_creates_an_identity_and_later_starts_load_it(state_dir: Path) -> None:
    opened = TerminalIdentity.open(state_dir)
    assert opened.created
    code = opened.new_auth_code
    assert code is not None
    assert len(code) == AUTH_CODE_LENGTH
    assert set(code) <= set(AUTH_CODE_ALPHABET)
    assert not set(code) & set("01OIL")
    identity = opened.identity
    assert modem_no_is_valid(identity.modem_no)
    assert len(identity.modem_no) == 10
    path = state_dir / IDENTITY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert code not in path.read_text()  # stored hashed only
    assert sorted(p.name for p in state_dir.iterdir()) == [IDENTITY_FILE, IDENTITY_FILE + ".lock"]

    again = TerminalIdentity.open(state_dir)
    assert not again.created
    assert again.new_auth_code is None
    assert again.identity.modem_no == identity.modem_no
    assert again.identity.upload_secret == identity.upload_secret
    assert again.identity.verify_auth_code(code)


def test_auth_code_is_checked_as_typed_on_the_slip(state_dir: Path) -> None:
    opened = TerminalIdentity.open(state_dir)
    code = opened.new_auth_code
    assert code is not None
    identity = opened.identity
    assert identity.verify_auth_code(f" {code[:5].lower()}-{code[5:]} ")
    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    assert not identity.verify_auth_code(wrong)
    assert not identity.verify_auth_code("")
    assert not identity.verify_auth_code(code * 100)


def test_every_terminal_gets_its_own_identity(tmp_path: Path) -> None:
    a = TerminalIdentity.open(tmp_path / "a")
    b = TerminalIdentity.open(tmp_path / "b")
    assert a.identity.modem_no != b.identity.modem_no
    assert a.new_auth_code != b.new_auth_code
    assert a.identity.upload_secret != b.identity.upload_secret


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_an_identity_others_can_read_or_write_is_refused(state_dir: Path, mode: int) -> None:
    TerminalIdentity.open(state_dir)
    path = state_dir / IDENTITY_FILE
    path.chmod(mode)
    with pytest.raises(IdentityPermissionError) as caught:
        TerminalIdentity.open(state_dir)
    message = str(caught.value)
    assert str(path) in message
    assert f"mode is {mode:04o}" in message
    assert f"chmod 600 {path}" in message
    with pytest.raises(IdentityPermissionError):
        TerminalIdentity.load(state_dir)


def test_owner_only_modes_are_accepted(state_dir: Path) -> None:
    TerminalIdentity.open(state_dir)
    (state_dir / IDENTITY_FILE).chmod(0o400)
    assert not TerminalIdentity.open(state_dir).created


def test_a_running_daemon_refuses_a_file_opened_up_under_it(state_dir: Path) -> None:
    identity = TerminalIdentity.open(state_dir).identity
    token = identity.issue_token()
    (state_dir / IDENTITY_FILE).chmod(0o644)
    with pytest.raises(IdentityPermissionError):
        identity.verify_token(token)


def test_a_symlinked_identity_is_refused(state_dir: Path, tmp_path: Path) -> None:
    TerminalIdentity.open(tmp_path / "elsewhere")
    state_dir.mkdir()
    (state_dir / IDENTITY_FILE).symlink_to(tmp_path / "elsewhere" / IDENTITY_FILE)
    with pytest.raises(IdentityError, match="cannot open"):
        TerminalIdentity.open(state_dir)


def test_missing_or_damaged_files_are_named_with_the_field(state_dir: Path) -> None:
    with pytest.raises(IdentityError, match=r"identity\.json: missing"):
        TerminalIdentity.load(state_dir)
    TerminalIdentity.open(state_dir)
    path = state_dir / IDENTITY_FILE
    data = json.loads(path.read_text())
    data["modem_no"] = "1234567890"  # wrong check digit
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    with pytest.raises(IdentityError, match="field 'modem_no'"):
        TerminalIdentity.load(state_dir)
    path.write_text("{not json")
    with pytest.raises(IdentityError, match="not valid JSON"):
        TerminalIdentity.load(state_dir)


def test_tokens_survive_a_restart_and_can_be_revoked(state_dir: Path) -> None:
    identity = TerminalIdentity.open(state_dir).identity
    first, second = identity.issue_token(), identity.issue_token()
    assert first != second
    for token in (first, second):
        assert token not in (state_dir / IDENTITY_FILE).read_text()
    restarted = TerminalIdentity.load(state_dir)
    assert restarted.verify_token(first)
    assert restarted.verify_token(second)
    assert not restarted.verify_token(first + "x")
    assert not restarted.verify_token("")
    assert restarted.revoke_token(first)
    assert not restarted.revoke_token(first)
    assert not restarted.verify_token(first)
    assert restarted.verify_token(second)
    assert restarted.revoke_all() == 1
    assert not restarted.verify_token(second)
    assert restarted.token_count == 0


def test_the_oldest_token_goes_when_too_many_were_issued(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = TerminalIdentity.open(state_dir).identity
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # a hundred writes, durability not tested
    tokens = [identity.issue_token() for _ in range(MAX_TOKENS + 1)]
    assert identity.token_count == MAX_TOKENS
    assert not identity.verify_token(tokens[0])
    assert identity.verify_token(tokens[1])
    assert identity.verify_token(tokens[-1])


def test_renewal_makes_a_new_code_and_revokes_every_token(state_dir: Path) -> None:
    opened = TerminalIdentity.open(state_dir)
    old_code = opened.new_auth_code
    assert old_code is not None
    daemon = opened.identity
    tokens = [daemon.issue_token() for _ in range(3)]
    # the renewal comes from another process (``auth-code --renew``) beside the daemon
    cli = TerminalIdentity.load(state_dir)
    new_code = cli.renew_auth_code()
    assert new_code != old_code
    assert cli.modem_no == daemon.modem_no
    for token in tokens:
        assert not daemon.verify_token(token)
    assert not daemon.verify_auth_code(old_code)
    assert daemon.verify_auth_code(new_code)
    assert daemon.token_count == 0
    # a token issued by the daemon after the renewal is kept: it reread the file first
    after = daemon.issue_token()
    assert TerminalIdentity.load(state_dir).verify_token(after)
    assert stat.S_IMODE((state_dir / IDENTITY_FILE).stat().st_mode) == 0o600


class CountingCompare:
    def __init__(self) -> None:
        self.calls = 0
        self.real = hmac.compare_digest

    def __call__(self, a: bytes | str, b: bytes | str) -> bool:
        self.calls += 1
        return self.real(a, b)  # type: ignore[arg-type]


def test_secrets_are_compared_in_constant_time(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = TerminalIdentity.open(state_dir)
    code = opened.new_auth_code
    assert code is not None
    identity = opened.identity
    tokens = [identity.issue_token() for _ in range(3)]
    counter = CountingCompare()
    monkeypatch.setattr(hmac, "compare_digest", counter)
    assert identity.verify_auth_code(code)
    assert not identity.verify_auth_code("2222222222")
    assert counter.calls == 2
    counter.calls = 0
    assert identity.verify_token(tokens[0])  # a match on the first does not end the scan
    assert counter.calls == 3
    counter.calls = 0
    assert not identity.verify_token("spt_wrong")
    assert counter.calls == 3


def test_no_secret_reaches_the_logs_or_a_repr(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    opened = TerminalIdentity.open(state_dir)
    identity = opened.identity
    code = opened.new_auth_code
    assert code is not None
    token = identity.issue_token()
    identity.verify_token(token)
    identity.verify_auth_code(code)
    identity.verify_auth_code("WRONGCODE2")
    identity.revoke_token(token)
    second = identity.issue_token()
    new_code = identity.renew_auth_code()
    identity.revoke_all()
    assert caplog.records  # the lifecycle is logged …
    text = caplog.text + repr(opened) + repr(identity)
    for secret in (code, new_code, token, second, identity.upload_secret):
        assert secret not in text  # … without a secret
    assert identity.modem_no not in caplog.text


def luhn_ok(number: str) -> bool:
    """The Luhn check as ISO/IEC 7812 states it, written apart from the code under test."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def test_modem_no_check_digit_catches_typing_mistakes(tmp_path: Path) -> None:
    numbers = [TerminalIdentity.open(tmp_path / str(n)).identity.modem_no for n in range(5)]
    for good in numbers:
        assert luhn_ok(good)
        assert good[0] != "0"
        assert modem_no_is_valid(good)
        for position in range(10):
            for digit in "0123456789":
                if digit != good[position]:
                    typo = good[:position] + digit + good[position + 1 :]
                    assert not modem_no_is_valid(typo), typo
        for position in range(9):
            a, b = good[position], good[position + 1]
            if a != b and {a, b} != {"0", "9"}:  # Luhn's one blind spot
                swapped = good[:position] + b + a + good[position + 2 :]
                assert not modem_no_is_valid(swapped), swapped
    for bad in ("0992739871", "799273987", "79927398710", "79927398x1", "７９９２７３９８７１"):
        assert not modem_no_is_valid(bad)


def test_a_failed_write_leaves_the_old_identity_and_no_temporary_file(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = TerminalIdentity.open(state_dir).identity
    token = identity.issue_token()
    before = (state_dir / IDENTITY_FILE).read_bytes()

    def fail_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail_fsync)
    with pytest.raises(IdentityError, match="cannot write: No space left on device"):
        identity.revoke_all()
    monkeypatch.undo()
    assert (state_dir / IDENTITY_FILE).read_bytes() == before
    assert sorted(p.name for p in state_dir.iterdir()) == [IDENTITY_FILE, IDENTITY_FILE + ".lock"]
    assert TerminalIdentity.load(state_dir).verify_token(token)


def test_a_write_cut_short_by_a_crash_leaves_no_secret_behind(state_dir: Path) -> None:
    TerminalIdentity.open(state_dir)
    stale = state_dir / f".{IDENTITY_FILE}.4242.tmp"
    stale.write_text("{half of a file")
    stale.chmod(0o600)
    assert not TerminalIdentity.open(state_dir).created
    assert not stale.exists()
