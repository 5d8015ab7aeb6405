"""Fuzzing the profile loader: YAML-ish text and mutated shipped profiles.

Whatever a file holds, loading it returns a Profile or raises a ProfileError whose message
starts with the file name, within a bounded time (each example has a deadline far below
what the anchor bomb or the quadratic checks used to take). Crashers found here are kept
as named regression tests in test_loader_hostile.py.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_bridge.modbus import ProfileError, load_profile_text
from hardware_bridge.modbus._loader import shipped_profile_files

SHIPPED = {path.name: path.read_text(encoding="utf-8") for path in shipped_profile_files()}
FUZZ = settings(  # SMARTPOWER_FUZZ_EXAMPLES=5000 for a longer hunt than the default run
    max_examples=int(os.environ.get("SMARTPOWER_FUZZ_EXAMPLES", "150")),
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_TOKENS = [
    "- ", ": ", "{", "}", "[", "]", ", ", "\n", "\n  ", "\n    - ", "  ", "\t", "#", "'", '"',
    "&a ", "&b ", "*a", "*b", "<<: ", "? ", "|\n", ">\n", "!!str ", "!!int ", "!!binary ",
    "!!python/object:os.system ", "!!set ", "!!omap ", "!!timestamp ", "!foo ", "---\n",
    "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\ufeff", "\x00", "\\", "~", "null",
    "true", "yes", "on", ".nan", ".inf", "-.inf", "0x10", "0o17", "1_000", "1e309", "-0",
    "2001-12-14", "12:30:45", "9" * 30, "key", "address", "type", "points", "holes", "probe",
    "bits", "bit", "word_order", "function_code", "serial", "parity", "group", "scale_by",
    "invalid_raw", "manufacturer", "model", "uint16", "float32", "int64", "big", "little",
    "fast", "slow", "0", "1", "3", "4", "65535", "70000", "v", "a_b",
]  # fmt: skip

yamlish = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=4), max_size=60).map("".join)


@FUZZ
@given(yamlish)
def test_yamlish_text_gives_a_profile_or_a_profile_error(text: str) -> None:
    _load(text, "fuzz_text.yaml")


@FUZZ
@given(
    st.sampled_from(sorted(SHIPPED)),
    st.lists(
        st.tuples(
            st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "alias", "cut"]),
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=10**6),
            st.sampled_from(_TOKENS) | st.text(max_size=6),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_shipped_profiles_give_a_profile_or_a_profile_error(
    name: str, mutations: list[tuple[str, int, int, str]]
) -> None:
    lines = SHIPPED[name].splitlines()
    for kind, i, j, token in mutations:
        if not lines:
            break
        a, b = i % len(lines), j % len(lines)
        if kind == "delete":
            del lines[a]
        elif kind == "duplicate":
            lines.insert(a, lines[a])
        elif kind == "swap":
            lines[a], lines[b] = lines[b], lines[a]
        elif kind == "replace":  # a value after ": " (or the start of the line) becomes token
            head, sep, tail = lines[a].partition(": ")
            cut = b % (len(tail) + 1)
            lines[a] = head + sep + token + tail[cut:] if sep else token + lines[a]
        elif kind == "insert":
            lines.insert(a, lines[a][: len(lines[a]) - len(lines[a].lstrip())] + token)
        elif kind == "alias":  # anchor one value, refer to it from another line
            lines[a] = lines[a].replace(": ", ": &x ", 1)
            lines[b] = lines[b].replace(": ", ": *x ", 1)
        else:  # cut the line short, as a truncated file would
            lines[a] = lines[a][: b % (len(lines[a]) + 1)]
    _load("\n".join(lines) + "\n", name)


def _load(text: str, source: str) -> None:
    message = f"{source}: "
    try:
        load_profile_text(text, source=source)
    except ProfileError as exc:
        message = str(exc)
    assert message.startswith(f"{source}: "), message
