"""The terminal daemon (``smartpower-bridge run``): a computer in a panel becomes a terminal.

Configuration (:mod:`~hardware_bridge.daemon.config`), acquisition into the durable queue
(:mod:`~hardware_bridge.daemon.acquisition`), the upload schedule and the :class:`Uplink` seam
(:mod:`~hardware_bridge.daemon.forwarder`), and the :class:`Runner` that ties them together.
"""

from hardware_bridge.daemon.acquisition import TERMINAL_DEVICE, LinePoller, MainsWatch
from hardware_bridge.daemon.config import (
    ConfigError,
    DaemonConfig,
    GpioSection,
    LineSection,
    MainsSection,
    ModemSection,
    UpstreamConfig,
    format_duration,
    load_config,
    load_config_text,
    parse_duration,
)
from hardware_bridge.daemon.forwarder import CellularReport, Forwarder, OutgoingBatch, Uplink
from hardware_bridge.daemon.runner import GPIO_DEVICE, QUEUE_FILE, LocalApi, Runner
from hardware_bridge.daemon.slip import claim_uri, format_slip
from hardware_bridge.daemon.state_files import (
    DaemonRunningError,
    read_status,
    running_pid,
)

__all__ = [
    "GPIO_DEVICE",
    "QUEUE_FILE",
    "TERMINAL_DEVICE",
    "CellularReport",
    "ConfigError",
    "DaemonConfig",
    "DaemonRunningError",
    "Forwarder",
    "GpioSection",
    "LinePoller",
    "LineSection",
    "LocalApi",
    "MainsSection",
    "MainsWatch",
    "ModemSection",
    "OutgoingBatch",
    "Runner",
    "Uplink",
    "UpstreamConfig",
    "claim_uri",
    "format_duration",
    "format_slip",
    "load_config",
    "load_config_text",
    "parse_duration",
    "read_status",
    "running_pid",
]
