"""SmartPower hardware bridge: reads meters and Modbus devices over serial lines."""

__version__ = "0.1.0"
