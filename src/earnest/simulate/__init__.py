"""A simulated NSE-like market written in NSE's real file formats (the demo's data; no real
prices ship with earnest). Start with :func:`simulate_market` and :func:`write_market`."""

from earnest.simulate.market import SimConfig, SimMarket, simulate_market, write_market
from earnest.simulate.planting import PlantedError

__all__ = ["PlantedError", "SimConfig", "SimMarket", "simulate_market", "write_market"]
