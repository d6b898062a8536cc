"""The Realtime API over WebSocket (``/v1/realtime``): docs/realtime.md."""

from fakeai.realtime.server import RealtimeEndpoint

__all__ = ["RealtimeEndpoint"]
