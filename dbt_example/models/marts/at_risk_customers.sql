-- Customers likely to churn: the audience of the win-back campaign.
-- A customer leaves this model (and the synced list) when their churn risk drops below 0.7.

select
    customer_id,
    email,
    first_name,
    plan,
    lifetime_value,
    last_order_date,
    churn_risk

from {{ ref('customer_scores') }}
where churn_risk >= 0.7
