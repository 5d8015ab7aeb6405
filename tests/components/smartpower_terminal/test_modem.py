"""A cellular modem entry against the simulated modem: its entities, SMS alarms, the SIM PIN
repair, a silent modem, diagnostics."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from homeassistant.components.diagnostics import REDACTED
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from custom_components.smartpower_terminal.const import CONF_RECIPIENTS, DOMAIN
from custom_components.smartpower_terminal.diagnostics import async_get_config_entry_diagnostics
from custom_components.smartpower_terminal.modem_hub import sim_pin_issue_id
from hardware_bridge.simulators.at_modem import PROFILES, ModemSimulator, ModemState

from . import modem_helpers
from .modem_helpers import IMEI, RECIPIENTS, modem_entity_id, modem_entry, setup_modem
from .runtime_helpers import device_with

modem_sim = modem_helpers.modem_sim
short_modem_timeouts = modem_helpers.short_modem_timeouts


def _state(hass: HomeAssistant, key: str, platform: str = "sensor") -> str:
    state = hass.states.get(modem_entity_id(hass, platform, key))
    assert state is not None, key
    return state.state


async def _refresh(hass: HomeAssistant, entry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


async def test_entities_show_what_the_modem_reports(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    st = modem_sim.state
    assert _state(hass, "signal_strength") == str(-113 + 2 * st.csq)
    assert _state(hass, "registration") == st.registration == "home"
    assert _state(hass, "operator") == st.operator
    assert _state(hass, "access_technology") == "4g"  # AcT 7 (E-UTRAN) in +COPS
    assert _state(hass, "sim_state") == "ready"

    modem_sim.state.csq = 11
    modem_sim.state.operator = "Vodafone TR"
    modem_sim.set_registration("roaming")
    await _refresh(hass, entry)
    assert _state(hass, "signal_strength") == str(-113 + 2 * 11)
    assert _state(hass, "registration") == "roaming"
    assert _state(hass, "operator") == "Vodafone TR"

    signal = hass.states.get(modem_entity_id(hass, "sensor", "signal_strength"))
    assert signal.attributes["unit_of_measurement"] == "dBm"
    assert signal.attributes["device_class"] == "signal_strength"
    registry = er.async_get(hass)
    for key in ("registration", "operator", "access_technology", "sim_state"):
        entity = registry.async_get(modem_entity_id(hass, "sensor", key))
        assert entity.entity_category == er.EntityCategory.DIAGNOSTIC, key
    signal_entry = registry.async_get(modem_entity_id(hass, "sensor", "signal_strength"))
    assert signal_entry.entity_category is None

    device = device_with(hass, (DOMAIN, IMEI), entry)
    profile = PROFILES["quectel_ec25"]
    assert (device.manufacturer, device.model, device.sw_version, device.serial_number) == (
        profile.manufacturer,
        profile.model,
        profile.firmware,
        IMEI,
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_lte_figures_are_offered_disabled_and_equal_the_modem(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    registry = er.async_get(hass)
    keys = ("rsrp", "rsrq", "sinr")
    for key in keys:
        entity = registry.async_get(modem_entity_id(hass, "sensor", key))
        assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
        registry.async_update_entity(entity.entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    st = modem_sim.state
    assert float(_state(hass, "rsrp")) == st.rsrp_dbm
    assert float(_state(hass, "rsrq")) == st.rsrq_db
    assert int(_state(hass, "sinr")) == st.sinr_raw
    assert (
        hass.states.get(modem_entity_id(hass, "sensor", "rsrq")).attributes["unit_of_measurement"]
        == "dB"
    )


async def test_a_2g_modem_has_no_lte_figures(hass: HomeAssistant) -> None:
    async with ModemSimulator("simcom_sim800") as sim:
        entry = modem_entry(sim.path)
        await setup_modem(hass, entry)
        assert _state(hass, "access_technology") == "2g"
        registry = er.async_get(hass)
        for key in ("rsrp", "rsrq", "sinr"):
            assert registry.async_get_entity_id("sensor", DOMAIN, f"{IMEI}_{key}") is None
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_lte_figures_are_added_when_the_modem_first_reports_them(
    hass: HomeAssistant,
) -> None:
    async with ModemSimulator("quectel_ec25", ModemState(registration="searching")) as sim:
        entry = modem_entry(sim.path)
        await setup_modem(hass, entry)
        assert _state(hass, "registration") == "searching"
        assert _state(hass, "operator") == STATE_UNKNOWN
        assert _state(hass, "access_technology") == STATE_UNKNOWN
        registry = er.async_get(hass)
        assert registry.async_get_entity_id("sensor", DOMAIN, f"{IMEI}_rsrp") is None
        sim.set_registration("home")
        await _refresh(hass, entry)
        assert registry.async_get_entity_id("sensor", DOMAIN, f"{IMEI}_rsrp") is not None
        await _refresh(hass, entry)  # added once
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_no_sim_is_a_state_not_an_error(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    async with ModemSimulator("quectel_ec25", ModemState(sim="absent")) as sim:
        entry = modem_entry(sim.path)
        await setup_modem(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        assert _state(hass, "sim_state") == "absent"
        assert _state(hass, "registration") == "unknown"
        assert _state(hass, "signal_strength") == str(-113 + 2 * sim.state.csq)
        assert ir.async_get(hass).async_get_issue(DOMAIN, sim_pin_issue_id(entry.entry_id)) is None
        ours = [r for r in caplog.records if r.name.startswith(("custom_comp", "hardware"))]
        assert [r for r in ours if r.levelno >= logging.WARNING] == []
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_sms_in_gsm7_reaches_every_recipient(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "test"},
        blocking=True,
    )
    assert modem_sim.messages() == [(number, "test") for number in RECIPIENTS]
    # The PDU as 3GPP TS 23.040 builds it: no SMSC (00), SMS-SUBMIT with a relative validity
    # period (11), message reference 00, 12 international digits (0C 91, swapped semi-octets),
    # PID 00, DCS 00 (GSM-7), then 4 septets "test" packed into F4F29C0E.
    # Any validity period octet is fine.
    first = modem_sim.sent[0]
    assert re.fullmatch("0011000C910935123254760000[0-9A-F]{2}04F4F29C0E", first.pdu.upper())
    assert first.tpdu_length == len(bytes.fromhex(first.pdu)) - 1
    assert not first.decoded.ucs2
    assert first.decoded.concat is None


async def test_a_long_turkish_sms_goes_as_concatenated_ucs2(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path, recipients=[RECIPIENTS[0]])
    await setup_modem(hass, entry)
    title = "Kompanzasyon alarmı"
    message = (
        "Endüktif reaktif oran %24,7: sınır %20 aşıldı. Şalteri ve kademeleri kontrol edin; "
        "ceza ödememek için ay sonuna kadar düzeltin. Günlük özet: ğüşıöç ĞÜŞİÖÇ."
    )
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": message, "title": title},
        blocking=True,
    )
    assert modem_sim.messages() == [(RECIPIENTS[0], f"{title}\n{message}")]
    parts = modem_sim.sent
    total = len(f"{title}\n{message}")
    assert len(parts) == -(-total // 67)  # 67 UCS-2 characters per part with the 6-octet UDH
    references = {p.decoded.concat[0] for p in parts}
    assert len(references) == 1
    assert [p.decoded.concat[1:] for p in parts] == [(len(parts), i + 1) for i in range(len(parts))]
    full = f"{title}\n{message}"
    (reference,) = references
    for seq, part in enumerate(parts, start=1):
        assert part.decoded.ucs2
        raw = bytes.fromhex(part.pdu)
        assert part.tpdu_length == len(raw) - 1 - raw[0]
        # user data, built here from the spec: UDL, the 8-bit concatenation element
        # (05 00 03 ref total seq), then 67 characters in UTF-16BE (the last part the rest)
        chunk = full[(seq - 1) * 67 : seq * 67].encode("utf-16-be")
        udh = bytes([5, 0, 3, reference, len(parts), seq])
        assert raw.endswith(bytes([len(udh) + len(chunk)]) + udh + chunk), seq
        dcs = raw[-(len(udh) + len(chunk)) - 3]  # DCS, VP, UDL precede the user data
        assert dcs == 0x08, seq


async def test_a_refused_sms_raises_the_mapped_cms_error(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    modem_sim.state.cms_error = 330
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            "notify",
            "send_message",
            {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "alarm"},
            blocking=True,
        )
    assert str(caught.value) == (
        "The SMS did not reach 2 of 2 recipients: "
        "SMS rejected: SMSC address unknown (set it with AT+CSCA) (+CMS ERROR: 330)"
    )
    assert caught.value.translation_key == "sms_failed"
    assert modem_sim.sent == []


async def test_one_refused_recipient_does_not_stop_the_others(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    modem_sim.state.cms_error, modem_sim.state.cms_error_after = 500, 1
    with pytest.raises(HomeAssistantError, match="1 of 2 recipients: SMS rejected: unknown error"):
        await hass.services.async_call(
            "notify",
            "send_message",
            {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "alarm"},
            blocking=True,
        )
    assert modem_sim.messages() == [(RECIPIENTS[0], "alarm")]


async def test_without_recipients_sending_says_so(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path, recipients=[])
    await setup_modem(hass, entry)
    with pytest.raises(HomeAssistantError, match="No SMS recipients"):
        await hass.services.async_call(
            "notify",
            "send_message",
            {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "alarm"},
            blocking=True,
        )


async def test_sim_pin_raises_a_repair_until_the_sim_is_ready(
    hass: HomeAssistant,
) -> None:
    async with ModemSimulator("quectel_ec25", ModemState(sim="pin_required")) as sim:
        entry = modem_entry(sim.path)
        await setup_modem(hass, entry)
        issues = ir.async_get(hass)
        issue_id = sim_pin_issue_id(entry.entry_id)
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "sim_pin"
        assert issue.translation_placeholders == {"modem": entry.title}
        assert _state(hass, "sim_state") == "pin_required"
        assert _state(hass, "registration") == "unknown"

        # still locked: the issue is not created anew (a dismissed one stays dismissed)
        issues.async_ignore(DOMAIN, issue_id, True)
        await _refresh(hass, entry)
        assert issues.async_get_issue(DOMAIN, issue_id).dismissed_version is not None

        sim.state.sim = "puk_required"
        await _refresh(hass, entry)
        assert _state(hass, "sim_state") == "puk_required"
        assert issues.async_get_issue(DOMAIN, issue_id) is not None

        sim.state.sim = "absent"  # out of the modem, in a phone
        await _refresh(hass, entry)
        assert issues.async_get_issue(DOMAIN, issue_id) is not None

        sim.state.sim = "ready"
        await _refresh(hass, entry)
        assert _state(hass, "sim_state") == "ready"
        assert issues.async_get_issue(DOMAIN, issue_id) is None

        sim.state.sim = "pin_required"
        await _refresh(hass, entry)
        assert issues.async_get_issue(DOMAIN, issue_id) is not None
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_a_silent_modem_is_unavailable_and_logged_once(
    hass: HomeAssistant, modem_sim: ModemSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    modem_sim.state.silent = True
    with caplog.at_level(logging.INFO):
        await _refresh(hass, entry)
        for key in ("signal_strength", "registration", "sim_state"):
            assert _state(hass, key) == STATE_UNAVAILABLE, key
        # an alarm sent now fails where the automation sees it (not skipped in silence)
        assert _state(hass, "sms", "notify") == STATE_UNKNOWN
        with pytest.raises(HomeAssistantError, match="did not reach 2 of 2 recipients"):
            await hass.services.async_call(
                "notify",
                "send_message",
                {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "lost"},
                blocking=True,
            )
        await _refresh(hass, entry)
        assert _state(hass, "signal_strength") == STATE_UNAVAILABLE
        modem_sim.state.silent = False
        modem_sim.state.csq = 25
        await _refresh(hass, entry)
        assert _state(hass, "signal_strength") == str(-113 + 2 * 25)
        await _refresh(hass, entry)
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [f"{entry.title} does not answer"]
    assert [r.getMessage() for r in ours if r.levelno == logging.INFO] == [
        f"{entry.title} answers again"
    ]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # the modem answers again after a restart too: the SMS goes out
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "back"},
        blocking=True,
    )
    assert [text for _, text in modem_sim.messages()] == ["back", "back"]


async def test_setup_retries_when_no_modem_answers(hass: HomeAssistant) -> None:
    async with ModemSimulator("quectel_ec25", ModemState(silent=True)) as sim:
        entry = modem_entry(sim.path)
        entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert "No modem answers on" in str(entry.reason)


async def test_options_change_reloads_with_the_new_recipients(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_RECIPIENTS: ["+4915112345678"]}
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.recipients == ("+4915112345678",)


async def test_diagnostics_hide_the_imei_port_and_numbers(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    result = await async_get_config_entry_diagnostics(hass, entry)
    text = repr(result)
    for secret in (IMEI, modem_sim.path, *RECIPIENTS):
        assert secret not in text
    assert result["entry"]["options"][CONF_RECIPIENTS] == REDACTED
    assert result["status"]["imei"] == REDACTED
    assert result["identity"]["imei"] == REDACTED
    assert result["status"]["operator"] == modem_sim.state.operator
    assert result["status"]["signal_dbm"] == -113 + 2 * modem_sim.state.csq
    assert result["recipient_count"] == 2
    assert result["answering"] is True


async def test_diagnostics_of_a_silent_modem_say_why(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    modem_sim.state.silent = True
    await _refresh(hass, entry)
    result = await async_get_config_entry_diagnostics(hass, entry)
    assert result["status"] is None
    assert result["answering"] is False
    assert "no answer" in result["error"]
    assert modem_sim.path not in repr(result)


async def test_read_now_looks_at_the_modem_too(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    entry = modem_entry(modem_sim.path)
    await setup_modem(hass, entry)
    modem_sim.state.csq = 7
    await hass.services.async_call(DOMAIN, "read_now", {}, blocking=True)
    await hass.async_block_till_done()
    assert _state(hass, "signal_strength") == str(-113 + 2 * 7)


async def test_a_poll_waits_for_the_sms_being_sent(
    hass: HomeAssistant, modem_sim: ModemSimulator
) -> None:
    """The status poll never talks between the parts of an SMS (one conversation at a time)."""
    entry = modem_entry(modem_sim.path, recipients=[RECIPIENTS[0]])
    await setup_modem(hass, entry)
    modem_sim.state.prompt_delay = 0.05  # each part's prompt takes a moment
    modem_sim.commands.clear()
    send = hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": modem_entity_id(hass, "notify", "sms"), "message": "ş" * 150},
        blocking=True,
    )
    await asyncio.gather(send, entry.runtime_data.coordinator.async_refresh())
    sms = [i for i, c in enumerate(modem_sim.commands) if c.startswith(("AT+CMGF", "AT+CMGS"))]
    assert len(sms) == 1 + 3  # PDU mode, then three parts of 67 + 67 + 16 characters
    assert sms == list(range(sms[0], sms[0] + len(sms)))
    assert "AT+CSQ" in modem_sim.commands  # the poll did run, after the SMS
    assert modem_sim.messages() == [(RECIPIENTS[0], "ş" * 150)]


async def test_removing_the_modem_leaves_no_repair_behind(hass: HomeAssistant) -> None:
    async with ModemSimulator("quectel_ec25", ModemState(sim="pin_required")) as sim:
        entry = modem_entry(sim.path)
        await setup_modem(hass, entry)
        issue_id = sim_pin_issue_id(entry.entry_id)
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
        assert (await hass.config_entries.async_remove(entry.entry_id))["require_restart"] is False
        await hass.async_block_till_done()
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        assert device_with(hass, (DOMAIN, IMEI), entry) is None
