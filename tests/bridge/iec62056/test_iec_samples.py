"""Real telegrams from eight meter makers parse with the values they hold."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, sample

from hardware_bridge.iec62056 import Readout, parse_readout, readout_to_dict


def _read(name: str) -> Readout:
    return parse_readout(sample(name))


def _value(readout: Readout, address: str, group: int = 0) -> tuple[str, str | None]:
    dataset = readout.get(address)
    assert dataset is not None, address
    return dataset.values[group].value, dataset.values[group].unit


@pytest.mark.parametrize("path", sorted(SAMPLES.iterdir()), ids=lambda p: p.stem)
def test_every_sample_keeps_its_source_line_and_parses(path) -> None:
    raw = path.read_bytes()
    assert raw.startswith(b"# source: ")
    readout = parse_readout(raw)
    assert readout.datasets


def test_luna_turkish_tag_and_glued_bang() -> None:
    readout = _read("tr_luna_embedded4ever.txt")
    ident = readout.identification
    assert ident is not None
    assert (ident.manufacturer, ident.baud_char, ident.tag, ident.ident) == (
        "LUN",
        "5",
        "<1>",
        "LUN669205929",
    )
    assert ident.generation == 1
    assert ident.baud_rate == 9600
    assert _value(readout, "0.0.0") == ("69205929", None)  # leading space trimmed
    assert _value(readout, "5.8.0") == ("000000.008", "kVArh")
    assert _value(readout, "1.6.0", 1) == ("00-00-00,00:00", None)
    assert _value(readout, "96.71", 1) == ("00", None)
    assert _value(readout, "96.77.4*1") == ("99-99-99,99:99,99-99-99,99:99", None)
    assert _value(readout, "1.4.0") == ("000.000", "kW")  # "!" glued to the last set
    assert readout.complete
    assert readout.bcc_ok is None


def test_makel_kombi_meter_without_ident_and_stray_etx() -> None:
    readout = _read("tr_makel_c520_techviewer.txt")
    assert readout.identification is None
    assert readout.bcc_ok is None  # no STX, so the byte after ETX is no BCC
    assert _value(readout, "1.8.0") == ("000070.677", "kWh")
    assert _value(readout, "1.8.0*2") == ("000019.608", "kWh")
    assert _value(readout, "8.8.0") == ("000062.419", "kVArh")
    assert _value(readout, "1.6.0") == ("003.264", "kW")
    assert _value(readout, "1.6.0", 1) == ("23-06-06,18:45", None)
    assert _value(readout, "32.7.0") == ("241.16", "V")
    assert _value(readout, "0.8.0") == ("15", "min")
    assert readout.datasets[-1].address == "96.77.5*2"


def test_iskra_echoed_ack_full_obis_and_verified_bcc() -> None:
    readout = _read("iskra_mt174_smartmeter-obis.txt")
    ident = readout.identification
    assert ident is not None
    assert ident.manufacturer == "ISk"
    assert ident.min_reaction_time == 0.02  # lowercase third letter
    assert readout.bcc_ok is True  # real BCC 'f' after ETX
    assert _value(readout, "1-0:1.8.0*255") == ("0008048.375", "kWh")
    assert _value(readout, "1-0:1.6.0*255", 1) == ("1703100930", None)
    assert _value(readout, "0-0:F.F.0*255") == ("0000000", None)
    assert _value(readout, "1-0:1.8.0*15") == ("0004224.392", "kWh")


def test_itron_echoed_request_signed_values_and_hash() -> None:
    readout = _read("itron_em214_smartmeter-obis.txt")
    ident = readout.identification
    assert ident is not None
    assert (ident.manufacturer, ident.ident) == ("ITR", "EM214")
    assert _value(readout, "31.7.0") == ("+000.8", "A")
    assert _value(readout, "0.2.0") == ("V01.69#EEA3546C", None)
    assert _value(readout, "C.5.0") == ("L1-L2-L3", None)
    assert _value(readout, "C.13.21") == ("00000001", "secs")
    assert _value(readout, "1.8.1") == ("022108.7", "kWh")


def test_landis_gyr_echo_and_leading_space_in_value() -> None:
    readout = _read("lgz_zmd120_vzlogger.txt")
    ident = readout.identification
    assert ident is not None
    assert ident.manufacturer == "LGZ"
    assert _value(readout, "0.0.0") == ("20000", None)
    assert _value(readout, "2.8.0") == ("004329.6", "kWh")
    assert _value(readout, "F.F") == ("00000000", None)


def test_emh_load_profile_rows_keep_their_values() -> None:
    readout = _read("emh_p01_loadprofile_runamook.txt")
    header = readout.get("P.01")
    assert header is not None
    assert [v.value for v in header.values[:4]] == ["1221005001500", "00000000", "15", "8"]
    rows = [d for d in readout.datasets if d.address == ""]
    assert len(rows) == 2
    assert rows[0].values[1].value == "0.04088"
    assert rows[1].values[3].value == "0.00350"


def test_hager_push_telegram_without_unit() -> None:
    readout = _read("hager_ehz_vzlogger.txt")
    ident = readout.identification
    assert ident is not None
    assert (ident.manufacturer, ident.baud_char, ident.ident) == ("HAG", "5", "eHZ010C_EHZ1vA02")
    assert _value(readout, "1-0:1.8.0*255") == ("000001.2963", None)


def test_actaris_noise_backslash_tag_empty_unit_and_stray_bytes() -> None:
    readout = _read("actaris_ace3000_vzlogger.txt")
    ident = readout.identification
    assert ident is not None
    assert (ident.manufacturer, ident.baud_char, ident.tag, ident.ident) == (
        "ACE",
        "0",
        "\\3",
        "k260V01.19",
    )
    assert _value(readout, "C.1") == ("1126120053322353", None)
    assert _value(readout, "1.8.0") == ("013925.5", None)  # "*" with nothing after it
    assert [d.address for d in readout.datasets] == ["F.F", "C.1", "C.5.0", "1.8.0"]
    assert readout.bcc_ok is False  # stray bytes inside the block spoil that capture's BCC


def test_json_shape_matches_the_cli_contract() -> None:
    data = readout_to_dict(_read("tr_luna_embedded4ever.txt"))
    assert data["identification"] == {
        "manufacturer": "LUN",
        "baud": "5",
        "tag": "<1>",
        "ident": "LUN669205929",
    }
    assert data["bcc_ok"] is None
    assert data["datasets"][0] == {
        "address": "0.0.0",
        "values": [{"value": "69205929", "unit": None}],
    }
