"""The sandbox as an HTTP service: SandboxFusion's ``/run_code`` and stateful python sessions.

``attnrl serve-sandbox`` runs it (:mod:`attnrl.cli.serve_command`); needs the ``serve``
extra (starlette, uvicorn). See ``docs/scale-out.md``.
"""

from __future__ import annotations

from attnrl.service.app import Backend, ServiceSettings, create_app

__all__ = ["Backend", "ServiceSettings", "create_app"]
