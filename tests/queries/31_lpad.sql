SELECT lpad(CAST(month(report_datetime) AS VARCHAR), 2, '0') AS mm, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
