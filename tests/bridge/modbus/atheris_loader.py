"""Coverage-guided fuzzing of the profile loader with atheris (libFuzzer); not run by pytest.

The hypothesis tests in test_loader_fuzz.py run with every test run; this harness is for a
longer hunt, seeded with the shipped profiles::

    pip install atheris
    PYTHONPATH=. python tests/bridge/modbus/atheris_loader.py -max_total_time=300 -timeout=5

Extra arguments go to libFuzzer (a corpus directory, ``-runs=N``, ``-jobs=N``). A crash is
any exception other than a ProfileError naming the file; ``-timeout`` turns a slow input
into a crash too. Keep what it finds as a named test in test_loader_hostile.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hardware_bridge.modbus._loader", "yaml", "voluptuous"]):
    from hardware_bridge.modbus import ProfileError, load_profile_text
    from hardware_bridge.modbus._loader import shipped_profile_files

SOURCE = "fuzz_atheris.yaml"


def test_one_input(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        load_profile_text(text, source=SOURCE)
    except ProfileError as exc:
        if not str(exc).startswith(f"{SOURCE}: "):
            raise AssertionError(f"message does not name the file: {exc}") from None


def main() -> None:
    args = list(sys.argv)
    if not any(not arg.startswith("-") for arg in args[1:]):  # no corpus given: seed one
        corpus = Path(tempfile.mkdtemp(prefix="profile-corpus-"))
        for path in shipped_profile_files():
            (corpus / path.name).write_bytes(path.read_bytes())
        args.append(str(corpus))
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
