SELECT count_if(TRY_CAST(offense_code AS INTEGER) IS NULL) AS not_numeric,
       sum(TRY_CAST(offense_code AS INTEGER)) AS code_sum
FROM {{ table('offenses') }}
