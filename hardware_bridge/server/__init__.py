"""The SmartPower server: many terminals upload to it, Home Assistants read from it.

:mod:`hardware_bridge.server.storage` keeps its data, on SQLite (one machine) or PostgreSQL
(a fleet, several server processes in front of one database).
"""
