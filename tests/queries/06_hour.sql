SELECT hour(report_datetime) AS h, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
