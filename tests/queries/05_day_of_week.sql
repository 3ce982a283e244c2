SELECT day_of_week(report_datetime) AS dow, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
