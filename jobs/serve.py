"""`songfarm serve`: the online endpoint (pipelines/online/app.py) on a local Ray, until Ctrl-C."""

from __future__ import annotations

from ray import serve

from ..cluster.connect import starts_local_ray
from ..pipelines.online.app import build_app, open_output
from ..pipelines.online.config import check_backends, load_settings


def serve_main(args) -> int:
    """`songfarm serve [--config FILE] [--host H] [--port P]`: run locally until Ctrl-C."""
    settings = load_settings(getattr(args, "config", None))
    check_backends(settings, checkpoints=starts_local_ray())  # fails now, not in a replica
    open_output(settings)  # so does an output location that cannot be written
    host = getattr(args, "host", None) or settings.host
    port = getattr(args, "port", None) or settings.port
    auth = "on" if settings.key_digests() else f"off (set {settings.api_keys_env} to require keys)"
    serve.start(http_options={"host": host, "port": port, "request_timeout_s": settings.limits.request_timeout_s})
    print(f"songfarm: serving on http://{host}:{port}  (API docs at /docs, auth {auth}); Ctrl-C stops", flush=True)
    try:
        serve.run(build_app(settings), name=settings.app_name, route_prefix=settings.route_prefix, blocking=True)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
    return 0
