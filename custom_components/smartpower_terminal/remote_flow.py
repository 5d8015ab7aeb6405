"""The config, reauth and reconfigure steps of a remote terminal (network mode).

A terminal is reached through a SmartPower server, or directly on the LAN through its daemon
(found by zeroconf). It is paired with the Modem No and auth code from its slip: the claim is
made here, before the entry exists, and only the token it returns is stored — never the code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from hardware_bridge import (
    InvalidAuthCode,
    NotFound,
    RateLimited,
    ServerUnreachable,
    SmartPowerClient,
    SmartPowerError,
    TlsError,
    Unauthorized,
)

from .const import CONF_PROTOCOL
from .remote_const import CONF_AUTH_CODE, CONF_MODEM_NO, PROTOCOL_REMOTE, is_remote_entry

__all__ = ["RemoteFlowMixin", "is_remote_entry", "normalise_url", "remote_title"]

_LOGGER = logging.getLogger(__name__)

ZEROCONF_MODEM_NO = "modem_no"  # TXT record key a daemon may announce its modem with


def normalise_url(text: str) -> str | None:
    """``http(s)://host[:port][/path]`` without a trailing slash, or None if it is not one."""
    url = text.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.query or parts.fragment:
        return None
    return url


def remote_title(modem_no: str) -> str:
    return f"SmartPower terminal {modem_no}"


class _UnexpectedError(SmartPowerError):
    """Something the client does not type went wrong (logged with its traceback)."""


def _error_for(err: SmartPowerError, placeholders: dict[str, str]) -> str:
    """The form's error key for what a call to the server ended in."""
    if isinstance(err, _UnexpectedError):
        return "unknown"
    if isinstance(err, InvalidAuthCode):
        return "invalid_auth_code"
    if isinstance(err, NotFound):
        return "modem_not_found"
    if isinstance(err, RateLimited):
        if err.retry_after is None:
            return "rate_limited_no_wait"
        placeholders["wait"] = str(math.ceil(err.retry_after))
        return "rate_limited"
    if isinstance(err, Unauthorized):
        return "invalid_token"
    if isinstance(err, ServerUnreachable):
        placeholders["error"] = str(err)
        return "cannot_connect"
    if isinstance(err, TlsError):
        placeholders["error"] = str(err)
        return "tls_error"
    # a refusal or an answer that does not follow the SmartPower API: not such a server
    placeholders["error"] = str(err)
    return "not_smartpower"


def _code_field(required: bool = True) -> dict[vol.Marker, Any]:
    marker = vol.Required if required else vol.Optional
    return {
        marker(CONF_AUTH_CODE): TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
    }


def _url_field() -> dict[vol.Marker, Any]:
    return {vol.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL))}


class RemoteFlowMixin(ConfigFlow):
    """Steps of the config flow for a remote terminal; mixed into the integration's flow."""

    _remote_url: str
    _remote_modem_no: str = ""

    def _placeholders(self) -> dict[str, str]:
        return {"url": getattr(self, "_remote_url", ""), "wait": "", "error": ""}

    async def _async_claim(self, url: str, modem_no: str, auth_code: str) -> str:
        """The token for the modem (raises the client's typed errors)."""
        client = SmartPowerClient(async_get_clientsession(self.hass), url)
        try:
            claim = await client.claim(modem_no, auth_code)
        except SmartPowerError:
            raise
        except Exception as err:
            _LOGGER.exception("Unexpected error while claiming a modem at %s", url)
            raise _UnexpectedError(str(err)) from err
        return claim.token

    # -- user: the server's address ------------------------------------------------------
    async def async_step_remote(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            if (url := normalise_url(str(user_input[CONF_URL]))) is None:
                errors[CONF_URL] = "invalid_url"
            else:
                self._remote_url = url
                return await self.async_step_remote_auth()
        return self.async_show_form(
            step_id="remote",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(_url_field()), user_input or {}
            ),
            errors=errors,
        )

    # -- zeroconf: a daemon on the LAN -------------------------------------------------
    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        host = discovery_info.host
        if ":" in host:  # an IPv6 address goes in brackets in a URL
            host = f"[{host}]"
        url = f"http://{host}:{discovery_info.port or 80}"
        modem_no = str(discovery_info.properties.get(ZEROCONF_MODEM_NO) or "")
        if modem_no:
            await self.async_set_unique_id(modem_no)
            # a daemon that moved to another address: the entry follows it
            self._abort_if_unique_id_configured(updates={CONF_URL: url})
        self._async_abort_entries_match({CONF_URL: url})
        self._remote_url = url
        self._remote_modem_no = modem_no
        self.context["title_placeholders"] = {"name": modem_no or discovery_info.name}
        return await self.async_step_remote_auth()

    # -- Modem No + auth code: claimed before the entry exists ----------------------------
    async def async_step_remote_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = self._placeholders()
        if user_input is not None:
            modem_no = str(user_input[CONF_MODEM_NO]).strip()
            self._remote_modem_no = modem_no
            # before the claim: a token for a terminal already set up would be left unused
            await self.async_set_unique_id(modem_no)
            self._abort_if_unique_id_configured()
            try:
                token = await self._async_claim(
                    self._remote_url, modem_no, str(user_input[CONF_AUTH_CODE]).strip()
                )
            except SmartPowerError as err:
                errors["base"] = _error_for(err, placeholders)
            else:
                return self.async_create_entry(
                    title=remote_title(modem_no),
                    data={
                        CONF_PROTOCOL: PROTOCOL_REMOTE,
                        CONF_URL: self._remote_url,
                        CONF_MODEM_NO: modem_no,
                        CONF_TOKEN: token,
                    },
                )
        schema = vol.Schema({vol.Required(CONF_MODEM_NO): TextSelector(), **_code_field()})
        return self.async_show_form(
            step_id="remote_auth",
            data_schema=self.add_suggested_values_to_schema(
                schema, {CONF_MODEM_NO: self._remote_modem_no}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- reauth: the token was refused (auth code renewed, token revoked) ----------------
    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        self._remote_url = entry.data[CONF_URL]
        errors: dict[str, str] = {}
        placeholders = {**self._placeholders(), "modem_no": entry.data[CONF_MODEM_NO]}
        if user_input is not None:
            try:
                token = await self._async_claim(
                    entry.data[CONF_URL],
                    entry.data[CONF_MODEM_NO],
                    str(user_input[CONF_AUTH_CODE]).strip(),
                )
            except SmartPowerError as err:
                errors["base"] = _error_for(err, placeholders)
            else:
                return self.async_update_reload_and_abort(entry, data_updates={CONF_TOKEN: token})
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(_code_field()),
            errors=errors,
            description_placeholders=placeholders,
        )

    # -- reconfigure: the server or daemon has a new address -----------------------------
    async def async_step_remote_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new URL; the entry's token is tried there, or a new claim with the auth code."""
        entry = self._get_reconfigure_entry()
        modem_no = entry.data[CONF_MODEM_NO]
        errors: dict[str, str] = {}
        placeholders = {**self._placeholders(), "modem_no": modem_no}
        if user_input is not None:
            code = str(user_input.get(CONF_AUTH_CODE) or "").strip()
            if (url := normalise_url(str(user_input[CONF_URL]))) is None:
                errors[CONF_URL] = "invalid_url"
            else:
                self._remote_url = placeholders["url"] = url
                try:
                    if code:
                        token = await self._async_claim(url, modem_no, code)
                    else:
                        token = entry.data[CONF_TOKEN]
                        client = SmartPowerClient(
                            async_get_clientsession(self.hass), url, token=token
                        )
                        await client.description(modem_no)
                except SmartPowerError as err:
                    errors["base"] = _error_for(err, placeholders)
                else:
                    return self.async_update_reload_and_abort(
                        entry, data_updates={CONF_URL: url, CONF_TOKEN: token}
                    )
        schema = vol.Schema({**_url_field(), **_code_field(required=False)})
        suggested = {CONF_URL: (user_input or entry.data)[CONF_URL]}
        return self.async_show_form(
            step_id="remote_reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )
