"""The batch encoding stays the smallest of the candidates measured by
scripts/bench_uplink_bytes.py (an hour of the typical site, the same generator)."""

from __future__ import annotations

import importlib.util
import random
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

from hardware_bridge.modbus import load_catalogue

SCRIPT = Path(__file__).parents[3] / "scripts" / "bench_uplink_bytes.py"
CHOSEN = "columnar/delta JSON + exact value coding (chosen)"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_uplink_bytes", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_chosen_encoding_is_the_smallest_for_a_typical_site() -> None:
    bench = _load()
    rng = random.Random(1)
    catalogue = load_catalogue()
    result = bench.run(
        "typical site",
        [
            bench.ModbusDevice("sdm630", catalogue.get("eastron_sdm630"), rng),
            bench.ModbusDevice("varkombi", catalogue.get("kael_varkombi"), rng),
        ],
        bench.IecMeter(rng),
        timedelta(seconds=10),
        timedelta(hours=1),
    )
    sizes = result.bytes_per_day
    assert min(sizes, key=sizes.__getitem__) == CHOSEN
    assert sizes[CHOSEN] * 3 < sizes["row JSON"]
    per_reading = sizes[CHOSEN] / result.readings_per_day
    assert per_reading < 2.5  # docs/uplink-bytes.md: 2.1 bytes a reading over a day
