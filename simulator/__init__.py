"""A simulated OCPP 2.0.1 charging station for tests, the demo and benchmarks."""

from simulator.station import CallError, SimulatedStation, StationRefused, TlsOptions

__all__ = ["CallError", "SimulatedStation", "StationRefused", "TlsOptions"]
