"""Where the response audit trail goes besides the Actions table.

* :mod:`shared.audit.telemetry`: ``tokenwarden.*`` logs (``tokenwarden.audit`` carries the case, action and
  invocation ids) to Application Insights through azure-monitor-opentelemetry, when configured.
* :mod:`shared.audit.ingestion`: every written action record as a ``TokenwardenAudit_CL`` row through the
  Logs Ingestion API (azure-monitor-ingestion), when a data collection rule is configured.

Nothing is imported here: both modules load their SDKs only when used, so importing this package stays
off the cold-start path.
"""

from __future__ import annotations

__all__: list[str] = []
