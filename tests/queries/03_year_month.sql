SELECT year(report_datetime) AS y, month(report_datetime) AS m, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1, 2
ORDER BY 1, 2
