"""The Klaviyo destination declares the limits of the official contract, not numbers of its own."""

from __future__ import annotations

from activation.contracts.klaviyo import load_contract
from activation.destinations.klaviyo import LIMITS, OPERATIONS
from activation.transport.limits import RateLimit


def test_every_endpoint_class_has_its_operations_rate_limit():
    contract = load_contract()
    limits = contract.rate_limits()
    for endpoint, (method, path) in OPERATIONS.items():
        operation, _, problem = contract.match(method, path.replace("{job_id}", "x").replace("{id}", "x"))
        assert operation is not None, problem
        declared = limits[operation.operation_id]
        expected = RateLimit.parse(*declared.values())
        assert LIMITS.get(endpoint).rate_limit == expected, (endpoint, operation.operation_id, declared)


def test_batch_sizes_are_the_documented_maximums():
    assert LIMITS.get("bulk_import").max_records == 10_000
    assert LIMITS.get("bulk_import").max_bytes == 5_000_000  # "5 MB", decimal: the stricter reading
    assert LIMITS.get("bulk_import").max_record_bytes == 100_000
    assert LIMITS.get("list_add").max_records == LIMITS.get("list_remove").max_records == 1_000
    assert LIMITS.get("profiles_lookup").max_records == 100  # page[size] maximum of GET /api/profiles
