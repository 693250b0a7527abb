with source as (

    select * from {{ ref('raw_orders') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        cast(order_date as date) as order_date,
        cast(amount as decimal(18, 2)) as amount,
        status

    from source

)

select * from renamed
