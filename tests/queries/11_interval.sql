SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE report_datetime >= TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' MONTH
