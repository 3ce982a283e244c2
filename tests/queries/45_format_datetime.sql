SELECT format_datetime(report_datetime, 'EEEE') AS weekday, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 3
