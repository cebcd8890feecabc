"""The web console at /console: see and operate clusters, services, tasks, task
definitions and load balancers in a browser, with the ECS terms explained.

Server-rendered HTML (escaped by `html`), live regions refreshed from each page's
JSON twin, charts drawn by the shipped `static/console.js`. Reads and actions go
through the use cases, like the API; sign-in uses the server's access keys.
"""

from openecs.console.routes import console_routes

__all__ = ["console_routes"]
