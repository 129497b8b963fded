"""The Function App: one FunctionApp, blueprints registered from ``functions/``.

Nothing else happens at import: no clients, no settings, no SDK imports, so
cold start pays only for azure.functions and the adapters.
"""

import azure.functions as func

from functions.scan import bp as scan_blueprint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(scan_blueprint)
