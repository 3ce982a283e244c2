SELECT date_format(report_datetime, '%Y-%m') AS ym, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
