"""``qa serve``: the HTTP API (app, routes, service, generation pool, metrics, guard, errors) and its command.

``from qa.server.app import create_app`` builds the app; ``qa.server.command`` runs it with uvicorn.
"""
