"""The HTTP edge: an aiohttp app that serves the documented REST API under /api.

It owns HTTP concerns only (routing, JSON shapes, bearer-token extraction, status mapping, CORS,
the OpenAPI document) and calls the domain services over gRPC for everything else.
"""
