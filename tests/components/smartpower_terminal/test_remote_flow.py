"""Pairing a remote terminal: the server's URL or a daemon found by zeroconf, then Modem No and
auth code claimed before the entry exists; reauth when the token is refused; a new URL."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from unittest.mock import patch

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smartpower_terminal.const import (
    CONF_MAINS_DETECTION,
    CONF_PROTOCOL,
    CONF_TERMINAL_MODEL,
    DOMAIN,
)
from custom_components.smartpower_terminal.remote_const import (
    CONF_AUTH_CODE,
    CONF_MODEM_NO,
    PROTOCOL_REMOTE,
)
from custom_components.smartpower_terminal.remote_flow import normalise_url

from .fake_smartpower import AUTH_CODE, MODEM_NO, FakeSmartPower, serve, serve_app

pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_setup_entry")


@pytest.fixture
async def server() -> AsyncIterator[FakeSmartPower]:
    async with serve(FakeSmartPower()) as fake:
        yield fake


async def _start(hass: HomeAssistant, url: str) -> dict:
    """The user step with "Remote terminal", then the URL: the Modem No form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_PROTOCOL: PROTOCOL_REMOTE,
            CONF_TERMINAL_MODEL: "adapter",
            CONF_MAINS_DETECTION: False,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "remote"
    return await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_URL: url})


def _remote_entry(server: FakeSmartPower, token: str = "spt_old") -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SmartPower terminal {MODEM_NO}",
        unique_id=MODEM_NO,
        data={
            CONF_PROTOCOL: PROTOCOL_REMOTE,
            CONF_URL: server.url,
            CONF_MODEM_NO: MODEM_NO,
            CONF_TOKEN: token,
        },
    )


async def test_a_terminal_is_paired_and_only_its_token_is_stored(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    result = await _start(hass, server.url + "/")
    assert result["step_id"] == "remote_auth"
    assert result["description_placeholders"]["url"] == server.url
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: f" {MODEM_NO} ", CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"SmartPower terminal {MODEM_NO}"
    token = result["data"][CONF_TOKEN]
    assert token in server.tokens  # the claim was made before the entry was created
    assert result["data"] == {
        CONF_PROTOCOL: PROTOCOL_REMOTE,
        CONF_URL: server.url,
        CONF_MODEM_NO: MODEM_NO,
        CONF_TOKEN: token,
    }
    entry = result["result"]
    assert entry.unique_id == MODEM_NO
    assert AUTH_CODE not in repr(dict(entry.data))
    assert AUTH_CODE not in repr(dict(entry.options))
    assert not hass.config_entries.flow.async_progress()


@pytest.mark.parametrize("typed", ["smartpower.example.com", "ftp://host", "http://", "http://h:x"])
async def test_an_address_that_is_not_a_url_is_refused(
    hass: HomeAssistant, server: FakeSmartPower, typed: str
) -> None:
    result = await _start(hass, typed)
    assert result["step_id"] == "remote"
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: server.url}
    )
    assert result["step_id"] == "remote_auth"


def test_urls_are_normalised() -> None:
    assert normalise_url(" https://sp.example.com/base/ ") == "https://sp.example.com/base"
    assert normalise_url("http://10.0.0.2:8080") == "http://10.0.0.2:8080"
    assert normalise_url("http://host/?q=1") is None


async def _claim_error(hass: HomeAssistant, url: str, modem_no: str = MODEM_NO) -> dict:
    result = await _start(hass, url)
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: modem_no, CONF_AUTH_CODE: "WRONG-000"}
    )


async def test_a_wrong_auth_code_is_named_and_can_be_corrected(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    result = await _claim_error(hass, server.url)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth_code"}
    assert not server.tokens
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: MODEM_NO, CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_an_unknown_modem_is_named(hass: HomeAssistant, server: FakeSmartPower) -> None:
    result = await _claim_error(hass, server.url, "SP2611309999")
    assert result["errors"] == {"base": "modem_not_found"}


async def test_rate_limited_says_how_long_to_wait(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.rate_limited = 29.2
    result = await _claim_error(hass, server.url)
    assert result["errors"] == {"base": "rate_limited"}
    assert result["description_placeholders"]["wait"] == "30"
    server.rate_limited = -1  # a limit without Retry-After
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: MODEM_NO, CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["errors"] == {"base": "rate_limited_no_wait"}


async def test_an_unreachable_server_is_named(hass: HomeAssistant) -> None:
    async with serve(FakeSmartPower()) as fake:
        url = fake.url
    result = await _claim_error(hass, url)  # the port is closed now
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"]["error"]


async def test_a_server_that_is_not_smartpower_is_named(hass: HomeAssistant) -> None:
    async def teapot(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", teapot)
    async with serve_app(app) as url:
        result = await _claim_error(hass, url)
    assert result["errors"] == {"base": "not_smartpower"}


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a certificate no client trusts (signed by itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def tls_listener(self_signed: ssl.SSLContext) -> Iterator[tuple[str, list[bytes]]]:
    """A TLS server with a self-signed certificate, in a thread (its failed handshakes stay
    out of Home Assistant's loop); yields its URL and whatever a client sent after a
    handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    received: list[bytes] = []
    stop = threading.Event()

    def serve_forever() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    with self_signed.wrap_socket(conn, server_side=True) as tls:
                        received.append(tls.recv(4096))
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join()
        listener.close()


async def test_an_untrusted_certificate_is_a_tls_error(
    hass: HomeAssistant, tls_listener: tuple[str, list[bytes]]
) -> None:
    url, received = tls_listener
    result = await _claim_error(hass, url)
    assert result["errors"] == {"base": "tls_error"}
    assert "certificate" in result["description_placeholders"]["error"].lower()
    assert not received  # nothing was sent over the untrusted connection


async def test_an_unexpected_failure_is_logged_and_named(
    hass: HomeAssistant, server: FakeSmartPower, caplog: pytest.LogCaptureFixture
) -> None:
    with patch(
        "custom_components.smartpower_terminal.remote_flow.SmartPowerClient.claim",
        side_effect=RuntimeError("boom"),
    ):
        result = await _claim_error(hass, server.url)
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while claiming" in caplog.text


async def test_a_terminal_is_added_once(hass: HomeAssistant, server: FakeSmartPower) -> None:
    _remote_entry(server).add_to_hass(hass)
    result = await _start(hass, server.url)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: MODEM_NO, CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert not server.claims  # no token was issued for nothing


def _zeroconf(host: str, port: int, **properties: str) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        hostname="terminal.local.",
        name="Pump station._smartpower._tcp.local.",
        port=port,
        properties=properties,
        type="_smartpower._tcp.local.",
    )


async def test_a_daemon_found_on_the_lan_is_offered(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_zeroconf("127.0.0.1", port, modem_no=MODEM_NO),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "remote_auth"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": MODEM_NO}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEM_NO: MODEM_NO, CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == server.url


async def test_a_daemon_without_its_modem_no_is_named_by_its_service(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf("fe80::1", 8080)
    )
    assert result["step_id"] == "remote_auth"
    assert result["description_placeholders"]["url"] == "http://[fe80::1]:8080"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "Pump station._smartpower._tcp.local."}


async def test_a_known_daemon_at_a_new_address_updates_its_entry(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = _remote_entry(server)
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_zeroconf("127.0.0.2", 8123, modem_no=MODEM_NO),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == "http://127.0.0.2:8123"


async def test_a_daemon_already_added_by_url_is_not_offered_again(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    _remote_entry(server).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf("127.0.0.1", port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_takes_a_new_token_with_the_renewed_code(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = _remote_entry(server)
    entry.add_to_hass(hass)
    server.auth_code = "NEW-CODE-1"
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["modem_no"] == MODEM_NO
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_AUTH_CODE: AUTH_CODE},  # the old code
    )
    assert result["errors"] == {"base": "invalid_auth_code"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_AUTH_CODE: "NEW-CODE-1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN] in server.tokens
    assert "NEW-CODE-1" not in repr(dict(entry.data))


async def _reconfigure(hass: HomeAssistant, entry: MockConfigEntry, form: dict) -> dict:
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "remote_reconfigure"
    return await hass.config_entries.flow.async_configure(result["flow_id"], form)


async def test_a_new_url_keeps_a_token_the_server_still_accepts(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    server.tokens.add("spt_kept")
    entry = _remote_entry(server, "spt_kept")
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_URL: "http://old:1"})
    result = await _reconfigure(hass, entry, {CONF_URL: server.url + "/"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == server.url
    assert entry.data[CONF_TOKEN] == "spt_kept"


async def test_a_new_url_whose_server_refuses_the_token_asks_for_the_code(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = _remote_entry(server, "spt_unknown_there")
    entry.add_to_hass(hass)
    result = await _reconfigure(hass, entry, {CONF_URL: server.url})
    assert result["errors"] == {"base": "invalid_token"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "not a url", CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: server.url, CONF_AUTH_CODE: AUTH_CODE}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_TOKEN] in server.tokens


async def test_a_remote_entry_has_no_options_and_no_subentries(
    hass: HomeAssistant, server: FakeSmartPower
) -> None:
    entry = _remote_entry(server)
    entry.add_to_hass(hass)
    assert not entry.supports_options
    assert not entry.supported_subentry_types
