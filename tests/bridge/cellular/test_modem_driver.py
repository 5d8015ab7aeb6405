"""The async driver against the simulated modem on a pty."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from hardware_bridge.cellular import (
    LineError,
    Modem,
    ModemSettings,
    NoResponseError,
    SmsError,
)
from hardware_bridge.simulators.at_modem import ModemSimulator, ModemState, RegistrationSetting


def _settings(port: str) -> ModemSettings:
    return ModemSettings(port=port, command_timeout=1.0, probe_timeout=0.3, prompt_timeout=1.0)


@pytest.mark.parametrize(
    ("profile", "model", "technology", "rsrp", "rsrq"),
    [
        ("quectel_ec25", "EC25", "4G", -95.0, -10.0),
        ("simcom_sim7600", "SIMCOM_SIM7600E-H", "4G", -95.0, -10.0),
        ("simcom_sim800", "SIMCOM_SIM800L", "2G", None, None),
    ],
)
async def test_status_with_urcs_interleaved_in_every_reply(
    profile: str, model: str, technology: str, rsrp: float | None, rsrq: float | None
) -> None:
    async with ModemSimulator(profile, ModemState(csq=17)) as sim:
        queued = ('+QIND: "csq",17,99', "+CREG: 1", "+CPIN: READY", "SMS Ready")
        for line in queued:
            sim.queue_urc(line)
        urcs: list[str] = []
        async with Modem(_settings(sim.path), on_unsolicited=urcs.append) as modem:
            await modem.probe()
            status = await modem.status()
    assert status.sim == "ready"
    assert status.registration == "home"
    assert status.operator == "Turkcell"
    assert status.access_technology == technology
    assert status.signal_dbm == -113 + 2 * 17
    assert (status.rsrp_dbm, status.rsrq_db) == (rsrp, rsrq)
    assert status.imei == "867160040123458"
    assert status.model == model
    assert urcs[0] == "RDY"
    assert urcs[-len(queued) :] == list(queued)  # every one delivered inside a reply


async def test_sim_pin_required_then_entered() -> None:
    state = ModemState(sim="pin_required", pin="4821")
    async with ModemSimulator("quectel_ec25", state) as sim, Modem(_settings(sim.path)) as modem:
        await modem.probe()
        status = await modem.status()
        assert (status.sim, status.registration, status.operator) == (
            "pin_required",
            "unknown",
            None,
        )
        with pytest.raises(SmsError, match="SIM PIN required"):
            await modem.send_sms("+905321234567", "test")
        assert await modem.enter_pin("4821") == "ready"
        status = await modem.status()
        assert (status.sim, status.registration) == ("ready", "home")


async def test_the_pin_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    state = ModemState(sim="pin_required", pin="4821")
    async with ModemSimulator("simcom_sim800", state) as sim, Modem(_settings(sim.path)) as modem:
        await modem.probe()
        with pytest.raises(Exception) as wrong:  # noqa: PT011 - any error, checked below
            await modem.enter_pin("9999")
        assert "9999" not in str(wrong.value)
        assert await modem.enter_pin("4821") == "ready"
        await modem.status()
    assert sim.commands  # the driver did talk
    assert "4821" not in caplog.text
    assert "9999" not in caplog.text
    assert "867160040123458" not in caplog.text  # nor the IMEI


@pytest.mark.parametrize("cmee", [1, 2])
async def test_no_sim_is_absent_in_numeric_and_verbose_error_form(cmee: int) -> None:
    async with (
        ModemSimulator("simcom_sim7600", ModemState(sim="absent")) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        await modem.command(f"AT+CMEE={cmee}")
        status = await modem.status()
        with pytest.raises(SmsError, match="SIM not inserted"):
            await modem.send_sms("+905321234567", "test")
    assert (status.sim, status.registration, status.operator) == ("absent", "unknown", None)
    assert status.signal_dbm is not None  # the radio still measures without a SIM


@pytest.mark.parametrize(
    ("registration", "operator"),
    [("home", "Turkcell"), ("roaming", "Turkcell"), ("searching", None), ("denied", None)],
)
async def test_registration_states(registration: RegistrationSetting, operator: str | None) -> None:
    state = ModemState(registration=registration)
    async with ModemSimulator("quectel_ec25", state) as sim, Modem(_settings(sim.path)) as modem:
        await modem.probe()
        status = await modem.status()
    assert status.registration == registration
    assert status.operator == operator


async def test_registration_urc_in_the_lac_form_does_not_break_the_query() -> None:
    async with ModemSimulator("quectel_ec25", ModemState(registration="searching")) as sim:
        urcs: list[str] = []
        async with Modem(_settings(sim.path), on_unsolicited=urcs.append) as modem:
            await modem.probe()
            await modem.command("AT+CREG=2")
            sim.set_registration("roaming")
            assert await modem.registration() == "roaming"
    assert '+CREG: 5,"2B5C","01A2B3C4"' in urcs


@pytest.mark.parametrize(("csq", "dbm"), [(0, -113), (31, -51), (99, None), (20, -73)])
async def test_signal(csq: int, dbm: int | None) -> None:
    async with (
        ModemSimulator("simcom_sim800", ModemState(csq=csq)) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        assert await modem.signal_dbm() == dbm


async def test_sms_gsm7_is_decoded_back_by_the_modem() -> None:
    async with (
        ModemSimulator("simcom_sim800", first_reference=41) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        refs = await modem.send_sms("05321234567", "Pompa ariza: {basinc} 3 bar €")
    assert refs == (42,)
    assert sim.messages() == [("05321234567", "Pompa ariza: {basinc} 3 bar €")]
    assert not sim.sent[0].decoded.ucs2


async def test_sms_concatenated_ucs2_turkish() -> None:
    text = "Şebeke elektriği kesildi, jeneratör çalışıyor. Işıklar ve pompa ığdır. " * 3
    async with ModemSimulator("quectel_ec25") as sim:
        for line in ("+CREG: 1", "+QIND: SMS DONE"):
            sim.queue_urc(line)
        async with Modem(_settings(sim.path)) as modem:
            await modem.probe()
            first = await modem.send_sms("+905321234567", text)
            second = await modem.send_sms("+905321234567", "ş" * 100)
    assert len(first) == 4
    assert len(second) == 2
    assert sim.messages() == [("+905321234567", text), ("+905321234567", "ş" * 100)]
    assert all(sms.decoded.ucs2 for sms in sim.sent)
    refs = {sms.decoded.concat[0] for sms in sim.sent if sms.decoded.concat}
    assert len(refs) == 2  # one concatenation reference per message


@pytest.mark.parametrize(
    ("code", "message"),
    [(500, "unknown error"), (330, "SMSC address unknown"), (612, "manufacturer-specific")],
)
async def test_injected_cms_error(code: int, message: str) -> None:
    async with (
        ModemSimulator("quectel_ec25", ModemState(cms_error=code)) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        with pytest.raises(SmsError, match=message) as err:
            await modem.send_sms("+905321234567", "test")
    assert err.value.code == code
    assert sim.sent == []


async def test_failure_after_a_first_part_reports_what_went_out() -> None:
    state = ModemState(cms_error=332, cms_error_after=1)
    async with ModemSimulator("quectel_ec25", state) as sim, Modem(_settings(sim.path)) as modem:
        await modem.probe()
        with pytest.raises(SmsError, match="network timeout") as err:
            await modem.send_sms("+905321234567", "x" * 300)
    assert err.value.sent == (1,)


async def test_a_silent_modem_is_no_response() -> None:
    async with (
        ModemSimulator("quectel_ec25", ModemState(silent=True)) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        with pytest.raises(NoResponseError):
            await modem.probe()


async def test_a_modem_that_stops_answering() -> None:
    async with ModemSimulator("quectel_ec25") as sim, Modem(_settings(sim.path)) as modem:
        await modem.probe()
        sim.state.silent = True
        with pytest.raises(NoResponseError):
            await modem.status()


async def test_missing_port_is_a_line_error() -> None:
    with pytest.raises(LineError, match="cannot open"):
        async with Modem(_settings("/dev/nonexistent-modem")):
            pass


async def test_a_late_prompt_is_cancelled_so_the_modem_takes_commands_again() -> None:
    async with (
        ModemSimulator("quectel_ec25", ModemState(prompt_delay=0.5)) as sim,
        Modem(ModemSettings(port=sim.path, prompt_timeout=0.2, command_timeout=1.0)) as modem,
    ):
        await modem.probe()
        with pytest.raises(SmsError, match="not confirmed"):
            await modem.send_sms("+905321234567", "test")
        status = await modem.status()
    assert status.model == "EC25"
    assert sim.sent == []


async def test_pdu_mode_is_retried_until_the_sim800_is_sms_ready() -> None:
    async with (
        ModemSimulator("simcom_sim800", ModemState(cmgf_errors=2)) as sim,
        Modem(replace(_settings(sim.path), sms_ready_pause=0.01)) as modem,
    ):
        await modem.probe()
        assert await modem.send_sms("+905321234567", "test") == (1,)
    assert sim.messages() == [("+905321234567", "test")]


async def test_a_bare_error_to_cpin_is_no_usable_sim() -> None:
    async with (
        ModemSimulator("simcom_sim800", ModemState(sim="absent")) as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        await modem.command("AT+CMEE=0")
        assert await modem.sim_state() == "absent"


async def test_identity_is_read_once_per_open_port() -> None:
    async with (
        ModemSimulator("quectel_ec25") as sim,
        Modem(_settings(sim.path)) as modem,
    ):
        await modem.probe()
        first = await modem.status()
        second = await modem.status()
    assert first == second
    assert sim.commands.count("AT+CGSN") == 1
    assert sim.commands.count("AT+CSQ") == 2
