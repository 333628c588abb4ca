"""The exports on a real build: consent gating, and every template renders for every contact."""

from __future__ import annotations

import pytest

from activation.contract import load_contract
from activation.templates import list_emails, make_environment, render_email
from activation.warehouse import read_contact
from dbt_runner import query

pytestmark = pytest.mark.dbt


def test_only_consented_contacts_without_a_deletion_request_are_exported(built_warehouse):
    warehouse, _, _ = built_warehouse
    exported = query(warehouse, "select count(*) from exports.export_contact_template_variables")[0][0]
    assert exported > 100
    leaks = query(
        warehouse,
        """
        select e.contact_key
        from exports.export_contact_template_variables e
        join marts.customers c on c.customer_key = e.contact_key
        where not c.has_email_marketing_consent
           or exists (
                select 1
                from staging.stg_crm__privacy_requests p
                join intermediate.int_identifiers_stitched i
                  on (p.subject_type = 'email' and i.identifier_type = 'email' and i.identifier = p.subject)
                  or (p.subject_type = 'customer_id' and i.identifier_type = 'user_id' and i.identifier = p.subject)
                where i.customer_key = e.contact_key
           )
        union all
        select m.contact_key
        from exports.export_segment_memberships m
        left join exports.export_contact_template_variables e using (contact_key)
        where e.contact_key is null
        """,
    )
    assert leaks == []


def test_every_template_renders_for_every_exported_contact(built_warehouse):
    """Real rows, not fixtures: fallbacks, JSON lists and item fields as dbt built them."""
    warehouse, _, _ = built_warehouse
    contract = load_contract()
    environment = make_environment()
    keys = [row[0] for row in query(warehouse, "select contact_key from exports.export_contact_template_variables")]
    templates = list_emails(environment)
    assert len(templates) >= 4
    for key in keys:
        variables = read_contact(warehouse, contract, contact_key=key)
        for name in templates:
            rendered = render_email(environment, name, variables)
            assert rendered.subject and rendered.text.strip() and rendered.html.strip()
