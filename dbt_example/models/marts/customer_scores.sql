-- One row per customer: what the CRM should know about them.
-- churn_risk grows linearly from 0 (active on the reference date) to 1 (inactive for 180 days
-- or more). It is measured against a fixed reference date, not current_date, so that every
-- build of this example gives the same numbers.

with customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('stg_orders') }}
    where status = 'completed'

),

order_summary as (

    select
        customer_id,
        sum(amount) as lifetime_value,
        count(*) as order_count,
        max(order_date) as last_order_date

    from orders
    group by customer_id

),

activity as (

    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.plan,
        coalesce(order_summary.lifetime_value, 0) as lifetime_value,
        coalesce(order_summary.order_count, 0) as order_count,
        order_summary.last_order_date,
        date_diff(
            'day',
            coalesce(order_summary.last_order_date, customers.signup_date),
            date '2025-06-30'
        ) as days_inactive

    from customers

    left join order_summary
        on customers.customer_id = order_summary.customer_id

)

select
    customer_id,
    email,
    first_name,
    last_name,
    plan,
    cast(lifetime_value as decimal(18, 2)) as lifetime_value,
    order_count,
    cast(last_order_date as date) as last_order_date,
    cast(round(least(1.0, greatest(0.0, days_inactive / 180.0)), 3) as double) as churn_risk,
    order_count > 0 and days_inactive <= 90 as is_active

from activity
