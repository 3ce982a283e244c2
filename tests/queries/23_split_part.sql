SELECT split_part(report_number, '-', 1) AS report_year, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
