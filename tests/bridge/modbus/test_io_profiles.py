"""Relays and inputs in profiles: the schema, the shipped I/O boards, the read planner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardware_bridge.modbus import (
    ProfileCatalogue,
    ProfileError,
    load_profile_text,
    plan_io_reads,
)
from hardware_bridge.modbus._loader import shipped_profile_files
from hardware_bridge.modbus._profile import ReadBack

BOARDS = {  # id → (relays, inputs): other tools rely on these ids and keys
    "waveshare_relay_8ch": (8, 0),
    "waveshare_relay_8ch_d": (8, 8),
    "eletechsup_r4d3b16": (16, 0),
    "bestep_2ch_io": (2, 2),
    "generic_io_module": (2, 2),
}

HEAD = "manufacturer: X\nmodel: Y\n"


def _load(body: str) -> None:
    load_profile_text(HEAD + body, source="my_board.yaml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "relays:\n  - {key: relay_1, write: {function_code: 5, address: 0}}\n",
            "my_board.yaml: relays[0].read: a writable point needs a read-back",
        ),
        (
            "relays:\n  - {key: relay_1, read: {function_code: 1, address: 0}}\n",
            "my_board.yaml: relays[0].write: required field missing",
        ),
        (
            "inputs:\n  - {key: input_1}\n",
            "my_board.yaml: inputs[0].read: required",
        ),
        (
            "inputs:\n  - {key: input_1, read: {function_code: 2, address: 0},"
            " write: {function_code: 5, address: 0}}\n",
            "my_board.yaml: inputs[0].write: unknown field",
        ),
        (
            "relays:\n  - {key: relay_1, write: {function_code: 6, address: 1, on_value: 256},"
            " read: {function_code: 3, address: 1}}\n",
            "my_board.yaml: relays[0].write.off_value: required for a register write",
        ),
        (
            "relays:\n  - {key: relay_1, write: {function_code: 5, address: 0},"
            " read: {function_code: 1, address: 0, bit: 3}}\n",
            "my_board.yaml: relays[0].read: a coil or discrete input is one bit",
        ),
        (
            "relays:\n  - {key: relay_1, write: {function_code: 3, address: 0},"
            " read: {function_code: 1, address: 0}}\n",
            "my_board.yaml: relays[0].write.function_code: expected one of 5, 6, 15, 16",
        ),
        (
            "points:\n  - {key: relay_1, address: 0, type: uint16}\n"
            "relays:\n  - {key: relay_1, write: {function_code: 5, address: 0},"
            " read: {function_code: 1, address: 0}}\n",
            "my_board.yaml: relays[0].key: duplicate key 'relay_1'",
        ),
        (
            "init:\n  - {function_code: 6, address: 4096, value: [0, 0]}\n"
            "inputs:\n  - {key: input_1, read: {function_code: 2, address: 0}}\n",
            "my_board.yaml: init[0].value: function 6 writes one register",
        ),
        ("description: nothing\n", "my_board.yaml: points: required field missing"),
    ],
)
def test_schema_errors_name_file_and_field(body: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        _load(body)
    assert str(caught.value).startswith(message)


def test_a_register_read_back_is_on_off_or_unknown() -> None:
    profile = load_profile_text(
        HEAD + "relays:\n  - {key: relay_1, write: {function_code: 6, address: 1,"
        " on_value: 0x0100, off_value: 0x0200}, read: {function_code: 3, address: 1}}\n"
        "inputs:\n  - {key: input_1, read: {function_code: 3, address: 0xC0, bit: 2}}\n",
        source="my_board.yaml",
    )
    relay = profile.io_point("relay_1")
    assert relay.write is not None
    assert (relay.write.on, relay.write.off) == (0x0100, 0x0200)
    assert [relay.read.state(w) for w in (1, 0, 5)] == [True, False, None]  # never guessed
    assert profile.io_point("input_1").read.state(0b100) is True
    assert ReadBack(function_code=2, address=0).state(0) is False
    assert profile.value_keys == ("relay_1", "input_1")


@pytest.mark.parametrize("profile_id", sorted(BOARDS))
def test_shipped_boards_name_relays_and_inputs_literally(
    catalogue: ProfileCatalogue, profile_id: str
) -> None:
    relays, inputs = BOARDS[profile_id]
    profile = catalogue.get(profile_id)
    assert [r.key for r in profile.relays] == [f"relay_{n}" for n in range(1, relays + 1)]
    assert [i.key for i in profile.inputs] == [f"input_{n}" for n in range(1, inputs + 1)]
    assert all(r.write is not None for r in profile.relays)
    text = next(p for p in shipped_profile_files() if p.stem == profile_id).read_text()
    for key in [r.key for r in profile.relays] + [i.key for i in profile.inputs]:
        assert re.search(rf"\bkey: {key}\b", text), key
    assert "VERIFY" in text or "TEMPLATE" in text


def test_waveshare_d_sets_every_channel_to_normal_mode_on_first_contact(
    catalogue: ProfileCatalogue,
) -> None:
    profile = catalogue.get("waveshare_relay_8ch_d")
    writes = {(w.function_code, w.address, w.values) for w in profile.init}
    assert writes == {(6, 0x1000 + ch, (0,)) for ch in range(8)}
    assert not catalogue.get("waveshare_relay_8ch").init


def _spans(profile_id: str, catalogue: ProfileCatalogue, keys: list[str] | None = None) -> list:
    plan = plan_io_reads(catalogue.get(profile_id), keys)
    return [(r.function_code, r.address, r.count) for r in plan]


def test_bit_reads_are_batched_like_register_reads(catalogue: ProfileCatalogue) -> None:
    assert _spans("waveshare_relay_8ch_d", catalogue) == [(1, 0, 8), (2, 0, 8)]
    assert _spans("waveshare_relay_8ch_d", catalogue, ["relay_2", "relay_7"]) == [(1, 1, 6)]
    # the command-register board's read-back: FC03 registers 1..16 in reads of up to 8
    assert _spans("eletechsup_r4d3b16", catalogue) == [(3, 1, 8), (3, 9, 8)]
    # the bestep board answers only reads of eight inputs from 0
    assert _spans("bestep_2ch_io", catalogue, ["input_2"]) == [(2, 0, 8)]
    with pytest.raises(KeyError, match="no relay or input"):
        plan_io_reads(catalogue.get("waveshare_relay_8ch"), ["input_1"])


def test_the_io_example_in_the_docs_loads() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "profiles.md"
    section = docs.read_text(encoding="utf-8").split("## Relays and inputs", 1)[1]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    profile = load_profile_text(text, source="acme_io22.yaml")
    assert [io.key for io in profile.io] == ["relay_1", "relay_2", "input_1", "input_2"]
    assert profile.io_point("input_2").read.bit == 1
    assert len(profile.init) == 1
