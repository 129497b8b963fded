"""The Function App: one FunctionApp, blueprints registered from ``functions/``.

Nothing else happens at import: no clients, no settings, no SDK imports, so
cold start pays only for azure.functions and the adapters.
"""

import azure.functions as func

from functions.events import bp as events_blueprint
from functions.http_api import bp as http_api_blueprint
from functions.key_drift import bp as key_drift_blueprint
from functions.respond import bp as respond_blueprint
from functions.scan import bp as scan_blueprint
from functions.sentinel import bp as sentinel_blueprint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(scan_blueprint)
app.register_functions(respond_blueprint)
app.register_functions(http_api_blueprint)
app.register_functions(sentinel_blueprint)
app.register_functions(events_blueprint)
app.register_functions(key_drift_blueprint)
