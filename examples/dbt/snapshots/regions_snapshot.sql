{% snapshot regions_snapshot %}
{{ config(
    target_schema='snapshots',
    unique_key='region',
    strategy='check',
    check_cols=['manager']
) }}
select * from {{ ref('regions') }}
{% endsnapshot %}
