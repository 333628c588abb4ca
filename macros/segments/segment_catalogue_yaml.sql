{#-
    THE SEGMENT CATALOGUE. Add a segment by adding an entry to the YAML list
    in segment_catalogue_yaml() below: no SQL file is needed. Fields (validated when dbt runs; a mistake fails the
    build naming the segment and the fix):
      key            lower_snake_case, unique; the segment_key of its members
                     (with for_each: <key>__<slug of the value>)
      name, description, owner
      priority       a number; a customer's primary segment is the one with the
                     lowest priority among their segments
      condition      SQL over the columns of the source (see
                     int_segment_features_joined / int_segment_category_features_joined
                     for the vocabulary); {{ var('...') }} is rendered
      source         customer (default) or customer_category
      for_each       a column of the source: one segment per value
      qualified_at   SQL for when the customer met the rule (default: as_of)
      exclusions     keys of segments whose members are left out of this one
      holdout_percent  override of var holdout_percent for this segment
    A rule should be null-safe: a null comparison is false, so the customer is
    not a member.

    It is YAML inside a macro so that every dbt context can read it (unit
    tests see neither the graph nor model meta) and {{ var(...) }} is
    rendered when the rule runs, with --vars and unit-test overrides applied.
-#}
{% macro segment_catalogue_yaml() %}
- key: cart_abandoner
  name: Cart abandoners
  description: >-
    Open cart whose last change was between cart_abandonment_hours and
    cart_abandoner_max_hours ago (both inclusive), and no order since.
  owner: lifecycle
  priority: 10
  condition: >-
    has_open_cart
    and hours_since_last_cart_change >= {{ var('cart_abandonment_hours') }}
    and hours_since_last_cart_change <= {{ var('cart_abandoner_max_hours') }}
    and not has_ordered_since_cart_change
  qualified_at: cart_abandoned_at

- key: browse_abandoner
  name: Browse abandoners
  description: >-
    One product viewed at least browse_abandoner_min_views times in the
    last browse_abandoner_window_hours, with no add-to-cart and no order
    in that window.
  owner: lifecycle
  priority: 20
  condition: >-
    browse_window_max_views_of_one_product >= {{ var('browse_abandoner_min_views') }}
    and browse_window_add_to_carts = 0
    and browse_window_orders = 0
  exclusions: [cart_abandoner]

- key: pricing_page_visitor
  name: Pricing-page visitors who did not buy
  description: >-
    Viewed the pricing page (var pricing_page_path) in the last
    pricing_page_window_days and placed no order since.
  owner: growth
  priority: 25
  condition: >-
    last_pricing_page_view_at is not null
    and not has_ordered_since_pricing_page_view
  qualified_at: last_pricing_page_view_at

- key: retargeting
  name: Retargeting
  description: >-
    A product first viewed in the last retargeting_lookback_days, at least
    retargeting_purchase_window_hours ago, and not bought within that many
    hours of the view.
  owner: paid-media
  priority: 30
  condition: retargeting_unbought_products > 0
  exclusions: [cart_abandoner]

- key: warm_lead
  name: Warm leads
  description: A product viewed in the last warm_lead_window_days and not bought since.
  owner: lifecycle
  priority: 40
  condition: warm_lead_unbought_products > 0
  exclusions: [cart_abandoner, browse_abandoner]

- key: multi_criteria_example
  name: Young local category browsers (multi-criteria example)
  description: >-
    Aged example_min_age to example_max_age (inclusive), living in
    example_city, and viewed a product of example_category in the last
    category_interest_window_days.
  owner: growth
  priority: 45
  condition: >-
    age between {{ var('example_min_age') }} and {{ var('example_max_age') }}
    and city = '{{ var("example_city") }}'
    and categories_viewed_recently like '%|{{ var("example_category") }}|%'

- key: category_browser
  name: Category browsers
  description: >-
    One segment per category: a product of the category viewed in the
    last category_browser_window_hours.
  owner: merchandising
  priority: 50
  source: customer_category
  for_each: category
  condition: hours_since_last_view < {{ var('category_browser_window_hours') }}
  qualified_at: last_viewed_at

- key: new_subscriber
  name: New subscribers (welcome series)
  description: Email marketing consent granted in the last new_subscriber_window_days, and no order yet.
  owner: lifecycle
  priority: 5
  condition: >-
    days_since_email_consent_granted < {{ var('new_subscriber_window_days') }}
    and orders_lifetime = 0
  qualified_at: email_consent_granted_at

- key: vip
  name: VIP
  description: >-
    RFM cell in vip_rfm_cells and lifetime revenue at least
    vip_min_lifetime_revenue.
  owner: crm
  priority: 8
  condition: >-
    rfm_cell in ('{{ var("vip_rfm_cells") | join("', '") }}')
    and revenue_lifetime >= {{ var('vip_min_lifetime_revenue') }}

- key: high_value
  name: High value
  description: >-
    Lifetime revenue at least high_value_min_lifetime_revenue, or at
    least high_value_min_orders counted orders.
  owner: crm
  priority: 12
  condition: >-
    revenue_lifetime >= {{ var('high_value_min_lifetime_revenue') }}
    or orders_lifetime >= {{ var('high_value_min_orders') }}

- key: lapsing
  name: Lapsing
  description: >-
    Days since the last order at least lapsing_overdue_ratio times the
    customer's typical purchase interval, below churn_risk_overdue_ratio.
  owner: retention
  priority: 60
  condition: >-
    purchase_overdue_ratio >= {{ var('lapsing_overdue_ratio') }}
    and purchase_overdue_ratio < {{ var('churn_risk_overdue_ratio') }}

- key: churn_risk
  name: Churn risk
  description: >-
    Days since the last order from churn_risk_overdue_ratio up to (not
    including) lost_overdue_ratio times the typical purchase interval.
  owner: retention
  priority: 55
  condition: >-
    purchase_overdue_ratio >= {{ var('churn_risk_overdue_ratio') }}
    and purchase_overdue_ratio < {{ var('lost_overdue_ratio') }}

- key: lost
  name: Lost
  description: Days since the last order at least lost_overdue_ratio times the typical purchase interval.
  owner: retention
  priority: 70
  condition: purchase_overdue_ratio >= {{ var('lost_overdue_ratio') }}

- key: rfm
  name: RFM segments
  description: One segment per named RFM segment (customer_rfm.rfm_segment, seed rfm_segment_map).
  owner: crm
  priority: 90
  for_each: rfm_segment
  condition: rfm_segment is not null
{% endmacro %}

