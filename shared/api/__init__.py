"""The HTTP API: request and response models, the error envelope, the OpenAPI document and the read routes.

Importing this package imports nothing: the Function App's adapters import the modules they need inside
their bodies, so pydantic stays off the cold-start path of the timer and queue functions.
"""
