"""The JSON API for other systems, and its OpenAPI description."""
