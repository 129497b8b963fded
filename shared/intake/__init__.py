"""Signals from outside (Event Grid events, Sentinel incidents) parsed into typed values that become findings."""
