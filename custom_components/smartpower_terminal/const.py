"""Constants shared by the SmartPower Terminal integration's modules."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "smartpower_terminal"

# --- config entry data (one entry per serial line) ---------------------------------------
CONF_PORT: Final = "port"
CONF_PROTOCOL: Final = "protocol"  # "iec62056" | "modbus" (hardware_bridge.LineProtocol values)
CONF_BAUDRATE: Final = "baudrate"
CONF_PARITY: Final = "parity"  # "N" | "E" | "O" (Modbus lines; IEC lines always start 300 7E1)
CONF_STOPBITS: Final = "stopbits"
CONF_TERMINAL_MODEL: Final = "terminal_model"
CONF_MAINS_DETECTION: Final = "mains_detection"

PROTOCOL_IEC: Final = "iec62056"
PROTOCOL_MODBUS: Final = "modbus"
PROTOCOL_MODEM: Final = "at_modem"  # a cellular modem for SMS alarms (no meters, no subentries)

TERMINAL_MODELS: Final = ("ht_g21", "ht_g22", "ht_g23", "ht_g24", "ht_g25", "ht_g26", "adapter")
BAUDRATES: Final = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES: Final = ("N", "E", "O")

# --- options --------------------------------------------------------------------------------
CONF_FAST_INTERVAL: Final = "fast_interval"  # seconds, instantaneous values
CONF_SLOW_INTERVAL: Final = "slow_interval"  # minutes, energy counters and meter readouts
CONF_IO_SUPPORT: Final = "io_support"
CONF_INDUCTIVE_LIMIT: Final = "inductive_limit"  # percent of active energy
CONF_CAPACITIVE_LIMIT: Final = "capacitive_limit"
CONF_PROFILES_DIR: Final = "profiles_dir"
CONF_IO_INTERVAL: Final = "io_interval"  # seconds, relays and inputs (with I/O support on)
CONF_MAINS_SOURCE: Final = "mains_source"  # "<subentry id>" (its voltages) or "<id>:<input key>"

DEFAULT_FAST_INTERVAL: Final = 10
DEFAULT_IO_INTERVAL: Final = 1.0
MIN_IO_INTERVAL: Final = 0.2
MAX_IO_INTERVAL: Final = 60.0
MIN_FAST_INTERVAL: Final = 5
DEFAULT_SLOW_INTERVAL: Final = 15
MIN_SLOW_INTERVAL: Final = 1
MAX_SLOW_INTERVAL: Final = 240
# EPDK tariff rules (installed power >= 50 kVA): inductive > 20 %, capacitive > 15 % is penalised.
DEFAULT_INDUCTIVE_LIMIT: Final = 20.0
DEFAULT_CAPACITIVE_LIMIT: Final = 15.0

# --- cellular modem entries (options) ----------------------------------------------------------
CONF_RECIPIENTS: Final = "recipients"  # international numbers, "+905321234567"
CONF_SCAN_INTERVAL: Final = "scan_interval"  # seconds between looks at the modem
DEFAULT_MODEM_INTERVAL: Final = 60
MIN_MODEM_INTERVAL: Final = 30
MAX_MODEM_INTERVAL: Final = 3600
MODEM_BAUDRATE: Final = 115200

# --- subentries (one per device on the line) ---------------------------------------------------
SUBENTRY_METER: Final = "meter"
SUBENTRY_MODBUS_DEVICE: Final = "modbus_device"

CONF_NAME: Final = "name"
CONF_ADDRESS: Final = "address"  # IEC: whole address string sent as /?<address>!
CONF_READOUT_MODE: Final = "readout_mode"  # "full" | "short"
CONF_MAX_BAUD: Final = "max_baud"
CONF_DEVICE_ID: Final = "device_id"  # Modbus address 1..247
CONF_PROFILE: Final = "profile"
CONF_IO: Final = "io"  # {relay or input key: {name, device_class, inverted, max_on}}
CONF_GRUP_ARGE_SERIAL: Final = "grup_arge_serial"  # form only: address = last two digits + 100
IO_NAME: Final = "name"
IO_DEVICE_CLASS: Final = "device_class"
IO_INVERTED: Final = "inverted"
IO_MAX_ON: Final = "max_on"  # minutes a relay may stay on before it is switched off; 0 = no limit
INPUT_DEVICE_CLASSES: Final = (
    "none",
    "opening",
    "door",
    "window",
    "moisture",
    "problem",
    "power",
    "running",
    "safety",
    "smoke",
    "heat",
    "motion",
    "tamper",
)
MAX_IO_FORM_POINTS: Final = 16  # relays and inputs the device form names one by one (each)

READOUT_MODES: Final = ("full", "short")
METER_MAX_BAUDS: Final = (300, 600, 1200, 2400, 4800, 9600, 19200)
DEFAULT_METER_MAX_BAUD: Final = 9600

# --- actions -----------------------------------------------------------------------------------
SERVICE_READ_NOW: Final = "read_now"

# --- runtime -----------------------------------------------------------------------------------
MANUFACTURER_TERMINAL: Final = "Grup ARGE"  # HT G2x terminals
MANUFACTURER_ADAPTER: Final = "SmartPower"  # a plain USB serial adapter standing in for one
# Energy counters: a rise faster than twice this power over the elapsed time is a misread.
MAX_PLAUSIBLE_POWER_KW: Final = 5000.0
# A configured device silent for this long raises a repair issue.
UNREACHABLE_ISSUE_HOURS: Final = 1
# Line reopen back-off after the port vanished (seconds): first retry at the next refresh.
REOPEN_BACKOFF_INITIAL: Final = 10
REOPEN_BACKOFF_MAX: Final = 300
ATTR_INDUCTIVE_LIMIT: Final = "inductive_limit"
ATTR_CAPACITIVE_LIMIT: Final = "capacitive_limit"
ATTR_BILLING_MONTH: Final = "billing_month"
ATTR_OUTAGE_START: Final = "outage_start"
ATTR_LAST_OUTAGE_START: Final = "last_outage_start"
ATTR_LAST_OUTAGE_END: Final = "last_outage_end"
ATTR_LAST_OUTAGE_DURATION: Final = "last_outage_duration"  # seconds
MAINS_KEY: Final = "mains_power"  # the line device's mains binary sensor
