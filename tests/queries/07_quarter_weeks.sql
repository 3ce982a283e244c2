SELECT quarter(report_datetime) AS q, count(DISTINCT week(report_datetime)) AS weeks
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
