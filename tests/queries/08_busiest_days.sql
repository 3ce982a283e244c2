SELECT date_trunc('day', report_datetime) AS day, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 5
