"""Gateflow's web app: FastAPI routes, the WebSocket session, and the one bridge to the engine."""

__version__ = "0.1.0"
