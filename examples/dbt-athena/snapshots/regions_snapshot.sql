{% snapshot regions_snapshot %}
{{ config(
    target_schema='snapshots',
    unique_key='region',
    strategy='check',
    check_cols=['manager'],
    table_type='iceberg'
) }}
select * from {{ ref('regions') }}
{% endsnapshot %}
