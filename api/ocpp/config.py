"""The gateway's knobs, as the engine imports them.

They are part of ``Settings`` (api/core/settings.py: ``settings.gateway``), the one place that
reads the environment, so that CHARGECA_OCPP_* follow the same order of sources as every other
setting (flags, environment, config.toml, defaults). They live in the core layer because
``Settings`` may not import the engine (docs/architecture.md, "Layers and the import rule").
"""

from __future__ import annotations

from api.core.settings import BOOT_STATUSES, GatewayConfig

__all__ = ["BOOT_STATUSES", "GatewayConfig"]
