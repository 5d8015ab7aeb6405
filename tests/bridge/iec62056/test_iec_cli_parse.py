"""``iec-parse FILE --json``: the contract other checks rely on."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from pathlib import Path
from types import ModuleType

import pytest
from conftest import SAMPLES


def _run(cli: ModuleType, argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.handler(args)
    return code, out.getvalue(), err.getvalue()


def test_luna_sample_json(iec_cli: ModuleType) -> None:
    code, out, err = _run(
        iec_cli, ["iec-parse", str(SAMPLES / "tr_luna_embedded4ever.txt"), "--json"]
    )
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"identification", "bcc_ok", "complete", "incomplete_reason", "datasets"}
    assert data["complete"] is True
    assert data["identification"] == {
        "manufacturer": "LUN",
        "baud": "5",
        "tag": "<1>",
        "ident": "LUN669205929",
    }
    assert data["bcc_ok"] is None
    assert {"address": "1.8.0", "values": [{"value": "000000.000", "unit": "kWh"}]} in data[
        "datasets"
    ]


def test_iskra_sample_json_has_checked_bcc_and_backslash_free_tag(iec_cli: ModuleType) -> None:
    code, out, _ = _run(
        iec_cli, ["iec-parse", str(SAMPLES / "iskra_mt174_smartmeter-obis.txt"), "--json"]
    )
    data = json.loads(out)
    assert code == 0
    assert data["bcc_ok"] is True
    assert data["identification"]["tag"] is None
    assert data["datasets"][0] == {
        "address": "1-0:0.9.1*255",
        "values": [{"value": "201455", "unit": None}],
    }


def test_backslash_tag_in_json(iec_cli: ModuleType) -> None:
    code, out, _ = _run(
        iec_cli, ["iec-parse", str(SAMPLES / "actaris_ace3000_vzlogger.txt"), "--json"]
    )
    assert code == 0
    assert json.loads(out)["identification"]["tag"] == "\\3"


def test_plain_capture_without_framing(iec_cli: ModuleType, tmp_path: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_bytes(b"/MSY5<1>C520.KMY.2251\n0.0.0(80099921)\n1.8.0(000070.677*kWh)\n!\n")
    code, out, _ = _run(iec_cli, ["iec-parse", str(capture), "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["identification"]["ident"] == "C520.KMY.2251"
    assert data["datasets"][1]["values"] == [{"value": "000070.677", "unit": "kWh"}]


def test_table_output_without_json(iec_cli: ModuleType) -> None:
    code, out, _ = _run(iec_cli, ["iec-parse", str(SAMPLES / "tr_makel_c520_techviewer.txt")])
    assert code == 0
    assert "1.8.0" in out
    assert "000070.677 kWh" in out


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b'{"a": 1}\n', b"hello world\n"],
    ids=["empty", "binary", "json", "text"],
)
def test_not_a_readout_exits_2_with_one_line(
    iec_cli: ModuleType, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    code, out, err = _run(iec_cli, ["iec-parse", str(path), "--json"])
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1


def test_missing_file_exits_2(iec_cli: ModuleType, tmp_path: Path) -> None:
    code, _, err = _run(iec_cli, ["iec-parse", str(tmp_path / "nope.txt"), "--json"])
    assert code == 2
    assert "nope.txt" in err


def test_a_fifo_is_refused_at_once(iec_cli: ModuleType, tmp_path: Path) -> None:
    """A FIFO (or a device) given as FILE would block the read for ever."""
    fifo = tmp_path / "capture.txt"
    os.mkfifo(fifo)
    code, out, err = _run(iec_cli, ["iec-parse", str(fifo), "--json"])
    assert (code, out) == (2, "")
    assert "not a regular file" in err


def test_a_file_larger_than_any_readout_is_refused(
    iec_cli: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(iec_cli, "MAX_CAPTURE_SIZE", 1024)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"1.8.0(000001.000*kWh)\r\n" * 100)
    code, out, err = _run(iec_cli, ["iec-parse", str(path), "--json"])
    assert (code, out) == (2, "")
    assert "larger than" in err
