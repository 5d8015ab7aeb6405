"""Tests for the SmartPower Terminal integration."""
