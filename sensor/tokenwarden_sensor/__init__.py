"""tokenwarden-sensor: makes an app report the Entra tokens it accepts to Tokenwarden, raise local red flags
at once, and refuse tokens signed by keys Tokenwarden has published as untrusted.

Quick start (FastAPI)::

    from azure.identity import DefaultAzureCredential
    from tokenwarden_sensor import IngestionTarget, Sensor, SensorConfig, UntrustedKeySource
    from tokenwarden_sensor.asgi import TokenwardenMiddleware

    sensor = Sensor(SensorConfig(app_id="<client id>", app_name="Orders API",
                                 ingestion=IngestionTarget(endpoint=..., rule_id=...),
                                 untrusted_keys=UntrustedKeySource(account_url=...)),
                    credential=DefaultAzureCredential(), on_key_refresh=my_jwks_cache.clear)
    sensor.start()
    app.add_middleware(TokenwardenMiddleware, sensor=sensor)

The framework adapters are in ``tokenwarden_sensor.asgi``, ``.wsgi`` and ``.functions``; importing this
package imports no Azure SDK.
"""

from tokenwarden_sensor.sensor import (
    IngestionTarget,
    Inspection,
    Sensor,
    SensorConfig,
    SensorCounters,
    UntrustedKeySource,
    Verdict,
)
from tokenwarden_sensor.token import COLUMNS, Outcome

__all__ = ["COLUMNS", "IngestionTarget", "Inspection", "Outcome", "Sensor", "SensorConfig", "SensorCounters",
           "UntrustedKeySource", "Verdict"]
