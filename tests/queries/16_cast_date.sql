SELECT CAST(report_datetime AS DATE) AS d, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 3
