"""Activation: get warehouse data into emails.

For now this package holds the email preview (Jinja2 templates rendered with
one contact's row of ``exports.export_contact_template_variables`` or a
seeded scenario profile), ESP contract checks and ESP simulators. The
reverse-ETL engine that syncs segments and template variables to ESPs will
live here too.

Modules:
    contract        the export contract (models/exports/*.yml): columns, types, fallbacks
    warehouse       read one contact's template variables from DuckDB (read-only)
    scenarios       seeded test profiles, one per scenario, checked against the contract
    templates       the Jinja2 environment and rendering of one email
    template_check  static check: templates only use variables the contract has
    contracts/      ESP API contracts: check requests (``contracts.klaviyo.validate_request``)
    simulators/     local ESP simulators for tests, demos and benchmarks (``simulators.klaviyo``)
    cli             the ``activation`` command line (``preview``, ``simulate``)
"""
