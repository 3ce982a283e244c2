SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE CAST(report_datetime AS DATE) BETWEEN DATE '2024-01-01' AND DATE '2024-01-31'
