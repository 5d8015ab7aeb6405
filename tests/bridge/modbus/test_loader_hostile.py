"""Hostile or careless profile files: each is refused quickly with file and line, never a hang.

The loader runs when Home Assistant sets the integration up, on files from a user's folder;
a file that stalls it, crashes the interpreter or is silently read differently from what it
says is a defect of the loader, not of the file.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardware_bridge.modbus import ProfileError, load_catalogue, load_profile, load_profile_text
from hardware_bridge.modbus._loader import MAX_POINTS, MAX_PROFILE_SIZE

BASE = """\
manufacturer: ACME
model: M1
word_order: big
points:
  - {key: voltage_l1, address: 0, type: float32, unit: V}
  - {key: current_l1, address: 70, type: uint16, scale: 0.01, unit: A}
"""


def _error(text: str, name: str = "acme_m1.yaml") -> str:
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, source=name)
    return str(info.value)


def _anchor_bomb(field: str, levels: int = 9) -> str:
    """The reviewer's file: nine aliases of nine aliases … expand to 9**levels strings."""
    nested = "[&a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"
    for level in range(1, levels):
        nested += f", &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]"
    nested += "]"
    placed = {
        "word_order": f"word_order: {nested}\n",
        "group": f"points:\n  - {{key: v, address: 0, type: uint16, group: {nested}}}\n",
        "serial.parity": f"serial: {{parity: {nested}}}\n",
        "function_code": f"function_code: {nested}\n",
    }[field]
    text = "manufacturer: A\nmodel: B\n" + placed
    if not placed.startswith("points"):
        text += "points:\n  - {key: v, address: 0, type: uint16}\n"
    return text


@pytest.mark.parametrize("field", ["word_order", "group", "serial.parity", "function_code"])
def test_anchor_bomb_is_refused_at_the_alias(tmp_path: Path, field: str) -> None:
    text = _anchor_bomb(field)
    assert len(text) < 800
    (tmp_path / "acme_bomb.yaml").write_text(text, encoding="utf-8")
    catalogue = load_catalogue(tmp_path)
    [error] = catalogue.errors
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "*a0" in row)
    assert str(error).startswith(f"{tmp_path / 'acme_bomb.yaml'}: line {line}: ")
    assert "alias *a0 is not allowed" in str(error)
    assert len(catalogue) >= 10  # the shipped profiles still load


def test_alias_of_a_scalar_is_refused_too() -> None:
    text = BASE.replace("word_order: big", "word_order: &wo big\nfunction_code: *wo")
    assert _error(text) == (
        "acme_m1.yaml: line 4: invalid YAML: alias *wo is not allowed in a profile "
        "(write the value out)"
    )


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!timestamp ", "tag:yaml.org,2002:timestamp"),  # PyYAML raised AttributeError on it
        ("!!binary aGk=", "tag:yaml.org,2002:binary"),
        ("!!python/tuple [1]", "tag:yaml.org,2002:python/tuple"),
        ("! M1", "!"),
    ],
)
def test_explicit_tags_are_refused_with_their_line(value: str, tag: str) -> None:
    """Found by fuzzing: an empty ``!!timestamp`` escaped as an AttributeError."""
    assert _error(BASE.replace("model: M1", f"model: {value}")) == (
        f"acme_m1.yaml: line 2: invalid YAML: tag {tag} is not allowed in a profile "
        "(quote text instead)"
    )


def test_merge_keys_are_refused() -> None:
    text = BASE.replace("  - {key: voltage_l1,", "  - {<<: {unit: V}, key: voltage_l1,")
    assert "line 5: invalid YAML: merge keys (<<) are not allowed" in _error(text)


def test_a_huge_value_is_quoted_short_in_the_message() -> None:
    """What a message quotes is bounded, however big the value (and without any alias)."""
    big = "[" + ", ".join(["[" + ", ".join(["lol"] * 50) + "]"] * 400) + "]"
    message = _error(BASE.replace("word_order: big", f"word_order: {big}"))
    assert message.startswith("acme_m1.yaml: word_order: expected one of big, little, got [[")
    assert len(message) < 300


def test_a_long_unknown_field_name_is_quoted_short() -> None:
    name = "x" * 1000  # the longest key YAML allows without "? "
    message = _error(BASE.replace("model: M1", f"model: M1\n{name}: 1"))
    assert message.startswith("acme_m1.yaml: 'xxxx")
    assert message.endswith(": unknown field")
    assert len(message) < 200


# -- duplicate keys: YAML would let the last one win silently ---------------------------------


def test_duplicate_key_in_a_point_names_file_line_and_key() -> None:
    text = BASE.replace("address: 70,", "address: 70, address: 2,")
    assert _error(text) == (
        "acme_m1.yaml: line 6: invalid YAML: duplicate key 'address' (first given on line 6)"
    )


def test_duplicate_key_in_block_style_names_both_lines() -> None:
    text = "manufacturer: ACME\nmodel: M1\npoints:\n  - key: v\n    address: 70\n"
    text += "    type: uint16\n    address: 2\n"
    assert _error(text).endswith(
        "line 7: invalid YAML: duplicate key 'address' (first given on line 5)"
    )


def test_second_points_list_does_not_replace_the_first(tmp_path: Path) -> None:
    text = BASE + "points:\n  - {key: other, address: 9, type: uint16}\n"
    (tmp_path / "acme_m1.yaml").write_text(text, encoding="utf-8")
    [error] = load_catalogue(tmp_path).errors
    assert str(error) == (
        f"{tmp_path / 'acme_m1.yaml'}: line 7: invalid YAML: "
        "duplicate key 'points' (first given on line 4)"
    )


def test_keys_that_read_as_the_same_value_are_duplicates() -> None:
    text = BASE.replace("unit: V}", "unit: V, 'unit': W}")
    assert "duplicate key 'unit'" in _error(text)


# -- size and shape bounds --------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "acme_big.yaml"
    path.write_text(BASE + "#" * MAX_PROFILE_SIZE + "\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"acme_big\.yaml: too large for a profile"):
        load_profile(path)
    assert "too large for a profile" in _error(BASE + " " * MAX_PROFILE_SIZE)


def test_too_many_points_are_refused_before_each_is_checked() -> None:
    rows = "".join(
        f"  - {{key: k{i}, address: {i}, type: uint16}}\n" for i in range(MAX_POINTS + 1)
    )
    text = "manufacturer: A\nmodel: B\npoints:\n" + rows
    assert (
        _error(text) == f"acme_m1.yaml: points: at most {MAX_POINTS} entries, got {MAX_POINTS + 1}"
    )
    last = rows.splitlines(keepends=True)[:-1]
    assert load_profile_text(
        "manufacturer: A\nmodel: B\npoints:\n" + "".join(last), source="a.yaml"
    )


def test_deep_nesting_is_refused_with_its_line() -> None:
    assert _error("manufacturer: A\nmodel: B\npoints: " + "[" * 40 + "]" * 40) == (
        "acme_m1.yaml: line 3: invalid YAML: nested deeper than 16 levels"
    )


def test_very_deep_nesting_does_not_crash_the_interpreter() -> None:
    """libyaml's own composer recursed in C and took the whole process (Home Assistant) down."""
    code = (
        "from hardware_bridge.modbus import ProfileError, load_profile_text\n"
        "try:\n"
        "    load_profile_text('[' * 100000 + ']' * 100000, source='deep.yaml')\n"
        "except ProfileError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("deep.yaml: line 1: invalid YAML: nested deeper than")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_named_like_a_profile_does_not_block_the_loader(tmp_path: Path) -> None:
    fifo = tmp_path / "acme_pipe.yaml"
    os.mkfifo(fifo)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(load_catalogue, tmp_path)
        try:
            catalogue = future.result(timeout=30)
        finally:
            if not future.done():  # unblock the reader so the test ends with its failure
                with contextlib.suppress(OSError), open(fifo, "wb"):
                    pass
    [error] = catalogue.errors
    assert str(error).startswith(f"{fifo}: cannot read file: not a regular file")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x" * 300, "cannot read profile directory: File name too long"),
        ("a\x00b", "profile directory does not exist"),
    ],
)
def test_an_unusable_profile_directory_is_reported_not_raised(name: str, reason: str) -> None:
    """Found by fuzzing the CLI: a 300-character folder name escaped as an OSError."""
    catalogue = load_catalogue(name)
    assert len(catalogue) >= 10
    [error] = catalogue.errors
    assert str(error) == f"{name}: {reason}"


# -- derived lookups of a frozen profile are built once ---------------------------------------


def test_value_keys_and_point_lookup_are_built_once() -> None:
    profile = load_catalogue().get("kael_varkombi")
    keys = profile.value_keys
    assert profile.value_keys is keys  # not rebuilt on every access (once per poll per device)
    assert keys[0] == profile.points[0].key
    assert {b.key for b in profile.point("status").bits} <= set(keys)
    for point in profile.points:
        assert profile.point(point.key) is point
    with pytest.raises(KeyError):
        profile.point("no_such_key")


def test_a_file_given_as_the_profile_directory_is_reported(tmp_path: Path) -> None:
    plain = tmp_path / "profiles.yaml"
    plain.write_text("id: x\n", encoding="utf-8")
    catalogue = load_catalogue(plain)
    [error] = catalogue.errors
    assert str(error) == f"{plain}: profile directory is not a directory"
