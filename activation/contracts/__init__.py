"""Vendors' API contracts, for checking the requests activation sends and the simulators receive.

Modules:
    openapi   generic: OpenAPI 3.0 documents -> operations, path matching, parameter and body checks
    filters   JSON:API ``filter`` expressions (``equals(email,"x")``): parse, check, evaluate
    klaviyo   the Klaviyo contract (revision 2026-07-15): ``validate_request``, ``validate_response``
"""
